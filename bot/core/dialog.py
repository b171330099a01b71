"""The resident dialog, platform-neutral: what is missing, what to ask next, validation, summary, sending.

Adapters turn messenger updates into the inputs below and show the returned replies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.core import actions
from bot.core.compose import ALBUM_LIMIT, compose
from bot.core.config import Clock, CoreConfig
from bot.core.locks import KeyedLocks, Locks
from bot.core.models import (
    PRIORITY_RESIDENT,
    PRIORITY_STAFF,
    Button,
    Category,
    Draft,
    Location,
    Messenger,
    OutboxMessage,
    Piece,
    Reply,
    Report,
    ResidentProfile,
)
from bot.core.routing import StaffRouting
from bot.text.cards import card_buttons, card_text
from bot.text.formatting import esc, moment, place_html, shorten
from bot.text.i18n import Gettext, Locales
from bot.text.labels import category_name, status_label
from storage.base import DraftStore, Storage

DESCRIPTION_MAX = 2000
ADDRESS_MAX = 300
TEXT_MIN = 3
MY_REPORTS_LIMIT = 20


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


ResidentInput = (
    Start
    | Help
    | NewReport
    | MyReports
    | Cancel
    | Text
    | Photos
    | Place
    | Press
    | Unsupported
    | UnknownCommand
    | Edited
    | Failed
)


def menu_buttons(_: Gettext) -> tuple[tuple[Button, ...], ...]:
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
        drafts: DraftStore | None = None,
        locks: Locks | None = None,
    ) -> None:
        self._routing = routing
        self._storage = storage
        # Drafts and locks live in Redis when several processes serve residents; in the storage otherwise.
        self._drafts: DraftStore = drafts or storage
        self._locales = locales
        self._config = config
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._locks: Locks = locks or KeyedLocks()

    async def handle(self, profile: ResidentProfile, event: ResidentInput) -> list[Reply]:
        """Take one input from a resident and return what to show them."""
        _ = self._locales.get(profile.language)
        # One resident's inputs in order: an album's photos or a double tap must not race on the draft.
        async with self._locks.hold(profile.ref.key):
            return await self._handle(profile, event, _)

    async def _handle(self, profile: ResidentProfile, event: ResidentInput, _: Gettext) -> list[Reply]:
        ref = profile.ref
        match event:
            case Start():
                return [self._welcome(_)]
            case Help():
                return [self._help(_)]
            case MyReports():
                return [await self._my_reports(profile, _)]
            case Cancel():
                dropped = await self._drafts.delete_draft(ref)
                text = _("Your draft is dropped.") if dropped else _("There is no report in progress.")
                return [Reply(text, menu_buttons(_))]
            case NewReport():
                if await self._drafts.get_draft(ref) is not None:
                    return [
                        await self._with_question(profile, _("You have an unfinished report; let us continue it."), _)
                    ]
                return await self._advance(profile, Draft(), _)
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
                return [Reply(_("I do not know this command. Try /new, /my or /cancel."), menu_buttons(_))]
            case Edited():
                return [Reply(_("Edited messages do not change a report. Please send a new message instead."))]
            case Failed():
                return [Reply(_("Sorry, I could not receive that. Please try sending it again."))]
        raise AssertionError(event)

    # Inputs

    async def _on_text(self, profile: ResidentProfile, raw: str, _: Gettext) -> list[Reply]:
        text = raw.strip()
        if not text:
            return [Reply(_("The message is empty. Please write a few words."))]
        draft = await self._drafts.get_draft(profile.ref) or Draft()
        target = self._text_target(draft)
        if target is None:
            if draft.awaiting is Piece.PHOTOS:
                return [await self._question(Piece.PHOTOS, draft, _, prefix=_("Now I need a photo."))]
            return [await self._with_question(profile, _("Your report has everything it needs."), _)]
        limit = ADDRESS_MAX if target is Piece.LOCATION else DESCRIPTION_MAX
        if error := self._check(text, limit, _):
            return [Reply(error)]
        if target is Piece.LOCATION:
            draft.location = Location(address=text)
        else:
            draft.description = text
        if draft.awaiting is target:
            draft.awaiting = None
        return await self._advance(profile, draft, _)

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
    def _check(text: str, limit: int, _: Gettext) -> str | None:
        if len(text) < TEXT_MIN:
            return _("This is too short. Please write a few words.")
        if len(text) > limit:
            return _("This is too long: {length} characters, at most {limit}. Please shorten it.").format(
                length=len(text), limit=limit
            )
        return None

    async def _on_photos(
        self, profile: ResidentProfile, digests: tuple[str, ...], caption: str | None, _: Gettext
    ) -> list[Reply]:
        draft = await self._drafts.get_draft(profile.ref) or Draft()
        if caption is not None and caption.strip() and self._text_target(draft) is Piece.DESCRIPTION:
            if error := self._check(caption.strip(), DESCRIPTION_MAX, _):
                return [Reply(error)]
            draft.description = caption.strip()
            if draft.awaiting is Piece.DESCRIPTION:
                draft.awaiting = None
        notes: list[Reply] = []
        room = ALBUM_LIMIT - len(draft.photos)
        fresh = [d for d in digests if d not in draft.photos]
        if len(fresh) > room:
            notes.append(
                Reply(_("A report holds at most {limit} photos; the rest were not added.").format(limit=ALBUM_LIMIT))
            )
        draft.photos.extend(fresh[: max(room, 0)])
        if draft.awaiting is Piece.PHOTOS:
            draft.awaiting = None
        return notes + await self._advance(profile, draft, _)

    async def _on_place(
        self, profile: ResidentProfile, lat: float, lon: float, address: str | None, _: Gettext
    ) -> list[Reply]:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return [Reply(_("This location looks wrong. Please send it again or type the address."))]
        draft = await self._drafts.get_draft(profile.ref) or Draft()
        address = shorten(address.strip(), ADDRESS_MAX) if address and address.strip() else None
        draft.location = Location(latitude=lat, longitude=lon, address=address)
        if draft.awaiting is Piece.LOCATION:
            draft.awaiting = None
        return await self._advance(profile, draft, _)

    async def _on_press(self, profile: ResidentProfile, data: str | None, _: Gettext) -> list[Reply]:
        action = actions.parse_resident(data)
        if action is None:
            return [Reply(_("This button is no longer valid."), alert=True)]
        if action.name == "new":
            return await self._handle(profile, NewReport(), _)
        if action.name == "my":
            return await self._handle(profile, MyReports(), _)
        if action.name == "cancel":
            return await self._handle(profile, Cancel(), _)
        draft = await self._drafts.get_draft(profile.ref)
        if action.name == "cat":
            return await self._choose_category(profile, draft or Draft(), action.arg or 0, _)
        if draft is None:
            return [Reply(_("There is no report in progress. Press New report to start one."), menu_buttons(_))]
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
        return [Reply(_("This button is no longer valid."), alert=True)]

    async def _choose_category(
        self, profile: ResidentProfile, draft: Draft, category_id: int, _: Gettext
    ) -> list[Reply]:
        category = await self._storage.get_category(category_id)
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
        return Reply(f"{prefix}\n{text}" if prefix else text, buttons)

    async def _with_question(self, profile: ResidentProfile, note: str, _: Gettext) -> Reply:
        """A note, followed by the current question or summary if a draft is open."""
        draft = await self._drafts.get_draft(profile.ref)
        if draft is None:
            return Reply(note + "\n" + _("Press New report to write to the officials."), menu_buttons(_))
        missing = draft.awaiting or await self._missing(draft)
        if missing is None:
            summary = await self._summary(draft, _)
            return Reply(note + "\n\n" + summary.text, summary.buttons)
        return await self._question(missing, draft, _, prefix=note)

    async def _summary(self, draft: Draft, _: Gettext) -> Reply:
        category = await self._category_of(draft)
        location = draft.location or Location()
        photos = str(len(draft.photos)) if draft.photos else _("none")
        text = "\n".join(
            [
                _("<b>Please check your report</b>"),
                _("Category: {category}").format(category=esc(category_name(category, _))),
                _("Place: {place}").format(place=place_html(location)),
                _("Photos: {count}").format(count=photos),
                "",
                esc(draft.description or ""),
            ]
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

    async def _send(self, profile: ResidentProfile, draft: Draft, _: Gettext) -> list[Reply]:
        missing = await self._missing(draft)
        if missing is not None:
            draft.awaiting = missing
            await self._drafts.save_draft(profile.ref, draft)
            return [await self._question(missing, draft, _, prefix=_("A piece of the report is missing."))]
        category = await self._category_of(draft)
        assert category is not None
        now = self._clock()
        due = now + timedelta(hours=category.answer_hours)
        staff_ = self._locales.get(self._config.staff_language)
        tz = self._config.tz

        def outbox_for(report: Report) -> list[OutboxMessage]:
            confirmation = _("Your report #{number} is sent to the officials. Expect an answer by {due}.").format(
                number=report.id, due=moment(report.answer_due_at, tz)
            )
            resident = compose(
                profile.ref.messenger,
                profile.ref.user_id,
                confirmation,
                report_id=report.id,
                priority=PRIORITY_RESIDENT,
            )
            card = compose(
                Messenger.TELEGRAM,
                self._routing.chat_for(category),
                card_text(report, category, staff_, tz),
                report.photos,
                buttons=card_buttons(report, staff_),
                report_id=report.id,
                link_to_report=True,
                priority=PRIORITY_STAFF,
            )
            return resident + card

        await self._storage.submit_report(profile, draft, now, due, outbox_for)
        if self._drafts is not self._storage:
            await self._drafts.delete_draft(profile.ref)
        self._on_enqueue()
        return []

    # Menus

    def _welcome(self, _: Gettext) -> Reply:
        text = "\n\n".join(
            [
                _("Hello! This is the reception office of the city administration."),
                _(
                    "Report a problem in the city (a pothole, a dark street, a broken lift, a queue at a clinic):"
                    " officials will answer within a day and show the result with a photo."
                ),
                _(
                    "We keep only what is needed to handle your report: your name as shown in the messenger,"
                    " your language, and the report itself (text, place, photos). We never see your phone number."
                ),
                _("Press New report, or just send a photo or a description of the problem."),
            ]
        )
        return Reply(text, menu_buttons(_))

    def _help(self, _: Gettext) -> Reply:
        text = "\n".join(
            [
                _("/new: write a new report"),
                _("/my: your reports and their status"),
                _("/cancel: drop the report you are writing"),
                "",
                _("A report has a category, a description, a place and photos; send them in any order."),
            ]
        )
        return Reply(text, menu_buttons(_))

    async def _my_reports(self, profile: ResidentProfile, _: Gettext) -> Reply:
        reports = await self._storage.list_reports(profile.ref, MY_REPORTS_LIMIT)
        if not reports:
            return Reply(_("You have no reports yet."), menu_buttons(_))
        categories = {c.id: c for c in await self._storage.list_categories(include_hidden=True)}
        lines = [_("<b>Your reports</b>")]
        for r in reports:
            lines.append(
                f"#{r.id} · {esc(category_name(categories.get(r.category_id), _))} · "
                f"{esc(status_label(r.status, _))} · {r.created_at.astimezone(self._config.tz):%d.%m.%Y}"
            )
        return Reply("\n".join(lines), menu_buttons(_))
