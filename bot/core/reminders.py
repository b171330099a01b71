"""Reminders of terms: when one is near (REMIND_AT of it) and when it has passed, once per term per report.

A report keeps which reminders were sent and when its next one falls due (indexed), so a look that finds nothing
costs one index probe. Each reminder is recorded as a change of its report (an event, with the messages it owes)
at the version it was read: after a restart the due ones go once, and of two processes looking at once only one
records each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.core.config import Clock
from bot.core.lifecycle import SYSTEM, Actor, Change, InvalidTransition, change
from bot.core.models import TERMS, ChatRef, EventKind, Report, Stage, Term, alert_bit
from bot.core.outbox import OutboxMessage
from bot.core.posting import Posting
from bot.core.routing import StaffRouting
from bot.core.summary import DailySummary

if TYPE_CHECKING:
    from bot.core.weekly import WeeklySummary
from bot.text.cards import term_label
from bot.text.formatting import moment
from bot.text.rich import Rich, as_rich, bold, fill, join, lines, link
from storage.base import CardIndex, Conflict, DeadlineStore, ReportStore

log = logging.getLogger(__name__)

# Reminders of one chat that fall due within this much of each other go out together, as one digest (the first
# waits for the others at most this long; none goes before its time).
GROUPING = timedelta(seconds=60)
BATCH = 200
DIGEST_MAX = 20
ATTEMPTS = 2


class Records(DeadlineStore, ReportStore, CardIndex, Protocol):
    """What reminders read and record."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One reminder: of which term, at which stage."""

    term: Term
    stage: Stage

    @property
    def code(self) -> str:
        """How it is recorded in the report's history: "answer:over"."""
        return f"{self.term.value}:{self.stage.value}"


def due(report: Report, until: datetime) -> list[Alert]:
    """The reminders of `report` due by `until` and not sent: per running term, the latest stage reached only."""
    alerts = []
    for term in TERMS:
        if not report.running(term):
            continue
        for stage in (Stage.OVER, Stage.NEAR):
            if report.dues.alert_at(term, stage) <= until:
                if not report.reminded & alert_bit(term, stage):
                    alerts.append(Alert(term, stage))
                break  # a term that has passed is not also "near"
    return alerts


def marked(report: Report, alerts: list[Alert]) -> int:
    """`report.reminded` with these reminders sent (a term that passed needs no "near" any more)."""
    bits = report.reminded
    for alert in alerts:
        bits |= alert_bit(alert.term, alert.stage)
        if alert.stage is Stage.OVER:
            bits |= alert_bit(alert.term, Stage.NEAR)
    return bits


def _ready(reports: list[Report], now: datetime) -> list[Report]:
    """The reports of one chat to remind about now: those due, unless another falls due within a minute and the
    earliest due has waited less than that (then they go together, as one digest; none goes before its time)."""
    due_now = [r for r in reports if r.next_alert_at is not None and r.next_alert_at <= now]
    if not due_now:
        return []
    coming = len(due_now) < len(reports)
    waited = now - min(r.next_alert_at for r in due_now if r.next_alert_at is not None)
    return [] if coming and waited < GROUPING else due_now


