"""Where every Telegram update enters, from the webhook or the poller: residents' steps to their lane, the rest to
aiogram's dispatcher (staff chats, administrators' commands, other chats)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError

from handlers.telegram.calls import Call
from handlers.telegram.keyboards import Answer
from handlers.telegram.resident import ResidentLane, resident_step
from handlers.telegram.updates import TgUpdate

log = logging.getLogger(__name__)

LANE_UPDATES = ("message", "edited_message", "callback_query")


class Unreadable(Exception):
    """An update neither the residents' lane nor aiogram can read: skipped, never retried."""


class TelegramIntake:
    """Hands each update to the residents' lane or to aiogram's dispatcher, and returns the update's answer."""

    def __init__(self, bot: Bot, dispatcher: Dispatcher, residents: ResidentLane) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self._residents = residents

    def allowed_updates(self) -> list[str]:
        """The update kinds to ask Telegram for."""
        return sorted({*LANE_UPDATES, *self.dispatcher.resolve_used_update_types()})

    async def feed_json(self, body: bytes | str) -> Answer:
        """Handle an update given as Telegram's JSON (a webhook body); raise Unreadable if it cannot be read.

        A failure of the handling is logged (by update id) and raised, so the transport has the update sent again.
        """
        return await self._feed(
            lambda: TgUpdate.model_validate_json(body),
            lambda: Update.model_validate_json(body, context={"bot": self.bot}),
            in_answer=True,
        )

    async def feed(self, raw: dict[str, Any]) -> Answer:
        """Handle an update given as decoded JSON (from getUpdates); raise Unreadable if it cannot be read."""
        return await self._feed(
            lambda: TgUpdate.model_validate(raw),
            lambda: Update.model_validate(raw, context={"bot": self.bot}),
            in_answer=False,
        )

    async def _feed(self, slim: Callable[[], TgUpdate], full: Callable[[], Update], in_answer: bool) -> Answer:
        try:
            update: TgUpdate | None = slim()
        except ValidationError:
            update = None  # not a resident's step, or one aiogram may still read
        if update is not None and resident_step(update):
            update_id, step = update.update_id, self._residents.handle(update, in_answer)
        else:
            try:
                whole = full()
            except ValidationError:
                raise Unreadable from None
            update_id, step = whole.update_id, self.dispatcher.feed_update(self.bot, whole)
        try:
            result = await step
        except Exception:
            # By its id only: the update's text is a resident's.
            log.exception("update %s failed", update_id)
            raise
        return result if isinstance(result, Call) else None
