"""The weekly summary in each staff chat: the past week's figures, their chart and the week's key problems.

Sent once a week at WEEKLY_SUMMARY_AT (a weekday and a local time), as a `SlotJob` (bot/core/slots.py) whose slot
is the week's Monday. The chart goes into the photo archive, so the delivery worker sends
it from there like any photo.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.config import Clock, CoreConfig
from bot.core.models import ChatRef
from bot.core.outbox import OutboxMessage
from bot.core.periods import Period, last_week
from bot.core.posting import Posting
from bot.core.routing import StaffRouting
from bot.core.slots import SlotJob
from bot.core.stats import Statistics
from storage.base import DeadlineStore

JOB = "weekly_summary"
# The key problems a weekly summary names.
TOP_PROBLEMS = 5


class Pictures(Protocol):
    """Where a picture is kept for the delivery worker to send (the photo archive): its digest back."""

    async def put(self, data: bytes) -> str: ...


class WeeklySummary(SlotJob):
    """Posts the past week's figures in every staff chat: the default one sees all, a department its categories."""

    job = JOB

    def __init__(
        self,
        storage: DeadlineStore,
        posting: Posting,
        routing: StaffRouting,
        config: CoreConfig,
        clock: Clock,
        on_enqueue: Callable[[], None],
        statistics: Statistics,
        pictures: Pictures | None,
    ) -> None:
        super().__init__(storage, clock, on_enqueue)
        self._posting = posting
        self._routing = routing
        self._config = config
        self._statistics = statistics
        self._pictures = pictures

    @property
    def enabled(self) -> bool:
        """Whether WEEKLY_SUMMARY_AT is set."""
        return self._config.terms.weekly_summary_at is not None

    def slot(self, now: datetime) -> str | None:
        """This week's slot (its Monday's date) once this week's summary time has come; None before it or when off."""
        when = self._config.terms.weekly_summary_at
        if when is None:
            return None
        weekday, at = when
        local = now.astimezone(self._config.tz)
        monday = local.date() - timedelta(days=local.weekday())
        due = datetime.combine(monday + timedelta(days=weekday), at, self._config.tz)
        return monday.isoformat() if local >= due else None

    def last_slot(self, now: datetime) -> str:
        """The latest slot whose time has come: this week's after the summary time, last week's before it."""
        local = now.astimezone(self._config.tz)
        monday = local.date() - timedelta(days=local.weekday())
        return self.slot(now) or (monday - timedelta(days=7)).isoformat()

    async def messages(self, now: datetime) -> list[OutboxMessage]:
        """Each staff chat's summary of the week before `now`'s week."""
        period = last_week(self._config.tz, now)
        messages: list[OutboxMessage] = []
        for chat, categories in (await self._statistics.chats()).items():
            messages += await self._chat(chat, categories, period)
        return messages

    async def _chat(self, chat: ChatRef, categories: list[int] | None, period: Period) -> list[OutboxMessage]:
        """One chat's summary: the figures, then the chart with the week's key problems as its caption."""
        _ = self._posting.staff_
        scope = await self._statistics.scope_of(period, categories, _)
        text, chart, problems = await self._statistics.summary(scope, _, TOP_PROBLEMS)
        messages = self._posting.to_staff(chat, text)
        photos = (await self._pictures.put(chart),) if self._pictures is not None else ()
        return messages + self._posting.to_staff(chat, problems, photos=photos)
