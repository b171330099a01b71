"""The delivery worker: drains the durable outbox into the messengers, retrying until delivered.

At-least-once: a message is removed from the outbox only after the messenger accepted it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

from bot.config import Clock
from bot.formatting import esc
from bot.i18n import Gettext
from bot.models import PRIORITY_STAFF, Messenger, OutboxKind, OutboxMessage
from storage.base import Storage

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 1.0


class RetryLater(Exception):
    """The messenger asked us to wait (e.g. 429 with retry_after)."""

    def __init__(self, seconds: float, reason: str = "retry later") -> None:
        super().__init__(reason)
        self.seconds = seconds


class Undeliverable(Exception):
    """The messenger refuses this message for good (blocked by the user, chat gone)."""


class Sender(Protocol):
    """Sends one outbox message to its messenger and returns the ids of the messages it made."""

    async def send(self, message: OutboxMessage) -> list[int]: ...


def backoff(attempts: int) -> float:
    """Seconds to wait after `attempts` failed tries: exponential, capped, with jitter."""
    base = min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts, 10))
    return base * random.uniform(0.5, 1.0)


class DeliveryWorker:
    """Sends due outbox messages, each chat in order, several chats at once."""

    def __init__(
        self,
        storage: Storage,
        senders: Mapping[Messenger, Sender],
        clock: Clock,
        staff_chat_id: int,
        staff_gettext: Gettext,
        concurrency: int = 8,
    ) -> None:
        self._storage = storage
        self._senders = senders
        self._clock = clock
        self._staff_chat_id = staff_chat_id
        self._staff_ = staff_gettext
        self._concurrency = concurrency
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set."""
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("delivery loop failed; retrying")
                sent = 0
            if sent:
                continue
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        due = await self._storage.next_due_at()
        delay = IDLE_POLL_SECONDS
        if due is not None:
            delay = max(0.0, min(delay, (due - self._clock()).total_seconds()))
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def run_once(self) -> int:
        """Send one round of due messages (the head of each chat); return how many were handled."""
        batch = await self._storage.claim_due(self._clock(), self._concurrency * 4)
        if not batch:
            return 0
        gate = asyncio.Semaphore(self._concurrency)

        async def one(message: OutboxMessage) -> None:
            async with gate:
                await self._deliver(message)

        await asyncio.gather(*(one(m) for m in batch))
        return len(batch)

    async def _deliver(self, message: OutboxMessage) -> None:
        sender = self._senders.get(message.messenger)
        now = self._clock()
        if sender is None:
            # A messenger not configured now (e.g. VK token removed): keep it for when it returns.
            await self._storage.mark_retry(message, now + timedelta(seconds=MAX_BACKOFF_SECONDS), "no sender")
            return
        try:
            ids = await sender.send(message)
        except RetryLater as exc:
            await self._storage.mark_retry(message, now + timedelta(seconds=exc.seconds), str(exc))
        except Undeliverable as exc:
            await self._refused(message, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox %s: attempt %d failed: %s", message.id, message.attempts + 1, type(exc).__name__)
            await self._storage.mark_retry(message, now + timedelta(seconds=backoff(message.attempts)), repr(exc))
        else:
            await self._storage.mark_sent(message, ids)

    async def _refused(self, message: OutboxMessage, reason: str) -> None:
        now = self._clock()
        if self._is_staff_chat(message):
            # The staff chat is ours: a refusal there is a configuration error to fix, never a lost report.
            log.error("staff chat refuses messages (%s); check STAFF_CHAT_ID and the bot's rights", reason)
            await self._storage.mark_retry(message, now + timedelta(seconds=MAX_BACKOFF_SECONDS), reason)
            return
        notices = []
        if message.report_id is not None:
            _ = self._staff_
            text = _("Could not deliver a message about report #{number} to the resident: {reason}").format(
                number=message.report_id, reason=reason
            )
            notices.append(
                OutboxMessage(
                    Messenger.TELEGRAM,
                    self._staff_chat_id,
                    OutboxKind.TEXT,
                    text=esc(text),
                    report_id=message.report_id,
                    priority=PRIORITY_STAFF,
                )
            )
        log.warning("outbox %s refused for good", message.id)
        await self._storage.mark_failed(message, reason, now, notices)
        self.wake()

    def _is_staff_chat(self, message: OutboxMessage) -> bool:
        return message.messenger is Messenger.TELEGRAM and message.chat_id == self._staff_chat_id