class Reminders:
    """Looks for terms that are near or have passed and tells the officials in the chat of each report's card."""

    def __init__(
        self,
        storage: Records,
        posting: Posting,
        routing: StaffRouting,
        clock: Clock,
        on_enqueue: Callable[[], None],
    ) -> None:
        self._storage = storage
        self._posting = posting
        self._routing = routing
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._ = posting.staff_

    async def look(self) -> int:
        """Send the reminders due now; how many reports were reminded about."""
        sent = 0
        seen: set[int] = set()
        while True:
            now = self._clock()
            found = [r for r in await self._storage.due_alerts(now + GROUPING, BATCH) if r.id not in seen]
            chats: dict[ChatRef, list[Report]] = defaultdict(list)
            for report in found:
                seen.add(report.id)
                chats[self._routing.chat_of(report)].append(report)
            for chat, reports in chats.items():
                ready = _ready(reports, now)
                for start in range(0, len(ready), DIGEST_MAX):
                    sent += await self._remind(chat, ready[start : start + DIGEST_MAX], now)
            if len(found) < BATCH:
                return sent

    async def _remind(self, chat: ChatRef, reports: list[Report], now: datetime) -> int:
        """Record the reminders of some reports of one chat and queue their messages, in one transaction; once more
        with fresh reads if one of them changed meanwhile (an official, another process)."""
        for attempt in range(ATTEMPTS):
            changes, outbox = await self._reminding(chat, reports, now)
            if not changes:
                return 0
            try:
                await self._storage.record(changes, outbox)
            except Conflict:
                if attempt + 1 == ATTEMPTS:
                    return 0  # the next look reads them again
                fresh = [await self._storage.get_report(r.id) for r in reports]
                reports = [r for r in fresh if r is not None]
                continue
            self._on_enqueue()
            return len(changes)
        return 0

    async def _reminding(
        self, chat: ChatRef, reports: list[Report], now: datetime
    ) -> tuple[list[Change], list[OutboxMessage]]:
        """The reminders due now of these reports of one chat: their changes and messages."""
        changes: list[Change] = []
        items: list[tuple[Report, list[Alert]]] = []
        outbox: list[OutboxMessage] = []
        for report in reports:
            alerts = due(report, now)
            if not alerts:
                continue
            codes = ",".join(a.code for a in alerts)
            try:
                step = change(
                    report, EventKind.REMINDED, Actor(SYSTEM), now, text=codes, reminded=marked(report, alerts)
                )
            except InvalidTransition:
                continue
            changes.append(step)
            items.append((step.after, alerts))
            if any(a.stage is Stage.OVER for a in alerts):
                outbox += await self._posting.card_edit(step.after, chat)  # the card shows it is overdue
        if len(items) == 1:
            report, alerts = items[0]
            outbox = self._posting.to_staff(chat, self._single(report, alerts), report.id, reply_to_card=True) + outbox
        elif items:
            outbox = self._posting.to_staff(chat, await self._digest(chat, items)) + outbox
        return changes, outbox

    def _line(self, report: Report, alert: Alert) -> Rich:
        _ = self._
        tz = self._posting.tz
        term = term_label(alert.term, _)
        at = moment(report.dues.of(alert.term), tz)
        if alert.stage is Stage.OVER:
            return fill(_("the term of {term} has passed ({due})"), term=term, due=at)
        return fill(_("the term of {term} ends at {due}"), term=term, due=at)

    def _who(self, report: Report) -> Rich:
        _ = self._
        if report.assignee_name:
            return fill(_("taken by {name}"), name=report.assignee_name)
        return as_rich(_("nobody has taken it"))

    def _single(self, report: Report, alerts: list[Alert]) -> Rich:
        _ = self._
        icon = "🔴" if any(a.stage is Stage.OVER for a in alerts) else "⏰"
        head = bold(fill(_("{icon} Report #{number}:"), icon=icon, number=report.id))
        body = join("; ", [self._line(report, a) for a in alerts])
        return lines(join(" ", [head, body]), fill(_("It is {who}."), who=self._who(report)))

    async def _digest(self, chat: ChatRef, items: list[tuple[Report, list[Alert]]]) -> Rich:
        _ = self._
        parts: list[Rich | str] = [bold(fill(_("⏰ Terms of {count} reports:"), count=len(items)))]
        for report, alerts in items:
            number: Rich | str = f"#{report.id}"
            card = await self._storage.card_of(chat, report.id)
            url = self._posting.message_url(chat, card.message_id) if card is not None else None
            if url is not None:
                number = link(f"#{report.id}", url)
            icon = "🔴" if any(a.stage is Stage.OVER for a in alerts) else "⏰"
            body = join("; ", [self._line(report, a) for a in alerts])
            parts.append(join(" ", [icon, number, "—", body, f"({self._who(report).plain})"]))
        return lines(*parts)


async def run_reminders(
    reminders: Reminders,
    summary: DailySummary | None,
    stop: asyncio.Event,
    every_seconds: float,
    weekly: WeeklySummary | None = None,
) -> None:
    """Look for due reminders (and the daily and weekly summaries) every `every_seconds` until `stop` is set.

    A failed look is logged and tried again at the next one.
    """
    while not stop.is_set():
        try:
            await reminders.look()
            if summary is not None:
                await summary.maybe_send()
            if weekly is not None:
                await weekly.maybe_send()
        except Exception as exc:  # the next look tries again; the error names no resident
            log.error("reminder look failed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_seconds)
