"""The resident dialog, platform-neutral: what is missing, what to ask next, validation, summary, sending; and the
resident's messages about reports already sent (bot/core/conversation.py).

Adapters turn messenger updates into the inputs below and show the returned replies with the `show` they pass in:
a step's replies are shown in the order the steps were handled (bot/core/turns.py).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.core import actions
from bot.core.config import Clock, CoreConfig
from bot.core.conversation import Conversation
from bot.core.deadlines import Deadlines
from bot.core.guard import Door, Gatekeeper
from bot.core.lifecycle import Actor, created
from bot.core.locks import KeyedLocks, Locks
from bot.core.models import (
    Button,
    Buttons,
    Category,
    Draft,
    Location,
    Piece,
    Report,
    ResidentProfile,
    Status,
    Verdict,
)
from bot.core.outbox import OutboxMessage
from bot.core.posting import Posting
from bot.core.privacy import Privacy as PersonalData
from bot.core.replied import Replied
from bot.core.replies import Reply, say
from bot.core.routing import StaffRouting
from bot.core.turns import ChatTurns, Turn
from bot.text.cards import CardFacts
from bot.text.clean import visible
from bot.text.formatting import place, shorten
from bot.text.i18n import Gettext, Locales
from bot.text.labels import category_name, status_label
from bot.text.rich import Rich, as_rich, bold, fill, join, lines
from storage.base import DraftStore, Effects, Storage

DESCRIPTION_MAX = 2000
ADDRESS_MAX = 300
TEXT_MIN = 3
MY_REPORTS_LIMIT = 20
ALBUM_LIMIT = 10

T = TypeVar("T")
Show = Callable[[list[Reply]], Awaitable[T]]
"""How an adapter shows a step's replies (sending them, or leaving the last for the transport)."""


@dataclass(frozen=True, slots=True)
class Start:
    """The resident opened the bot or asked for the menu."""


@dataclass(frozen=True, slots=True)
class Help:
    """The resident asked how the bot works."""


@dataclass(frozen=True, slots=True)
class NewReport:
    """Start (or continue) a report."""


@dataclass(frozen=True, slots=True)
class MyReports:
    """List the resident's reports."""


@dataclass(frozen=True, slots=True)
class Cancel:
    """Drop the draft."""


@dataclass(frozen=True, slots=True)
class Privacy:
    """Show the personal-data notice (/privacy)."""


@dataclass(frozen=True, slots=True)
class Forget:
    """The resident asks to erase their personal data (/forget); confirmed with a button."""


@dataclass(frozen=True, slots=True)
class Text:
    """A text message (not a command)."""

    text: str


@dataclass(frozen=True, slots=True)
class Photos:
    """One photo or an album, already archived; the caption if any."""

    digests: tuple[str, ...]
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """A location from the messenger, with the address if the messenger gave one."""

    latitude: float
    longitude: float
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Press:
    """A button press with its raw data (not trusted)."""

    data: str | None


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Something the bot cannot take: a sticker, voice, video, document, contact, poll..."""


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """A command the bot does not know."""


@dataclass(frozen=True, slots=True)
class Edited:
    """The resident edited an earlier message."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The adapter could not take what was sent (e.g. a photo download failed)."""


@dataclass(frozen=True, slots=True)
class BadPhoto:
    """A photo that is empty or not an image."""


ResidentInput = (
    Start
    | Help
    | NewReport
    | MyReports
    | Cancel
    | Privacy
    | Forget
    | Text
    | Photos
    | Place
    | Press
    | Unsupported
    | UnknownCommand
    | Edited
    | Failed
    | BadPhoto
)


Received = Callable[[], Awaitable[ResidentInput]]
"""An input received only when the resident is admitted (photos: downloaded and archived then)."""


def menu_buttons(_: Gettext) -> Buttons:
    """The main menu."""
    return ((Button(_("New report"), actions.NEW), Button(_("My reports"), actions.MY)),)


