"""The daily summary in each staff chat: open reports, overdue ones by term, and who has taken what.

Sent once a day at DAILY_SUMMARY_AT (local time), as a `SlotJob` (bot/core/slots.py) whose slot is the local date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from bot.core.config import Clock, CoreConfig
from bot.core.models import TERMS, ChatRef
from bot.core.outbox import OutboxMessage
from bot.core.posting import Posting
from bot.core.routing import StaffRouting
from bot.core.slots import SlotJob
from bot.text.cards import term_label
from bot.text.rich import Rich, bold, fill, lines
from storage.base import DeadlineStore, OpenSummary

JOB = "daily_summary"


class DailySummary(SlotJob):
    """Posts the day's summary of open reports in every staff chat that holds some (and the default one)."""

    job = JOB

    def __init__(
        self,
        storage: DeadlineStore,
        posting: Posting,
        routing: StaffRouting,
        config: CoreConfig,
        clock: Clock,
        on_enqueue: Callable[[], None],
    ) -> None:
        super().__init__(storage, clock, on_enqueue)
        self._storage = storage
        self._posting = posting
        self._routing = routing
        self._config = config
        self._ = posting.staff_

    @property
    def enabled(self) -> bool:
        """Whether DAILY_SUMMARY_AT is set."""
        return self._config.terms.daily_summary_at is not None

    def slot(self, now: datetime) -> str | None:
        """Today's slot (the local date) once today's summary time has come; None before it, or when switched off."""
        at: time | None = self._config.terms.daily_summary_at
        if at is None:
            return None
        local = now.astimezone(self._config.tz)
        return local.date().isoformat() if local.time() >= at else None

    def last_slot(self, now: datetime) -> str:
        """The latest slot whose time has come: today's after the summary time, yesterday's before it."""
        local = now.astimezone(self._config.tz)
        return self.slot(now) or (local.date() - timedelta(days=1)).isoformat()

    async def messages(self, now: datetime) -> list[OutboxMessage]:
        """The summary of each staff chat, as it stands at `now`."""
        per_chat: dict[ChatRef, list[OpenSummary]] = {self._routing.default_chat: []}
        for summary in await self._storage.open_summaries(now):
            chat = self._routing.follow(summary.chat) if summary.chat is not None else self._routing.default_chat
            per_chat.setdefault(chat, []).append(summary)
        messages: list[OutboxMessage] = []
        for chat, parts in per_chat.items():
            messages += self._posting.to_staff(chat, self.text(parts, now))
        return messages

    def text(self, parts: list[OpenSummary], now: datetime) -> Rich:
        """One chat's summary (`parts`: its open reports, possibly split over ids the chat had)."""
        _ = self._
        total = sum(p.open for p in parts)
        date = now.astimezone(self._config.tz).strftime("%d.%m.%Y")
        head = bold(fill(_("Summary for {date}"), date=date))
        if total == 0:
            return lines(head, _("No open reports."))
        overdue = {term: sum(p.overdue[term] for p in parts) for term in TERMS}
        taken: dict[str, int] = {}
        for part in parts:
            for name, count in part.taken:
                taken[name] = taken.get(name, 0) + count
        body: list[Rich | str] = [
            head,
            fill(
                _("Open reports: {open}, not taken into work: {not_taken}"),
                open=total,
                not_taken=sum(p.not_taken for p in parts),
            ),
        ]
        late = [fill(_("{term}: {count}"), term=term_label(t, _), count=overdue[t]) for t in TERMS if overdue[t]]
        if late:
            body.append(bold(fill(_("Overdue — {terms}"), terms=", ".join(r.plain for r in late))))
        else:
            body.append(_("Nothing is overdue."))
        if taken:
            body.append(_("In work:"))
            body += [f"• {name}: {count}" for name, count in sorted(taken.items(), key=lambda kv: (-kv[1], kv[0]))]
        return lines(*body)
