"""What officials do with a report: take it, answer, resolve with an "after" photo, reject.

Each action is one recorded event plus the messages it owes the resident, stored in one transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core import actions
from bot.core.compose import compose
from bot.core.config import Clock, CoreConfig
from bot.core.lifecycle import InvalidTransition, make_event
from bot.core.locks import KeyedLocks, Locks
from bot.core.models import PRIORITY_RESIDENT, Button, EventKind, Reply, Report
from bot.text.cards import history_text
from bot.text.formatting import esc
from bot.text.i18n import DEFAULT_LANGUAGE, Gettext, Locales
from storage.base import AlreadyApplied, Conflict, Storage

STAFF_TEXT_MAX = 3000
LINK_WAIT_SECONDS = 2.0
FRESH_MESSAGE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Official:
    """The official acting in the staff chat."""

    messenger: str
    user_id: int

    @property
    def author(self) -> str:
        """How the official is named in a report's history."""
        return f"staff:{self.messenger}:{self.user_id}"


class StaffDesk:
    """Officials' actions on reports, in the staff chat's language."""

    def __init__(
        self,
        storage: Storage,
        locales: Locales,
        config: CoreConfig,
        clock: Clock,
        on_enqueue: Callable[[], None],
        locks: Locks | None = None,
    ) -> None:
        self._storage = storage
        self._locales = locales
        self._config = config
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._locks: Locks = locks or KeyedLocks()
        self._ = locales.get(config.staff_language)

    async def report_for_message(self, chat_id: int, message_id: int, sent_at: datetime | None = None) -> int | None:
        """The report shown by a staff-chat message, if any.

        A card is linked to its report just after Telegram accepted it, so a reply to a card posted a moment
        ago may arrive first: for a fresh message we look again for a short while.
        """
        deadline = time.monotonic() + LINK_WAIT_SECONDS
        while True:
            report_id = await self._storage.report_for_staff_message(chat_id, message_id)
            fresh = sent_at is not None and self._clock() - sent_at < FRESH_MESSAGE
            if report_id is not None or not fresh or time.monotonic() > deadline:
                return report_id
            await asyncio.sleep(0.05)

    async def answer(
        self, report_id: int, official: Official, text: str, photos: tuple[str, ...] = (), source: str | None = None
    ) -> Reply:
        """Relay an official's answer to the resident; the first answer takes the report into work.

        `source` names the official's message: the same message relayed again (its update handled twice after a
        crash) is acknowledged, not sent to the resident a second time.
        """
        _ = self._
        text = text.strip()
        if not text and not photos:
            return Reply(_("The answer is empty. Write the text of the answer in your reply."))
        if error := self._too_long(text):
            return Reply(error)
        return await self._apply(
            report_id,
            official,
            EventKind.ANSWERED,
            text,
            lambda r, r_: _answer_text(r, r_, text),
            photos,
            lambda r: _("Answer to report #{number} sent to the resident.").format(number=r.id),
            source,
        )

    async def take(self, report_id: int, official: Official) -> Reply:
        """Take a new report into work and tell the resident."""
        _ = self._
        return await self._apply(
            report_id,
            official,
            EventKind.TAKEN,
            None,
            lambda r, r_: r_("Your report #{number} has been taken into work.").format(number=r.id),
            (),
            lambda r: _("Report #{number} is taken into work.").format(number=r.id),
        )

    async def resolve(self, report_id: int, official: Official, text: str, photos: tuple[str, ...]) -> Reply:
        """Resolve with the "after" photo; without one, ask the official to confirm first."""
        _ = self._
        text = text.strip()
        if not text:
            return Reply(_("Write what was done: /resolve TEXT, ideally as the caption of the after photo."))
        if error := self._too_long(text):
            return Reply(error)
        if not photos:
            report = await self._storage.get_report(report_id)
            if report is None:
                return Reply(_("Report #{number} does not exist.").format(number=report_id))
            if report.status.closed:
                return Reply(self._closed_text(report))
            pending = await self._storage.save_pending(report_id, official.author, text, self._clock())
            return Reply(
                _(
                    "Resolve report #{number} without an after photo? Residents trust a photo of the result more."
                ).format(number=report_id),
                (
                    (
                        Button(_("Resolve without photo"), actions.staff("rnp", pending)),
                        Button(_("Cancel"), actions.staff("rnc", pending)),
                    ),
                ),
            )
        return await self._resolve(report_id, official, text, photos)

    async def confirm_without_photo(self, pending_id: int, official: Official) -> Reply:
        """The official confirmed a resolution without a photo."""
        pending = await self._storage.take_pending(pending_id)
        if pending is None:
            return Reply(self._("This question was already answered."), alert=True)
        report_id, _author, text = pending
        return await self._resolve(report_id, official, text, ())

    async def cancel_pending(self, pending_id: int) -> Reply:
        """The official changed their mind about resolving without a photo."""
        pending = await self._storage.take_pending(pending_id)
        if pending is None:
            return Reply(self._("This question was already answered."), alert=True)
        return Reply(self._("Not resolved. Reply to the card with /resolve and an after photo."))

    async def _resolve(self, report_id: int, official: Official, text: str, photos: tuple[str, ...]) -> Reply:
        _ = self._
        return await self._apply(
            report_id,
            official,
            EventKind.RESOLVED,
            text,
            lambda r, r_: r_("Your report #{number} is resolved.").format(number=r.id) + "\n\n" + esc(text),
            photos,
            lambda r: _("Report #{number} is resolved; the resident is notified.").format(number=r.id),
        )

    async def reject(self, report_id: int, official: Official, reason: str) -> Reply:
        """Reject a report with a reason the resident will read."""
        _ = self._
        reason = reason.strip()
        if not reason:
            return Reply(_("Give the reason: /reject REASON, as a reply to the card."))
        if error := self._too_long(reason):
            return Reply(error)
        return await self._apply(
            report_id,
            official,
            EventKind.REJECTED,
            reason,
            lambda r, r_: (
                r_("Your report #{number} was rejected.").format(number=r.id)
                + "\n"
                + r_("Reason: {reason}").format(reason=esc(reason))
            ),
            (),
            lambda r: _("Report #{number} is rejected; the resident is notified.").format(number=r.id),
        )

    async def history(self, report_id: int) -> Reply:
        """The report's history for officials."""
        report = await self._storage.get_report(report_id)
        if report is None:
            return Reply(self._("Report #{number} does not exist.").format(number=report_id))
        events = await self._storage.history(report_id)
        return Reply(history_text(report, events, self._, self._config.tz))

    def hint(self, verb: str, report_id: int) -> Reply:
        """How to resolve or reject: both need text, so a button can only explain."""
        _ = self._
        if verb == "resolve":
            text = _("To resolve #{number}, reply to its card with a photo captioned /resolve WHAT WAS DONE.")
        else:
            text = _("To reject #{number}, reply to its card with /reject REASON.")
        return Reply(text.format(number=report_id), alert=True)

    def _too_long(self, text: str) -> str | None:
        if len(text) > STAFF_TEXT_MAX:
            return self._("The text is too long: {length} characters, at most {limit}.").format(
                length=len(text), limit=STAFF_TEXT_MAX
            )
        return None

    def _closed_text(self, report: Report) -> str:
        return self._("Report #{number} is already closed.").format(number=report.id)

    async def _apply(
        self,
        report_id: int,
        official: Official,
        kind: EventKind,
        event_text: str | None,
        resident_text: Callable[[Report, Gettext], str],
        photos: tuple[str, ...],
        staff_text: Callable[[Report], str],
        source: str | None = None,
    ) -> Reply:
        _ = self._
        async with self._locks.hold(f"report:{report_id}"):
            report = await self._storage.get_report(report_id)
            if report is None:
                return Reply(_("Report #{number} does not exist.").format(number=report_id))
            try:
                event = make_event(report.id, report.status, kind, official.author, self._clock(), event_text, source)
            except InvalidTransition:
                if kind is EventKind.TAKEN:
                    return Reply(_("Report #{number} is already in work.").format(number=report.id), alert=True)
                return Reply(self._closed_text(report), alert=True)
            profile = await self._storage.get_resident(report.resident)
            r_ = self._locales.get(profile.language if profile else DEFAULT_LANGUAGE)
            outbox = compose(
                report.resident.messenger,
                report.resident.user_id,
                resident_text(report, r_),
                photos,
                report_id=report.id,
                priority=PRIORITY_RESIDENT,
            )
            try:
                await self._storage.record_event(event, report, outbox)
            except AlreadyApplied:
                return Reply(staff_text(report))  # done the first time; the official sees the same acknowledgement
            except Conflict:
                # Another process changed the report between our read and write.
                return Reply(_("Report #{number} changed meanwhile; please try again.").format(number=report.id))
        self._on_enqueue()
        return Reply(staff_text(report))


def _answer_text(report: Report, _: Gettext, text: str) -> str:
    header = _("Answer to your report #{number}:").format(number=report.id)
    return f"{header}\n\n{esc(text)}" if text else header
