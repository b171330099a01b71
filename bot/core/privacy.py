"""Residents' personal data by the law (152-FZ): the notice and consent, erasure at the resident's request, and
erasure after the retention period.

An erased report keeps its category, text, place, times and history for statistics; it loses its resident's name
and messenger id (`ResidentRef.erased`), its resident's photos, and every link to the resident's chat. Every erasure
is a recorded event of the report, so statistics and history show it happened, not who it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.config import Clock, CoreConfig
from bot.core.lifecycle import SYSTEM, Actor, Change, InvalidTransition, change
from bot.core.locks import Locks
from bot.core.models import EventKind, Report, ResidentRef
from bot.core.posting import Posting
from bot.core.routing import StaffRouting
from bot.text.formatting import moment
from bot.text.i18n import Gettext
from bot.text.rich import Rich, bold, fill, lines
from storage.base import CardIndex, Conflict, DraftStore, PrivacyStore

log = logging.getLogger(__name__)

RESIDENT = "resident"
"""The author an erased resident's events keep: "the resident", never who."""
ATTEMPTS = 3
RETENTION_BATCH = 200


class PhotoEraser(Protocol):
    """Where archived photos are deleted from."""

    async def erase(self, digests: Sequence[str]) -> None: ...


class Records(PrivacyStore, CardIndex, Protocol):
    """What privacy reads and writes."""


class Privacy:
    """The notice, consent, `/forget` and the retention job."""

    def __init__(
        self,
        storage: Records,
        drafts: DraftStore,
        posting: Posting,
        routing: StaffRouting,
        config: CoreConfig,
        clock: Clock,
        report_locks: Locks,
        on_enqueue: Callable[[], None],
        photos: PhotoEraser | None = None,
    ) -> None:
        self._storage = storage
        self._drafts = drafts
        self._posting = posting
        self._routing = routing
        self._terms = config.privacy
        self._tz = config.tz
        self._clock = clock
        self._locks = report_locks
        self._on_enqueue = on_enqueue
        self._photos = photos

    # The notice and consent

    def notice(self, _: Gettext) -> Rich:
        """The personal-data notice: who the operator is, the purpose, what is kept, for how long, how to withdraw."""
        terms = self._terms
        operator = terms.operator_name or _("the administration that runs this reception office")
        parts: list[Rich | str] = [
            bold(_("Personal data")),
            fill(
                _(
                    "{operator} processes your personal data to handle your reports, as Federal Law No. 152-FZ"
                    " \u201cOn Personal Data\u201d requires: with your consent, only what is needed, and only for"
                    " this purpose."
                ),
                operator=operator,
            ),
            _(
                "What is kept: your name as the messenger shows it and your messenger id (to send you answers), your"
                " language, and your reports: text, place and photos (photos without their metadata, such as the"
                " camera's position)."
            ),
            fill(
                _(
                    "For how long: until {days} days after your report is closed; then your name and id are erased,"
                    " and the report stays without them, for statistics."
                ),
                days=terms.retention_days,
            ),
            _("To withdraw: /forget erases your personal data at any time. /privacy shows this notice again."),
        ]
        if terms.operator_contact:
            parts.append(fill(_("Operator's contact: {contact}"), contact=terms.operator_contact))
        return lines(*(p for part in parts for p in (part, "")))

    async def consented_at(self, ref: ResidentRef) -> datetime | None:
        """When the resident agreed to the current notice; None if they have not (or agreed to an older one)."""
        consent = await self._storage.consent(ref)
        if consent is None or consent[0] < self._terms.notice_version:
            return None
        return consent[1]

    @property
    def version(self) -> int:
        """The current notice's version (what a consent given now is to)."""
        return self._terms.notice_version

    async def agree(self, ref: ResidentRef) -> None:
        """Record the resident's consent to the current notice, with its time."""
        await self._storage.save_consent(ref, self._terms.notice_version, self._clock())

    def agreed_text(self, at: datetime, _: Gettext) -> Rich:
        """When the resident agreed, for /privacy."""
        return fill(_("You agreed on {date}."), date=moment(at, self._tz))

    # Erasure

    @contextlib.asynccontextmanager
    async def _holding(self, reports: Sequence[Report]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for report_id in sorted({r.id for r in reports}):
                await stack.enter_async_context(self._locks.hold(f"report:{report_id}"))
            yield

    def _erasing(self, report: Report, kind: EventKind, actor: Actor, at: datetime) -> Change | None:
        try:
            step = change(report, kind, actor, at, resident=report.resident.erased(), resident_name="")
        except InvalidTransition:
            return None  # a report never sent (cannot happen for stored reports)
        # The report's own photos go too (`change`'s `photos` are the event's).
        return Change(step.before, dataclasses.replace(step.after, photos=()), step.events)

    async def forget(self, ref: ResidentRef) -> None:
        """Erase everything kept about the resident; their reports stay, anonymised, and their cards say so."""
        for _attempt in range(ATTEMPTS):
            reports = await self._storage.reports_of(ref)
            async with self._holding(reports):
                reports = await self._storage.reports_of(ref)
                now = self._clock()
                changes = [
                    c for r in reports if (c := self._erasing(r, EventKind.CONSENT_WITHDRAWN, Actor(RESIDENT), now))
                ]
                outbox = await self._posting.posted_card_edits(step.after for step in changes)
                try:
                    freed = await self._storage.anonymise(changes, outbox, forget=ref)
                except Conflict:
                    continue
            break
        else:
            raise Conflict(ref.key)
        await self._drafts.delete_draft(ref)  # the dialog's own store (Redis when scaled out)
        await self._erase_photos(freed)
        if changes:
            self._on_enqueue()
        log.info("a resident's personal data erased at their request (%d reports anonymised)", len(changes))

    async def expire(self) -> int:
        """Erase the residents of reports closed longer than the retention period ago; how many were erased."""
        cutoff = self._clock() - timedelta(days=self._terms.retention_days)
        total = 0
        while reports := await self._storage.closed_before(cutoff, RETENTION_BATCH):
            async with self._holding(reports):
                now = self._clock()
                changes = [c for r in reports if (c := self._erasing(r, EventKind.ANONYMISED, Actor(SYSTEM), now))]
                try:
                    freed = await self._storage.anonymise(changes)
                except Conflict:
                    break  # one changed since it was read: the next run reads them again
            await self._erase_photos(freed)
            total += len(changes)
            if len(reports) < RETENTION_BATCH:
                break
        if total:
            log.info("personal data of %d closed reports erased after the retention period", total)
        return total

    async def _erase_photos(self, digests: Sequence[str]) -> None:
        if self._photos is not None and digests:
            await self._photos.erase(digests)


async def run_retention(privacy: Privacy, stop: asyncio.Event, every_seconds: float) -> None:
    """Erase expired personal data now and then, until `stop` is set; a failed run is logged and tried again."""
    while not stop.is_set():
        try:
            await privacy.expire()
        except Exception as exc:  # the next run tries again; the error names no resident
            log.error("retention run failed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_seconds)
