"""The weekly summary in each staff chat: the past week's figures, their chart and the week's key problems.

Sent once a week at WEEKLY_SUMMARY_AT (a weekday and a local time), or at the first look after it if the bot was
down then (a new database starts with the next one); the week is claimed in storage with the messages, so several
processes (or a restart) never send it twice. The chart goes into the photo archive, so the delivery worker sends
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
from bot.core.stats import Statistics
from storage.base import DeadlineStore

JOB = "weekly_summary"
# The key problems a weekly summary names.
TOP_PROBLEMS = 5


class Pictures(Protocol):
    """Where a picture is kept for the delivery worker to send (the photo archive): its digest back."""

    async def put(self, data: bytes) -> str: ...


class WeeklySummary:
    """Posts the past week's figures in every staff chat: the default one sees all, a department its categories."""

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
        self._storage = storage
        self._posting = posting
        self._routing = routing
        self._config = config
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._statistics = statistics
        self._pictures = pictures
        self._done: str | None = None
        self._started = False

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

    async def maybe_send(self) -> bool:
        """Send this week's summaries if their time has come and no process has sent them yet."""
        now = self._clock()
        if self._config.terms.weekly_summary_at is None:
            return False
        if not self._started:
            # A new deployment starts counting now: its first summary comes at the next summary time, not at start.
            # Known done (here or by another process): not composed again only to be refused by `claim_slot`.
            self._done = await self._storage.start_slots(JOB, self.last_slot(now))
            self._started = True
        slot = self.slot(now)
        if slot is None or (self._done is not None and slot <= self._done):
            return False
        messages = await self.messages(now)
        sent = await self._storage.claim_slot(JOB, slot, messages)
        self._done = slot
        if sent:
            self._on_enqueue()
        return sent

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
