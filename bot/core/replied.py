"""The message someone replies to, and the report it shows.

A message is linked to its report just after the messenger accepted it, so a reply to a message sent a moment ago
may arrive first: for a fresh message the link is looked for again for a short while.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.config import Clock
from bot.core.models import ChatRef
from storage.base import CardIndex

LINK_WAIT_SECONDS = 2.0
FRESH_MESSAGE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Replied:
    """The message a message replies to: its id, whether the bot sent it, and when (if the messenger says)."""

    message_id: int
    from_bot: bool = True
    sent_at: datetime | None = None


async def report_of(links: CardIndex, chat: ChatRef, replied: Replied, clock: Clock) -> int | None:
    """The report the replied message of the bot's shows, if it shows one."""
    deadline = time.monotonic() + LINK_WAIT_SECONDS
    while True:
        report_id = await links.report_for_message(chat, replied.message_id)
        fresh = replied.sent_at is not None and clock() - replied.sent_at < FRESH_MESSAGE
        if report_id is not None or not fresh or time.monotonic() > deadline:
            return report_id
        await asyncio.sleep(0.05)
