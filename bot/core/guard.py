"""Abuse kept out: per-resident limits (messages a minute, reports a day) and bans by officials.

Counters and bans live in the database, never only in memory, so a restart or a second process forgets nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Protocol

from bot.core.config import Clock, Limits
from bot.core.lifecycle import Actor, Change, InvalidTransition, change
from bot.core.models import Ban, EventKind, Official, Report, ResidentRef
from bot.core.posting import Posting
from bot.core.replies import Reply, say
from bot.core.routing import StaffRouting
from bot.text.i18n import Gettext, mark
from bot.text.rich import fill
from storage.base import CardIndex, Conflict, GuardStore, OutboxStore, PrivacyStore

ATTEMPTS = 3


class Door(Enum):
    """What becomes of a resident's message at the door."""

    IN = "in"
    # Over the minute's limit: the first message over it is told so, the rest get nothing.
    TOO_FAST = "too_fast"
    SILENT = "silent"
    # Banned: told once, then nothing.
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class Gatekeeper:
    """Counts each resident's messages and checks bans, before the dialog sees them."""

    storage: GuardStore
    limits: Limits
    clock: Clock

    async def admit(self, ref: ResidentRef) -> Door:
        """Whether this message of the resident goes in (one database round trip)."""
        minute = int(self.clock().timestamp() // 60)
        gate = await self.storage.gate(ref, minute)
        if gate.banned:
            return Door.BANNED if gate.first_notice else Door.SILENT
        limit = self.limits.messages_per_minute
        if limit and gate.count > limit:
            return Door.TOO_FAST if gate.count == limit + 1 else Door.SILENT
        return Door.IN

    async def may_file(self, ref: ResidentRef) -> bool:
        """Whether the resident may send one more report today (in the last 24 hours)."""
        limit = self.limits.reports_per_day
        if not limit:
            return True
        return await self.storage.reports_since(ref, self.clock() - timedelta(days=1)) < limit


class Records(GuardStore, PrivacyStore, CardIndex, OutboxStore, Protocol):
    """What bans read and write."""


class Bans:
    """Officials' /ban and /unban: the resident of a report is kept out (or let in), and their open cards say so."""

    def __init__(
        self,
        storage: Records,
        posting: Posting,
        routing: StaffRouting,
        clock: Clock,
        on_enqueue: Callable[[], None],
        staff_: Gettext,
    ) -> None:
        self._storage = storage
        self._posting = posting
        self._routing = routing
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._ = staff_

    async def _events(self, resident: ResidentRef, kind: EventKind, actor: Actor) -> list[Change]:
        """The event on each of the resident's open reports."""
        now = self._clock()
        changes: list[Change] = []
        for report in await self._storage.reports_of(resident):
            if report.status.open:
                with contextlib.suppress(InvalidTransition):
                    changes.append(change(report, kind, actor, now))
        return changes

    async def ban(self, report: Report, official: Official) -> Reply:
        """Ban the report's resident (on the messenger they wrote it from)."""
        return await self._set(report, official, True)

    async def unban(self, report: Report, official: Official) -> Reply:
        """Lift the ban of the report's resident."""
        return await self._set(report, official, False)

    async def _set(self, report: Report, official: Official, banned: bool) -> Reply:
        """Ban or let in, recorded on the resident's open reports; their cards are edited once it is stored."""
        if report.anonymous:
            return self._nobody(report)
        actor = Actor(official.author, official.name)
        kind = EventKind.BANNED if banned else EventKind.UNBANNED
        for _attempt in range(ATTEMPTS):
            changes = await self._events(report.resident, kind, actor)
            record = Ban(report.resident, self._clock(), official.author, official.name, report.id) if banned else None
            try:
                done = await self._storage.set_ban(report.resident, record, changes)
            except Conflict:
                continue  # one of their reports changed meanwhile
            if not done:
                text = mark("The resident of report #{number} is already banned.")
                if not banned:
                    text = mark("The resident of report #{number} is not banned.")
            else:
                await self._refresh(changes)
                text = mark("The ban of the resident of report #{number} is lifted.")
                if banned:
                    text = mark(
                        "The resident of report #{number} is banned: their messages create nothing and reach no one."
                        " /unban {number} lifts it."
                    )
            return say(fill(self._(text), number=report.id))
        return self._busy(report)

    def _nobody(self, report: Report) -> Reply:
        text = self._("The resident of report #{number} erased their personal data: there is nobody to ban.")
        return say(fill(text, number=report.id))

    def _busy(self, report: Report) -> Reply:
        return say(fill(self._("Report #{number} changed meanwhile; please try again."), number=report.id))

    async def _refresh(self, changes: list[Change]) -> None:
        """Edit the open cards of the resident, now that the ban is stored (the card reads it)."""
        outbox = await self._posting.posted_card_edits(step.after for step in changes)
        if outbox:
            await self._storage.enqueue(outbox)
            self._on_enqueue()
