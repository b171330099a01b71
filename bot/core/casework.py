"""What happens to a report: officials take, answer, resolve, reject, reopen, move and link duplicates; residents add.

Each action is one change made through the lifecycle (bot/core/lifecycle.py), recorded with the messages it owes
(the resident's, the card's edit, the duplicates' residents') in one transaction, under the report's lock.
Who may act on which report is decided before (bot/core/desk.py); here, what the report's state allows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core import actions
from bot.core.config import Clock, CoreConfig
from bot.core.deadlines import Deadlines
from bot.core.lifecycle import Actor, Change, InvalidTransition, change
from bot.core.locks import Locks
from bot.core.models import (
    Button,
    Buttons,
    ChatRef,
    EventKind,
    Official,
    Report,
    ResidentProfile,
    Status,
    Verdict,
)
from bot.core.outbox import OutboxMessage
from bot.core.posting import Posting
from bot.core.replies import Reply, say
from bot.core.routing import StaffRouting
from bot.text.cards import history_text
from bot.text.formatting import moment
from bot.text.i18n import Gettext, mark
from bot.text.labels import category_name
from bot.text.rich import Rich, RichLike, as_rich, bold, fill, lines
from storage.base import AlreadyApplied, Conflict, Pending, Storage

STAFF_TEXT_MAX = 3000
ATTEMPTS = 3


class Refused(Exception):
    """The action cannot be done; the message says why (shown to whoever asked)."""

    def __init__(self, text: Rich | str) -> None:
        super().__init__("refused")
        self.text = as_rich(text)


@dataclass
class Outcome:
    """What an action records and owes, and what the official sees."""

    changes: list[Change]
    outbox: list[OutboxMessage]
    reply: Rich


def _card_changed(before: Report, after: Report) -> bool:
    """Whether the card shows anything different (an answer to an open report in work changes nothing there)."""
    shown = (
        "status",
        "assignee_name",
        "follow_ups",
        "duplicate_of",
        "category_id",
        "dues",
        "staff_chat",
        "taken_at",
        "verdict",
        "rating",
    )
    return any(getattr(before, f) != getattr(after, f) for f in shown)


class Casework:
    """The actions on reports, in the staff chat's language for officials and each resident's for residents."""

    def __init__(
        self,
        storage: Storage,
        posting: Posting,
        routing: StaffRouting,
        config: CoreConfig,
        clock: Clock,
        locks: Locks,
        on_enqueue: Callable[[], None],
        deadlines: Deadlines,
    ) -> None:
        self._storage = storage
        self._posting = posting
        self._routing = routing
        self._config = config
        self._clock = clock
        self._locks = locks
        self._on_enqueue = on_enqueue
        self._ = posting.staff_
        self._deadlines = deadlines

    # Shared steps

    async def _restart(self, report: Report, now: datetime) -> dict[str, Any]:
        """The fields that start a reopened report's terms again from `now`, by its category's terms."""
        category = await self._storage.get_category(report.category_id)
        return self._deadlines.restart(category, now) if category is not None else {}

    @contextlib.asynccontextmanager
    async def _holding(self, *report_ids: int) -> AsyncIterator[None]:
        """Hold the reports' locks, in number order (two actions on the same pair never wait for each other)."""
        async with contextlib.AsyncExitStack() as stack:
            for report_id in sorted(set(report_ids)):
                await stack.enter_async_context(self._locks.hold(f"report:{report_id}"))
            yield

    async def _run(self, report_id: int, act: Callable[[Report], Awaitable[Outcome]], *also: int) -> Reply:
        """Read the report, let `act` decide, record what it decided; again if another change won the race."""
        _ = self._
        async with self._holding(report_id, *also):
            for _attempt in range(ATTEMPTS):
                report = await self._storage.get_report(report_id)
                if report is None:
                    return Reply(fill(_("Report #{number} does not exist."), number=report_id), alert=True)
                try:
                    outcome = await act(report)
                except Refused as refused:
                    return Reply(refused.text, alert=True)
                except InvalidTransition:
                    return Reply(self.closed_text(report), alert=True)
                try:
                    await self._storage.record(outcome.changes, outcome.outbox)
                except AlreadyApplied:
                    return Reply(outcome.reply)  # done the first time; the official sees the same acknowledgement
                except Conflict:
                    continue  # another process changed it between our read and write: decide again
                self._on_enqueue()
                return Reply(outcome.reply)
        return Reply(fill(_("Report #{number} changed meanwhile; please try again."), number=report_id), alert=True)

    def closed_text(self, report: Report) -> Rich:
        """Why a closed report takes no more work, naming its state."""
        _ = self._
        if report.status is Status.RESOLVED:
            return fill(_("Report #{number} is already resolved."), number=report.id)
        if report.status is Status.REJECTED:
            return fill(_("Report #{number} is already rejected."), number=report.id)
        return fill(
            _("Report #{number} is already closed as a duplicate of #{original}."),
            number=report.id,
            original=report.duplicate_of or "?",
        )

    def _must_be_open(self, report: Report) -> None:
        if not report.status.open:
            raise Refused(self.closed_text(report))

    def _too_long(self, text: str) -> Reply | None:
        if len(text) <= STAFF_TEXT_MAX:
            return None
        return Reply(
            fill(
                self._("The text is too long: {length} characters, at most {limit}."),
                length=len(text),
                limit=STAFF_TEXT_MAX,
            )
        )

    def _told(self, report: Report, told: str) -> Rich:
        """The official's acknowledgement (`told`, a catalog text), or that nobody reads it: the resident erased
        their data."""
        if report.anonymous:
            text = self._("Report #{number}: recorded. The resident withdrew consent, so it goes to no one.")
            return fill(text, number=report.id)
        return fill(self._(told), number=report.id)

    async def _edit(self, before: Report, after: Report) -> list[OutboxMessage]:
        """The card's edit, if the card would show anything different."""
        return await self._posting.card_edit(after) if _card_changed(before, after) else []

    def _about_button(self, report: Report) -> Callable[[Gettext], Buttons]:
        def buttons(r_: Gettext) -> Buttons:
            label = fill(r_("Write to the officials about #{number}"), number=report.id).plain
            return ((Button(label, actions.about(report.id)),),)

        return buttons

    def _verdict_buttons(self, report: Report) -> Callable[[Gettext], Buttons]:
        def buttons(r_: Gettext) -> Buttons:
            return (
                (
                    Button(r_("✅ Yes, it is fixed"), actions.verdict(report.id, True)),
                    Button(r_("❌ No, it is not fixed"), actions.verdict(report.id, False)),
                ),
                tuple(Button(str(n), actions.rate(report.id, n)) for n in range(1, 6)),
            )

        return buttons

    async def _news(
        self,
        report: Report,
        own: str,
        covering: str,
        rest: Callable[[Gettext], list[RichLike]],
        photos: tuple[str, ...] = (),
        own_buttons: Callable[[Gettext], Buttons] | None = None,
        own_rest: Callable[[Gettext], list[RichLike]] | None = None,
    ) -> list[OutboxMessage]:
        """News of the report for its resident and for each resident whose report waits on it as a duplicate.

        `own` and `covering` are catalog texts (marked, translated here in each reader's language): the headline for
        the report's resident ({number}) and for a duplicate's ({original}, {number}); `rest` the lines under it.
        Each message carries the button to write back about the reader's own report (`own_buttons` instead, and
        `own_rest` under the rest, for the report's own resident).
        """

        def message(reader: Report) -> Callable[[Gettext], Rich]:
            def render(r_: Gettext) -> Rich:
                if reader.id == report.id:
                    header = fill(r_(own), number=report.id)
                    return lines(header, *rest(r_), *(own_rest(r_) if own_rest else []))
                header = fill(r_(covering), original=report.id, number=reader.id)
                return lines(header, *rest(r_))

            return render

        buttons = own_buttons or self._about_button(report)
        messages = await self._posting.to_resident(report, message(report), photos, buttons)
        told = {report.resident}
        for duplicate in await self._storage.duplicates_of(report.id):
            if duplicate.resident not in told:
                told.add(duplicate.resident)
                messages += await self._posting.to_resident(
                    duplicate, message(duplicate), photos, self._about_button(duplicate)
                )
        return messages

    # Officials' actions

    async def take(self, report_id: int, official: Official) -> Reply:
        """Take the report into work (assigned to the official), or over from another official."""
        _ = self._
        actor = Actor(official.author, official.name)

        async def act(report: Report) -> Outcome:
            self._must_be_open(report)
            if report.assignee == official.author:
                raise Refused(fill(_("Report #{number} is already yours."), number=report.id))
            now = self._clock()
            fields: dict[str, Any] = {"assignee": official.author, "assignee_name": official.name}
            outbox: list[OutboxMessage] = []
            if report.status is Status.IN_PROGRESS and report.assignee is not None:
                step = change(report, EventKind.REASSIGNED, actor, now, text=report.assignee_name, **fields)
                reply = fill(
                    _("Report #{number} is now with {name} (it was with {previous})."),
                    number=report.id,
                    name=official.name,
                    previous=report.assignee_name or "?",
                )
            else:
                step = change(report, EventKind.TAKEN, actor, now, **fields)
                if report.status is not Status.IN_PROGRESS:  # an answered report was already "in work" for them
                    outbox += await self._posting.to_resident(
                        report,
                        lambda r_: fill(r_("Your report #{number} has been taken into work."), number=report.id),
                    )
                reply = fill(_("Report #{number} is taken into work by {name}."), number=report.id, name=official.name)
            outbox += await self._edit(report, step.after)
            return Outcome([step], outbox, reply)

        return await self._run(report_id, act)

    async def answer(
        self, report_id: int, official: Official, text: str, photos: tuple[str, ...] = (), source: str | None = None
    ) -> Reply:
        """Relay an official's answer to the resident (and to its duplicates' residents); the first takes it into work.

        `source` names the official's message: the same message relayed again (its update handled twice after a
        crash) is acknowledged, not sent to the resident a second time.
        """
        _ = self._
        text = text.strip()
        if not text and not photos:
            return say(_("The answer is empty. Write the text of the answer in your reply."))
        if error := self._too_long(text):
            return error
        actor = Actor(official.author, official.name)

        async def act(report: Report) -> Outcome:
            fields: dict[str, Any] = {}
            if report.status.open and report.assignee is None:
                fields = {"assignee": official.author, "assignee_name": official.name}
            step = change(
                report, EventKind.ANSWERED, actor, self._clock(), text=text, source=source, photos=photos, **fields
            )

            outbox = await self._news(
                report,
                mark("Answer to your report #{number}:"),
                mark("Answer to report #{original}, which covers your report #{number}:"),
                lambda r_: ["", text] if text else [],
                photos,
            )
            outbox += await self._edit(report, step.after)
            reply = self._told(report, mark("Answer to report #{number} sent to the resident."))
            return Outcome([step], outbox, reply)

        return await self._run(report_id, act)

    async def resolve(
        self, report_id: int, official: Official, text: str, photos: tuple[str, ...], chat: ChatRef
    ) -> Reply:
        """Resolve with the "after" photo; without one, ask the official to confirm first."""
        _ = self._
        text = text.strip()
        if not text:
            return say(_("Write what was done: /resolve TEXT, ideally as the caption of the after photo."))
        if error := self._too_long(text):
            return error
        if not photos:
            report = await self._storage.get_report(report_id)
            if report is None:
                return Reply(fill(_("Report #{number} does not exist."), number=report_id))
            if not report.status.open:
                return Reply(self.closed_text(report))
            pending = Pending(report_id, chat, official.author, official.name, text)
            pending_id = await self._storage.save_pending(pending, self._clock())
            return Reply(
                fill(
                    _("Resolve report #{number} without an after photo? Residents trust a photo of the result more."),
                    number=report_id,
                ),
                (
                    (
                        Button(_("Resolve without photo"), actions.staff("rnp", pending_id)),
                        Button(_("Cancel"), actions.staff("rnc", pending_id)),
                    ),
                ),
            )
        return await self._resolve(report_id, Actor(official.author, official.name), text, photos)

    async def resolve_pending(self, pending: Pending, official: Official) -> Reply:
        """The official confirmed a resolution without a photo."""
        return await self._resolve(pending.report_id, Actor(official.author, official.name), pending.text, ())

    async def _resolve(self, report_id: int, actor: Actor, text: str, photos: tuple[str, ...]) -> Reply:
        _ = self._

        async def act(report: Report) -> Outcome:
            self._must_be_open(report)
            resolved: dict[str, Any] = {"verdict": None, "rating": None}
            step = change(report, EventKind.RESOLVED, actor, self._clock(), text=text, photos=photos, **resolved)
            outbox = await self._news(
                report,
                mark("Your report #{number} is resolved."),
                mark("Report #{original}, which covers your report #{number}, is resolved."),
                lambda r_: ["", text],
                photos,
                own_buttons=self._verdict_buttons(report),
                own_rest=lambda r_: [
                    "",
                    fill(
                        r_(
                            "Is the problem really fixed? Tell us with a button below (within {days} days), and rate"
                            " the answer from 1 to 5."
                        ),
                        days=self._config.terms.reopen_days,
                    ),
                ],
            )
            outbox += await self._edit(report, step.after)
            reply = self._told(report, mark("Report #{number} is resolved; the resident is notified."))
            return Outcome([step], outbox, reply)

        return await self._run(report_id, act)

    async def reject(self, report_id: int, official: Official, reason: str) -> Reply:
        """Reject a report with a reason the resident (and its duplicates' residents) will read."""
        _ = self._
        reason = reason.strip()
        if not reason:
            return say(_("Give the reason: /reject REASON, as a reply to the card."))
        if error := self._too_long(reason):
            return error
        actor = Actor(official.author, official.name)

        async def act(report: Report) -> Outcome:
            self._must_be_open(report)
            step = change(report, EventKind.REJECTED, actor, self._clock(), text=reason)
            outbox = await self._news(
                report,
                mark("Your report #{number} was rejected."),
                mark("Report #{original}, which covers your report #{number}, was rejected."),
                lambda r_: [fill(r_("Reason: {reason}"), reason=reason)],
            )
            outbox += await self._edit(report, step.after)
            reply = self._told(report, mark("Report #{number} is rejected; the resident is notified."))
            return Outcome([step], outbox, reply)

        return await self._run(report_id, act)

    async def reopen(self, report_id: int, official: Official, text: str = "") -> Reply:
        """Reopen a resolved, rejected or duplicate report: it gets its open buttons back; the resident is told."""
        _ = self._
        actor = Actor(official.author, official.name)

        async def act(report: Report) -> Outcome:
            if not report.status.closed:
                raise Refused(fill(_("Report #{number} is open; there is nothing to reopen."), number=report.id))
            original = report.duplicate_of
            now = self._clock()
            restart = await self._restart(report, now)
            step = change(
                report, EventKind.REOPENED, actor, now, text=text.strip() or None, duplicate_of=None, **restart
            )
            outbox = await self._posting.to_resident(
                report,
                lambda r_: fill(
                    r_("Your report #{number} is reopened: the officials will look at it again."), number=report.id
                ),
            )
            outbox += await self._edit(report, step.after)
            if original is not None and (covering := await self._storage.get_report(original)) is not None:
                waiting = len([d for d in await self._storage.duplicates_of(original) if d.id != report.id])
                outbox += await self._posting.card_edit(covering, waiting=waiting)
            reply = fill(_("Report #{number} is reopened; the resident is notified."), number=report.id)
            return Outcome([step], outbox, reply)

        return await self._run(report_id, act)

    async def move(self, report_id: int, official: Official, category_id: int) -> Reply:
        """Change the report's category; into a department chat, its card goes there and the old one says where."""
        _ = self._
        actor = Actor(official.author, official.name)

        async def act(report: Report) -> Outcome:
            self._must_be_open(report)
            category = await self._storage.get_category(category_id)
            if category is None:
                raise Refused(_("There is no category with this number. See /categories."))
            if category.id == report.category_id:
                raise Refused(
                    fill(
                        _("Report #{number} is already in {category}."),
                        number=report.id,
                        category=category_name(category, _),
                    )
                )
            old = await self._storage.get_category(report.category_id)
            terms = self._deadlines.move(report, category)
            due = terms["dues"].answer
            old_chat, new_chat = self._routing.chat_of(report), self._routing.chat_for(category)
            step = change(
                report,
                EventKind.MOVED,
                actor,
                self._clock(),
                text=f"{category_name(old, _)} → {category_name(category, _)}",
                category_id=category.id,
                staff_chat=new_chat,
                **terms,
            )
            parts: list[Rich | str] = [
                fill(_("Report #{number} moved to {category}."), number=report.id, category=category_name(category, _))
            ]
            if new_chat != old_chat:
                outbox = await self._posting.card_edit(step.after, old_chat, moved_to=category.id)
                outbox += await self._posting.new_card(step.after, new_chat)
                parts.append(_("Its card is now in that category's chat."))
            else:
                outbox = await self._posting.card_edit(step.after)
            if due != report.answer_due_at:
                now = self._clock()

                def told(r_: Gettext) -> Rich:
                    return fill(
                        r_("Your report #{number} was passed to {category}. Expect an answer by {due}."),
                        number=report.id,
                        category=category_name(category, r_),
                        due=self._posting.until(due, r_, now),
                    )

                outbox += await self._posting.to_resident(report, told)
                shown = moment(due, self._config.tz)
                parts.append(fill(_("The resident is told the new answer time: {due}."), due=shown))
            return Outcome([step], outbox, lines(*parts))

        return await self._run(report_id, act)

    async def duplicate(self, report_id: int, official: Official, original_id: int) -> Reply:
        """Mark the report a duplicate of an open report: its resident gets that report's answers from now on."""
        _ = self._
        actor = Actor(official.author, official.name)
        if original_id == report_id:
            return say(_("A report cannot be a duplicate of itself."), alert=True)

        async def act(report: Report) -> Outcome:
            self._must_be_open(report)
            original = await self._storage.get_report(original_id)
            if original is None:
                raise Refused(fill(_("Report #{number} does not exist."), number=original_id))
            if not original.status.open:
                raise Refused(
                    lines(
                        self.closed_text(original),
                        _("A duplicate must point to an open report; reopen it first, or answer this one."),
                    )
                )
            now = self._clock()
            linked: dict[str, Any] = {"text": f"#{original.id}", "duplicate_of": original.id}
            step = change(report, EventKind.DUPLICATE_LINKED, actor, now, **linked)
            waiting_before = await self._storage.duplicates_of(report.id)
            joined = change(original, EventKind.DUPLICATE_JOINED, actor, now, text=f"#{report.id}")
            steps = [step, joined]
            # Residents who waited on this report now wait on the one that covers it.
            for waiting in waiting_before:
                steps.append(change(waiting, EventKind.DUPLICATE_LINKED, actor, now, **linked))
            outbox = await self._posting.to_resident(
                report,
                lambda r_: fill(
                    r_(
                        "Your report #{number} is about the same problem as report #{original}, which the officials"
                        " are already handling. Its answers and its resolution will come to you here."
                    ),
                    number=report.id,
                    original=original.id,
                ),
            )
            outbox += await self._posting.card_edit(step.after)
            already = len(await self._storage.duplicates_of(original.id))
            outbox += await self._posting.card_edit(joined.after, waiting=already + 1 + len(waiting_before))
            reply = fill(
                _(
                    "Report #{number} is marked as a duplicate of #{original};"
                    " its resident will get #{original}'s answers."
                ),
                number=report.id,
                original=original.id,
            )
            return Outcome(steps, outbox, reply)

        return await self._run(report_id, act, original_id)

    async def history(self, report_id: int) -> Reply:
        """The report's history for officials: when, what, who."""
        report = await self._storage.get_report(report_id)
        if report is None:
            return Reply(fill(self._("Report #{number} does not exist."), number=report_id))
        events = await self._storage.history(report_id)
        return Reply(history_text(report, events, self._, self._config.tz))

    # Residents' additions

    async def follow_up(
        self, report_id: int, profile: ResidentProfile, text: str, photos: tuple[str, ...], r_: Gettext
    ) -> Reply:
        """The resident adds to their report: the officials see it as a reply to its card, and it is recorded."""
        actor = Actor(profile.ref.key)

        async def act(report: Report) -> Outcome:
            if report.resident != profile.ref:
                raise Refused(r_("This button is no longer valid."))
            step = change(
                report,
                EventKind.FOLLOWED_UP,
                actor,
                self._clock(),
                text=text or None,
                photos=photos,
                follow_ups=report.follow_ups + 1,
            )
            header = bold(fill(self._("Message from the resident about report #{number}:"), number=report.id))
            post = lines(header, "", text) if text else header
            outbox = self._posting.to_staff(self._routing.chat_of(report), post, report.id, photos, reply_to_card=True)
            outbox += await self._edit(report, step.after)
            ack = fill(r_("Added to your report #{number}: the officials will see it."), number=report.id)
            return Outcome([step], outbox, ack)

        return await self._run(report_id, act)

    # The resident's verdict on a resolution

    async def verdict(self, report_id: int, profile: ResidentProfile, fixed: bool, r_: Gettext) -> Reply:
        """The resident says whether the resolution really fixed it: "fixed" closes it for good; "not fixed",
        within REOPEN_DAYS of the resolution, reopens it with its terms started again and a new card."""
        actor = Actor(profile.ref.key)
        window = timedelta(days=self._config.terms.reopen_days)

        async def act(report: Report) -> Outcome:
            if report.resident != profile.ref:
                raise Refused(r_("This button is no longer valid."))
            if report.verdict is not None and report.status is Status.RESOLVED:
                raise Refused(fill(r_("You have already answered about report #{number}."), number=report.id))
            if report.status is not Status.RESOLVED:
                raise Refused(fill(r_("Report #{number} is not resolved now."), number=report.id))
            now = self._clock()
            if fixed:
                step = change(report, EventKind.CONFIRMED, actor, now, verdict=Verdict.FIXED)
                reply = fill(r_("Thank you! Report #{number} is closed as fixed."), number=report.id)
                return Outcome([step], await self._posting.card_edit(step.after), reply)
            resolved_at = max(e.at for e in await self._storage.history(report.id) if e.kind is EventKind.RESOLVED)
            if now - resolved_at > window:
                raise _TooLate(report.id)
            restart = await self._restart(report, now)
            step = change(
                report,
                EventKind.REOPENED,
                actor,
                now,
                text=self._("The resident says it is not fixed."),
                verdict=Verdict.NOT_FIXED,
                **restart,
            )
            _ = self._
            gone = bold(_("Reopened by the resident (not fixed): its new card is below."))
            outbox = await self._posting.card_edit(step.after, note=gone)
            note = bold(
                fill(_("🔁 Report #{number} is reopened: the resident says it is not fixed."), number=report.id)
            )
            outbox += await self._posting.new_card(step.after, note=note)
            reply = fill(
                r_(
                    "Report #{number} is reopened: the officials will look at it again. Write what is still wrong,"
                    " and send a photo if you can."
                ),
                number=report.id,
            )
            return Outcome([step], outbox, reply)

        try:
            return await self._run(report_id, act)
        except _TooLate as late:
            text = fill(
                r_(
                    "More than {days} days have passed since report #{number} was resolved, so it cannot be reopened."
                    " Please send a new report about the problem."
                ),
                days=self._config.terms.reopen_days,
                number=late.report_id,
            )
            return Reply(text, ((Button(r_("New report"), actions.NEW),),))

    async def rate(self, report_id: int, profile: ResidentProfile, rating: int, r_: Gettext) -> Reply:
        """The resident rates the answer to their resolved report, 1 to 5 (a later rating replaces an earlier)."""
        actor = Actor(profile.ref.key)

        async def act(report: Report) -> Outcome:
            if report.resident != profile.ref:
                raise Refused(r_("This button is no longer valid."))
            if report.status is not Status.RESOLVED and report.verdict is None:
                raise Refused(fill(r_("Report #{number} is not resolved now."), number=report.id))
            step = change(report, EventKind.RATED, actor, self._clock(), text=str(rating), rating=rating)
            reply = fill(r_("Thank you for your rating: {rating} of 5."), rating=rating)
            return Outcome([step], await self._posting.card_edit(step.after), reply)

        return await self._run(report_id, act)


class _TooLate(Exception):
    """ "Not fixed" came after the window for disputing the resolution."""

    def __init__(self, report_id: int) -> None:
        super().__init__("too late")
        self.report_id = report_id