class ResidentDialog:
    """Leads a resident from the first message to a sent report, one question at a time."""

    def __init__(
        self,
        storage: Storage,
        locales: Locales,
        config: CoreConfig,
        clock: Clock,
        on_enqueue: Callable[[], None],
        routing: StaffRouting,
        posting: Posting,
        conversation: Conversation,
        privacy: PersonalData,
        gate: Gatekeeper,
        drafts: DraftStore | None = None,
        locks: Locks | None = None,
        *,
        deadlines: Deadlines,
    ) -> None:
        self._routing = routing
        self._privacy = privacy
        self._gate = gate
        self._storage = storage
        # Drafts and locks live in Redis when several processes serve residents; in the storage otherwise.
        self._drafts: DraftStore = drafts or storage
        self._locales = locales
        self._config = config
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._posting = posting
        self._conversation = conversation
        self._locks: Locks = locks or KeyedLocks()
        self._turns = ChatTurns()
        self._deadlines = deadlines

    async def handle(
        self,
        profile: ResidentProfile,
        event: ResidentInput | Received,
        show: Show[T],
        replied: Replied | None = None,
    ) -> T:
        """Take one input from a resident (`replied`: the message it replies to) and show the replies.

        An input that costs something to receive (photos to download and archive) comes as `Received`: it is
        received only once the resident is admitted, so a banned or flooding resident's photos are never kept.

        One resident's inputs are handled one at a time (an album's photos or a double tap must not race on the
        draft), and their replies are shown in that order, each step's after the earlier ones', however long a
        reply waits for the chat's send budget.
        """
        _ = self._locales.get(profile.language)
        key = profile.ref.key
        turn: Turn | None = None
        try:
            async with self._locks.hold(key):
                replies = await self._admitted(profile, event, _, replied)
                turn = self._turns.take(key)
            await turn.wait()
            return await show(replies)
        finally:
            if turn is not None:
                turn.done()

    async def _admitted(
        self, profile: ResidentProfile, event: ResidentInput | Received, _: Gettext, replied: Replied | None
    ) -> list[Reply]:
        """The step, if the resident is not banned and not over the minute's limit (counted in the database)."""
        if not callable(event) and _rights(event):
            # Reading the notice and erasing one's data are rights: no ban or limit stands in their way.
            return await self._handle(profile, event, _, replied)
        door = await self._gate.admit(profile.ref)
        if door is Door.IN:
            return await self._handle(profile, await event() if callable(event) else event, _, replied)
        if door is Door.TOO_FAST:
            return [
                say(
                    _("You are sending messages too fast. Please wait a minute: what you send until then is not taken.")
                )
            ]
        if door is Door.BANNED:
            return [say(_("The officials have blocked your messages to this reception office: they are not read."))]
        return []

    async def _handle(
        self, profile: ResidentProfile, event: ResidentInput, _: Gettext, replied: Replied | None = None
    ) -> list[Reply]:
        ref = profile.ref
        if replied is not None and isinstance(event, Text | Photos):
            # The messenger's reply to the bot's message about a report: an addition to that report.
            report = await self._conversation.report_replied(profile, replied)
            if report is not None:
                return [await self._add(profile, report.id, event, _)]
        match event:
            case Start():
                return [self._welcome(_)]
            case Help():
                return [self._help(_)]
            case MyReports():
                return [await self._my_reports(profile, _)]
            case Cancel():
                draft = await self._drafts.get_draft(ref)
                await self._drafts.delete_draft(ref)
                if draft is not None and draft.started:
                    return [say(_("Your draft is dropped."), menu_buttons(_))]
                if draft is not None:
                    return [say(_("Cancelled."), menu_buttons(_))]
                return [say(_("There is no report in progress."), menu_buttons(_))]
            case NewReport():
                draft = await self._drafts.get_draft(ref)
                if draft is not None and draft.started:
                    return [
                        await self._with_question(profile, _("You have an unfinished report; let us continue it."), _)
                    ]
                if not await self._gate.may_file(ref):
                    return [self._too_many(_)]
                return await self._advance(profile, Draft(), _)
            case Privacy():
                return [await self._notice(profile, _)]
            case Forget():
                return [self._forget_question(_)]
            case Text(text=text):
                return await self._on_text(profile, text, _)
            case Photos(digests=digests, caption=caption):
                return await self._on_photos(profile, digests, caption, _)
            case Place(latitude=lat, longitude=lon, address=address):
                return await self._on_place(profile, lat, lon, address, _)
            case Press(data=data):
                return await self._on_press(profile, data, _)
            case Unsupported():
                return [await self._with_question(profile, _("Sorry, I can only take text, photos and a location."), _)]
            case UnknownCommand():
                return [say(_("I do not know this command. Try /new, /my or /cancel."), menu_buttons(_))]
            case Edited():
                return [say(_("Edited messages do not change a report. Please send a new message instead."))]
            case Failed():
                return [say(_("Sorry, I could not receive that. Please try sending it again."))]
            case BadPhoto():
                return [say(_("This photo is empty or damaged. Please send another one."))]
        raise AssertionError(event)

    # Messages about reports already sent

    async def _add(self, profile: ResidentProfile, report_id: int, event: Text | Photos, _: Gettext) -> Reply:
        """The resident's text or photos go to the officials as an addition to their report."""
        photos: tuple[str, ...] = ()
        if isinstance(event, Text):
            text = visible(event.text)
        else:
            text, photos = visible(event.caption or ""), event.digests[:ALBUM_LIMIT]
        if not text and not photos:
            return say(_("The message is empty. Please write a few words."))
        if len(text) > DESCRIPTION_MAX:
            return say(
                fill(
                    _("This is too long: {length} characters, at most {limit}. Please shorten it."),
                    length=len(text),
                    limit=DESCRIPTION_MAX,
                )
            )
        return await self._conversation.add(profile, report_id, text, photos, _)

    async def _ask_about(self, profile: ResidentProfile, draft: Draft, text: str, _: Gettext) -> list[Reply] | None:
        """Outside a report, a text from a resident with open reports: ask whether it is about one of them."""
        reports = await self._conversation.open_reports(profile)
        if not reports:
            return None
        draft.pending_text = text
        await self._drafts.save_draft(profile.ref, draft)
        return [await self._conversation.question(reports, _)]

    # Inputs

    async def _on_text(self, profile: ResidentProfile, raw: str, _: Gettext) -> list[Reply]:
        # Invisible characters are no text: five zero-width spaces are an empty message.
        text = visible(raw)
        if not text:
            return [say(_("The message is empty. Please write a few words."))]
        draft = await self._drafts.get_draft(profile.ref) or Draft()
        if draft.about is not None:
            about = draft.about
            draft.about = None
            await self._keep(profile, draft)
            return [await self._add(profile, about, Text(text), _)]
        if not draft.started and (asked := await self._ask_about(profile, draft, text, _)) is not None:
            return asked
        draft.pending_text = None
        target = self._text_target(draft)
        if target is None:
            if draft.awaiting is Piece.PHOTOS:
                return [await self._question(Piece.PHOTOS, draft, _, prefix=_("Now I need a photo."))]
            return [await self._with_question(profile, _("Your report has everything it needs."), _)]
        limit = ADDRESS_MAX if target is Piece.LOCATION else DESCRIPTION_MAX
        if error := self._check(text, limit, _):
            return [say(error)]
        if target is Piece.LOCATION:
            draft.location = Location(address=text)
        else:
            draft.description = text
        if draft.awaiting is target:
            draft.awaiting = None
        return await self._advance(profile, draft, _)

    async def _keep(self, profile: ResidentProfile, draft: Draft) -> None:
        """Save the draft, or drop it when nothing is left in it."""
        if draft.started or draft.about is not None or draft.pending_text is not None:
            await self._drafts.save_draft(profile.ref, draft)
        else:
            await self._drafts.delete_draft(profile.ref)

    @staticmethod
    def _text_target(draft: Draft) -> Piece | None:
        """Which piece a typed text fills: the one asked for, else the first text piece still missing."""
        if draft.awaiting in (Piece.DESCRIPTION, Piece.LOCATION):
            return draft.awaiting
        if draft.description is None:
            return Piece.DESCRIPTION
        if draft.location is None:
            return Piece.LOCATION
        return None

    @staticmethod
    def _check(text: str, limit: int, _: Gettext) -> Rich | None:
        if len(text) < TEXT_MIN:
            return as_rich(_("This is too short. Please write a few words."))
        if len(text) > limit:
            return fill(
                _("This is too long: {length} characters, at most {limit}. Please shorten it."),
                length=len(text),
                limit=limit,
            )
        return None

    async def _on_photos(
        self, profile: ResidentProfile, digests: tuple[str, ...], caption: str | None, _: Gettext
    ) -> list[Reply]:
        draft = await self._drafts.get_draft(profile.ref) or Draft()
        if draft.about is not None:
            about = draft.about
            draft.about = None
            await self._keep(profile, draft)
            return [await self._add(profile, about, Photos(digests, caption), _)]
        if draft.pending_text is not None:
            # A photo after the question "about an open report?": a new report, the text its description.
            if draft.description is None and not self._check(draft.pending_text, DESCRIPTION_MAX, _):
                draft.description = draft.pending_text
            draft.pending_text = None
        caption = visible(caption) if caption is not None else None
        if caption and self._text_target(draft) is Piece.DESCRIPTION:
            if error := self._check(caption, DESCRIPTION_MAX, _):
                return [say(error)]
            draft.description = caption
            if draft.awaiting is Piece.DESCRIPTION:
                draft.awaiting = None
        notes: list[Reply] = []
        room = ALBUM_LIMIT - len(draft.photos)
        fresh = [d for d in digests if d not in draft.photos]
        if len(fresh) > room:
            notes.append(
                say(fill(_("A report holds at most {limit} photos; the rest were not added."), limit=ALBUM_LIMIT))
            )
        draft.photos.extend(fresh[: max(room, 0)])
        if draft.awaiting is Piece.PHOTOS:
            draft.awaiting = None
        return notes + await self._advance(profile, draft, _)

    async def _on_place(
        self, profile: ResidentProfile, lat: float, lon: float, address: str | None, _: Gettext
    ) -> list[Reply]:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return [say(_("This location looks wrong. Please send it again or type the address."))]
        if abs(lat) < 1e-6 and abs(lon) < 1e-6:
            # What a client sends when it has no fix: a point in the ocean, no place in the city.
            return [say(_("This location is empty (0, 0). Please send it again or type the address."))]
        draft = await self._drafts.get_draft(profile.ref) or Draft()
        draft.about = None
        # Cleaned again once cut: a cut may leave a joiner without the emoji it joined.
        address = visible(shorten(visible(address), ADDRESS_MAX)) if address is not None else None
        address = address or None
        draft.location = Location(latitude=lat, longitude=lon, address=address)
        if draft.awaiting is Piece.LOCATION:
            draft.awaiting = None
        return await self._advance(profile, draft, _)

    async def _on_press(self, profile: ResidentProfile, data: str | None, _: Gettext) -> list[Reply]:
        action = actions.parse_resident(data)
        if action is None:
            return [say(_("This button is no longer valid."), alert=True)]
        if action.name == "new":
            return await self._handle(profile, NewReport(), _)
        if action.name == "my":
            return await self._handle(profile, MyReports(), _)
        if action.name == "cancel":
            return await self._handle(profile, Cancel(), _)
        if action.name == "forget":
            await self._privacy.forget(profile.ref)
            text = _(
                "Your personal data are erased: your name and messenger id are removed from your reports, which stay"
                " without them for statistics, and your draft is dropped. Officials can no longer answer you."
            )
            return [say(text, menu_buttons(_))]
        if action.name == "keep":
            return [say(_("Nothing was erased."), menu_buttons(_))]
        if action.name == "agree":
            return await self._on_agree(profile, _)
        draft = await self._drafts.get_draft(profile.ref)
        if action.name == "about":
            return await self._on_about(profile, draft or Draft(), action.arg or 0, _)
        if action.name in ("fixed", "notfixed"):
            return await self._on_verdict(profile, draft or Draft(), action.arg or 0, action.name == "fixed", _)
        if action.name == "rate":
            return [await self._conversation.rate(profile, action.arg or 0, action.value or 0, _)]
        if action.name == "fresh":
            return await self._on_fresh(profile, draft or Draft(), _)
        if action.name == "cat":
            return await self._choose_category(profile, draft or Draft(), action.arg or 0, _)
        if draft is None or not draft.started:
            return [say(_("There is no report in progress. Press New report to start one."), menu_buttons(_))]
        if action.name == "nophoto":
            category = await self._category_of(draft)
            if category is not None and category.photo_required:
                return [await self._question(Piece.PHOTOS, draft, _, prefix=_("This category needs a photo."))]
            draft.photos_skipped = True
            draft.awaiting = None
            return await self._advance(profile, draft, _)
        if action.name == "edit" and action.piece is not None:
            draft.awaiting = action.piece
            if action.piece is Piece.PHOTOS:
                draft.photos = []
                draft.photos_skipped = False
            await self._drafts.save_draft(profile.ref, draft)
            return [await self._question(action.piece, draft, _)]
        if action.name == "send":
            return await self._send(profile, draft, _)
        return [say(_("This button is no longer valid."), alert=True)]

    async def _on_about(self, profile: ResidentProfile, draft: Draft, report_id: int, _: Gettext) -> list[Reply]:
        """ "About #N": the kept text goes to report #N now, or the next message will."""
        report = await self._conversation.own_report(profile, report_id)
        if report is None:
            return [say(_("This button is no longer valid."), alert=True)]
        if draft.pending_text is not None:
            text, draft.pending_text = draft.pending_text, None
            await self._keep(profile, draft)
            return [await self._add(profile, report.id, Text(text), _)]
        draft.about = report.id
        await self._drafts.save_draft(profile.ref, draft)
        return [self._conversation.prompt(report, _)]

    async def _on_verdict(
        self, profile: ResidentProfile, draft: Draft, report_id: int, fixed: bool, _: Gettext
    ) -> list[Reply]:
        """ "Fixed" or "not fixed"; once reopened, the resident's next message (a comment, a photo) goes to it."""
        reply = await self._conversation.verdict(profile, report_id, fixed, _)
        if not fixed:
            report = await self._conversation.own_report(profile, report_id)
            if report is not None and report.status is Status.REOPENED and report.verdict is Verdict.NOT_FIXED:
                draft.about = report.id
                await self._drafts.save_draft(profile.ref, draft)
        return [reply]

    async def _on_fresh(self, profile: ResidentProfile, draft: Draft, _: Gettext) -> list[Reply]:
        """ "New report" after the question: the kept text starts it as its description."""
        text, draft.pending_text, draft.about = draft.pending_text, None, None
        if text is not None and draft.description is None and not self._check(text, DESCRIPTION_MAX, _):
            draft.description = text
        return await self._advance(profile, draft, _)

    async def _choose_category(
        self, profile: ResidentProfile, draft: Draft, category_id: int, _: Gettext
    ) -> list[Reply]:
        category = await self._storage.get_category(category_id)
        draft.about = None
        if category is None or category.hidden:
            draft.awaiting = Piece.CATEGORY
            await self._drafts.save_draft(profile.ref, draft)
            return [await self._question(Piece.CATEGORY, draft, _, prefix=_("This category is not available."))]
        draft.category_id = category.id
        if draft.awaiting is Piece.CATEGORY:
            draft.awaiting = None
        return await self._advance(profile, draft, _)

    # Steps

    async def _category_of(self, draft: Draft) -> Category | None:
        if draft.category_id is None:
            return None
        category = await self._storage.get_category(draft.category_id)
        return None if category is None or category.hidden else category

    async def _missing(self, draft: Draft) -> Piece | None:
        category = await self._category_of(draft)
        if category is None:
            return Piece.CATEGORY
        if draft.description is None:
            return Piece.DESCRIPTION
        if draft.location is None:
            return Piece.LOCATION
        if not draft.photos and (category.photo_required or not draft.photos_skipped):
            return Piece.PHOTOS
        return None

    async def _advance(self, profile: ResidentProfile, draft: Draft, _: Gettext) -> list[Reply]:
        """Save the draft and ask for what is still missing (the piece asked for first), or show the summary."""
        missing = draft.awaiting or await self._missing(draft)
        draft.awaiting = missing
        await self._drafts.save_draft(profile.ref, draft)
        if missing is None:
            return [await self._summary(draft, _)]
        return [await self._question(missing, draft, _)]

    async def _question(self, piece: Piece, draft: Draft, _: Gettext, prefix: str | None = None) -> Reply:
        cancel_row = (Button(_("Cancel"), actions.CANCEL),)
        buttons: Buttons
        if piece is Piece.CATEGORY:
            categories = await self._storage.list_categories()
            rows = tuple((Button(category_name(c, _), actions.category(c.id)),) for c in categories)
            text = _("Choose the category of the problem:")
            buttons = (*rows, cancel_row)
        elif piece is Piece.DESCRIPTION:
            text = _("Describe the problem in a few sentences: what is wrong, and since when.")
            buttons = (cancel_row,)
        elif piece is Piece.LOCATION:
            text = _("Where is it? Send a location or type the address.")
            buttons = (cancel_row,)
        else:
            category = await self._category_of(draft)
            text = _("Send one or more photos of the problem.")
            if category is not None and not category.photo_required:
                buttons = ((Button(_("Without photo"), actions.NO_PHOTO),), cancel_row)
            else:
                buttons = (cancel_row,)
        return say(f"{prefix}\n{text}" if prefix else text, buttons)

    async def _with_question(self, profile: ResidentProfile, note: str, _: Gettext) -> Reply:
        """A note, followed by the current question or summary if a report is being written."""
        draft = await self._drafts.get_draft(profile.ref)
        if draft is None or not draft.started:
            return say(note + "\n" + _("Press New report to write to the officials."), menu_buttons(_))
        missing = draft.awaiting or await self._missing(draft)
        if missing is None:
            summary = await self._summary(draft, _)
            return Reply(lines(note, "", summary.text), summary.buttons)
        return await self._question(missing, draft, _, prefix=note)

    async def _summary(self, draft: Draft, _: Gettext) -> Reply:
        category = await self._category_of(draft)
        location = draft.location or Location()
        photos = str(len(draft.photos)) if draft.photos else _("none")
        text = lines(
            bold(_("Please check your report")),
            fill(_("Category: {category}"), category=category_name(category, _)),
            fill(_("Place: {place}"), place=place(location)),
            fill(_("Photos: {count}"), count=photos),
            "",
            draft.description or "",
        )
        buttons = (
            (Button(_("Send"), actions.SEND),),
            (
                Button(_("Change category"), actions.edit(Piece.CATEGORY)),
                Button(_("Change text"), actions.edit(Piece.DESCRIPTION)),
            ),
            (
                Button(_("Change place"), actions.edit(Piece.LOCATION)),
                Button(_("Change photos"), actions.edit(Piece.PHOTOS)),
            ),
            (Button(_("Cancel"), actions.CANCEL),),
        )
        return Reply(text, buttons)

    async def _send(self, profile: ResidentProfile, draft: Draft, _: Gettext, agreeing: bool = False) -> list[Reply]:
        """Send a finished draft (`agreeing`: with the resident's consent, given by this press and recorded with it)."""
        missing = await self._missing(draft)
        if missing is not None:
            draft.awaiting = missing
            await self._drafts.save_draft(profile.ref, draft)
            return [await self._question(missing, draft, _, prefix=_("A piece of the report is missing."))]
        if not await self._gate.may_file(profile.ref):
            if agreeing:
                await self._privacy.agree(profile.ref)  # the consent stands; the report waits for tomorrow
            return [self._too_many(_)]
        if not agreeing and await self._privacy.consented_at(profile.ref) is None:
            # Nothing but the draft is kept until the resident agrees; "I agree" sends it.
            await self._drafts.save_draft(profile.ref, draft)
            return [self._consent_question(_)]
        category = await self._category_of(draft)
        assert category is not None
        record = await self._storage.resident_record(profile.ref)
        now = self._clock()
        dues = self._deadlines.dues(category, now)
        chat = self._routing.chat_for(category)

        def effects(report: Report) -> Effects:
            confirmation = fill(
                _("Your report #{number} is sent to the officials. Expect an answer by {due}."),
                number=report.id,
                due=self._posting.until(report.answer_due_at, _, now),
            )
            messages: list[OutboxMessage] = self._posting.resident_message(report, confirmation)
            facts = CardFacts(report, category, filed=record.filed + 1, rejected=record.rejected, banned=record.banned)
            messages += self._posting.card_messages(facts, chat)
            return [created(report, Actor(profile.ref.key))], messages

        consent = self._privacy.version if agreeing else None
        await self._storage.submit_report(profile, draft, now, dues, chat, effects, consent)
        if self._drafts is not self._storage:
            await self._drafts.delete_draft(profile.ref)
        self._on_enqueue()
        return []

    # Personal data and limits

    def _too_many(self, _: Gettext) -> Reply:
        limit = self._config.limits.reports_per_day
        text = fill(
            _(
                "You have sent {limit} reports in the last 24 hours, the most a day. Your draft is kept: please send"
                " it later, or add to a report you sent by replying to the bot's message about it."
            ),
            limit=limit,
        )
        return say(text, menu_buttons(_))

    def _consent_question(self, _: Gettext) -> Reply:
        text = lines(
            bold(_("Before your report is sent, please read how your personal data are handled.")),
            "",
            self._privacy.notice(_),
            _("Press I agree to send your report."),
        )
        buttons = ((Button(_("I agree"), actions.AGREE),), (Button(_("Cancel"), actions.CANCEL),))
        return Reply(text, buttons)

    async def _notice(self, profile: ResidentProfile, _: Gettext) -> Reply:
        """The notice (/privacy), with the resident's consent or the button to give it."""
        notice = self._privacy.notice(_)
        agreed = await self._privacy.consented_at(profile.ref)
        if agreed is not None:
            return Reply(lines(notice, self._privacy.agreed_text(agreed, _)), menu_buttons(_))
        return Reply(notice, ((Button(_("I agree"), actions.AGREE),),))

    def _forget_question(self, _: Gettext) -> Reply:
        text = _(
            "Erase your personal data? Your name and messenger id will be removed from your reports (they stay,"
            " without them, for statistics), your draft will be dropped and your consent withdrawn. Officials will"
            " no longer be able to answer you."
        )
        buttons = ((Button(_("Erase my data"), actions.FORGET),), (Button(_("Keep my data"), actions.KEEP),))
        return say(text, buttons)

    async def _on_agree(self, profile: ResidentProfile, _: Gettext) -> list[Reply]:
        """Consent given: recorded with its time and the notice's version; a finished draft goes now."""
        draft = await self._drafts.get_draft(profile.ref)
        if draft is not None and draft.started and await self._missing(draft) is None:
            return await self._send(profile, draft, _, agreeing=True)
        await self._privacy.agree(profile.ref)
        return [say(_("Thank you: your consent is recorded."), menu_buttons(_))]

    # Menus

    def _welcome(self, _: Gettext) -> Reply:
        text = join(
            "\n\n",
            [
                _("Hello! This is the reception office of the city administration."),
                _(
                    "Report a problem in the city (a pothole, a dark street, a broken lift, a queue at a clinic):"
                    " officials will answer within a day and show the result with a photo."
                ),
                _(
                    "We keep only what is needed to handle your report: your name as shown in the messenger,"
                    " your language, and the report itself (text, place, photos). We never see your phone number."
                    " /privacy tells more; /forget erases your data."
                ),
                _("Press New report, or just send a photo or a description of the problem."),
            ],
        )
        return Reply(text, menu_buttons(_))

    def _help(self, _: Gettext) -> Reply:
        text = lines(
            _("/new: write a new report"),
            _("/my: your reports and their status"),
            _("/cancel: drop the report you are writing"),
            _("/privacy: how your personal data are handled"),
            _("/forget: erase your personal data"),
            "",
            _("A report has a category, a description, a place and photos; send them in any order."),
            _("To add to a report you sent, reply to the bot's message about it, or press the button under an answer."),
        )
        return Reply(text, menu_buttons(_))

    async def _my_reports(self, profile: ResidentProfile, _: Gettext) -> Reply:
        reports = await self._storage.list_reports(profile.ref, MY_REPORTS_LIMIT)
        if not reports:
            return say(_("You have no reports yet."), menu_buttons(_))
        categories = {c.id: c for c in await self._storage.list_categories(include_hidden=True)}
        parts: list[Rich | str] = [bold(_("Your reports"))]
        for r in reports:
            parts.append(
                f"#{r.id} · {category_name(categories.get(r.category_id), _)} · "
                f"{status_label(r.status, _)} · {r.created_at.astimezone(self._config.tz):%d.%m.%Y}"
            )
        return Reply(lines(*parts), menu_buttons(_))


def _rights(event: ResidentInput) -> bool:
    """Whether the input exercises the resident's rights over their data (never blocked)."""
    if isinstance(event, Privacy | Forget):
        return True
    if isinstance(event, Press):
        action = actions.parse_resident(event.data)
        return action is not None and action.name in ("forget", "keep")
    return False
