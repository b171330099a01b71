"""The report, its pieces and its history: plain data shared by every part of the bot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Messenger(StrEnum):
    """Where a resident writes from, and where officials work."""

    TELEGRAM = "tg"
    VK = "vk"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A chat of a messenger: a resident's private chat or a staff chat."""

    messenger: Messenger
    chat_id: int

    @property
    def key(self) -> str:
        """Stable text form used as a storage key, e.g. `tg:-1001234`."""
        return f"{self.messenger.value}:{self.chat_id}"

    @classmethod
    def parse(cls, key: str) -> ChatRef:
        """Inverse of `key`."""
        messenger, _, chat_id = key.partition(":")
        return cls(Messenger(messenger), int(chat_id))


ANONYMOUS_ID = 0
"""The user id an anonymised report keeps: no messenger gives it to a person."""


@dataclass(frozen=True, slots=True)
class ResidentRef:
    """A resident is identified by messenger and user id everywhere."""

    messenger: Messenger
    user_id: int

    @property
    def key(self) -> str:
        """Stable text form used as a storage key, e.g. `tg:123`."""
        return f"{self.messenger.value}:{self.user_id}"

    @property
    def chat(self) -> ChatRef:
        """The resident's private chat with the bot (its id is the user's on both messengers)."""
        return ChatRef(self.messenger, self.user_id)

    @property
    def anonymous(self) -> bool:
        """Whether this stands for a resident whose personal data were erased (nobody to write to)."""
        return self.user_id == ANONYMOUS_ID

    @classmethod
    def parse(cls, key: str) -> ResidentRef:
        """Inverse of `key`."""
        messenger, _, user_id = key.partition(":")
        return cls(Messenger(messenger), int(user_id))

    def erased(self) -> ResidentRef:
        """The same messenger with the id erased: what an anonymised report keeps of its resident."""
        return ResidentRef(self.messenger, ANONYMOUS_ID)


@dataclass(frozen=True, slots=True)
class ResidentProfile:
    """What we keep about a resident: a display name for officials and the language of replies."""

    ref: ResidentRef
    display_name: str
    language: str


@dataclass(frozen=True, slots=True)
class Official:
    """An official acting in a staff chat, with the display name the messenger shows now."""

    messenger: Messenger
    user_id: int
    name: str

    @property
    def author(self) -> str:
        """How the official is named in a report's history and assignment."""
        return f"staff:{self.messenger.value}:{self.user_id}"


class Status(StrEnum):
    """The states of a report's life."""

    DRAFT = "draft"
    NEW = "new"
    IN_PROGRESS = "in_progress"
    REOPENED = "reopened"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"

    @property
    def closed(self) -> bool:
        """A closed report takes no more work until it is reopened."""
        return self in (Status.RESOLVED, Status.REJECTED, Status.DUPLICATE)

    @property
    def open(self) -> bool:
        """A sent report still waiting for its resolution."""
        return self in (Status.NEW, Status.IN_PROGRESS, Status.REOPENED)


OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS, Status.REOPENED)


class EventKind(StrEnum):
    """What can happen to a report; every event is kept in its history."""

    CREATED = "created"
    TAKEN = "taken"
    REASSIGNED = "reassigned"
    ANSWERED = "answered"
    FOLLOWED_UP = "followed_up"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REOPENED = "reopened"
    MOVED = "moved"
    DUPLICATE_LINKED = "duplicate_linked"
    DUPLICATE_JOINED = "duplicate_joined"
    REROUTED = "rerouted"
    DELIVERY_FAILED = "delivery_failed"
    # The resident's personal data were erased: at their request, or when the retention period ran out.
    CONSENT_WITHDRAWN = "consent_withdrawn"
    ANONYMISED = "anonymised"
    BANNED = "banned"
    UNBANNED = "unbanned"
    # A term came near or passed, and the officials were reminded (text: "answer:near", "take:over"...).
    REMINDED = "reminded"
    # The resident's verdict on a resolution: fixed (closed for good), or not (reopened, in REOPENED's text);
    # and their rating of the answer (text: 1 to 5).
    CONFIRMED = "confirmed"
    RATED = "rated"


class Piece(StrEnum):
    """The parts of a report a resident fills in, in the order the bot asks for them."""

    CATEGORY = "category"
    DESCRIPTION = "description"
    LOCATION = "location"
    PHOTOS = "photos"


class Location(BaseModel):
    """Coordinates from the messenger, a typed address, or both."""

    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None

    @property
    def has_point(self) -> bool:
        """True when coordinates are known."""
        return self.latitude is not None and self.longitude is not None


class Draft(BaseModel):
    """A resident's dialog state: a report being written, and what their next message is for.

    Kept in storage (or Redis) so a restart loses nothing.
    """

    category_id: int | None = None
    description: str | None = None
    location: Location | None = None
    photos: list[str] = Field(default_factory=list)
    photos_skipped: bool = False
    awaiting: Piece | None = None
    # Sending the same draft twice (a double tap, a retry after a crash) must make one report.
    key: str = Field(default_factory=lambda: uuid.uuid4().hex)
    # The next message goes to the officials as an addition to this report (the resident chose it).
    about: int | None = None
    # A text written outside a report, kept while the resident says whether it is about an open report.
    pending_text: str | None = None

    @property
    def started(self) -> bool:
        """Whether a report is being written (not only a message about an earlier one)."""
        return bool(
            self.category_id is not None
            or self.description is not None
            or self.location is not None
            or self.photos
            or self.photos_skipped
            or self.awaiting is not None
        )


@dataclass(frozen=True, slots=True)
class Category:
    """A kind of problem; default ones carry a key so their names follow the reader's language."""

    id: int
    name: str
    builtin_key: str | None
    hidden: bool
    photo_required: bool
    answer_hours: float
    staff_chat_id: int | None = None
    take_hours: float = 4.0
    resolve_days: int = 8


class Verdict(StrEnum):
    """The resident's word on a resolution."""

    FIXED = "fixed"
    NOT_FIXED = "not_fixed"


class Term(StrEnum):
    """The three terms of a report: taken into work, first answer, resolution."""

    TAKE = "take"
    ANSWER = "answer"
    RESOLVE = "resolve"


class Stage(StrEnum):
    """When officials are reminded of a term: when it is near, and when it has passed."""

    NEAR = "near"
    OVER = "over"


TERMS = (Term.TAKE, Term.ANSWER, Term.RESOLVE)


def alert_bit(term: Term, stage: Stage) -> int:
    """The bit of `Report.reminded` that says this reminder was sent."""
    return 1 << (TERMS.index(term) * 2 + (stage is Stage.OVER))


ALL_ALERTS = (1 << (len(TERMS) * 2)) - 1


@dataclass(frozen=True, slots=True)
class Dues:
    """A report's due times, computed from its category's terms when it is filed, moved or reopened.

    Kept with the report and with the event that set them, so a later change of terms never rewrites the past.
    `remind_at` is the share of each term after which officials are reminded (REMIND_AT at the time).
    """

    start: datetime
    take: datetime
    answer: datetime
    resolve: datetime
    remind_at: float = 0.75

    def of(self, term: Term) -> datetime:
        """The due time of `term`."""
        return {Term.TAKE: self.take, Term.ANSWER: self.answer, Term.RESOLVE: self.resolve}[term]

    def alert_at(self, term: Term, stage: Stage) -> datetime:
        """When officials are reminded of `term` at `stage`."""
        due = self.of(term)
        return due if stage is Stage.OVER else self.start + (due - self.start) * self.remind_at


@dataclass(frozen=True, slots=True)
class Report:
    """A sent report as officials see it, with who works on it and where its card is."""

    id: int
    resident: ResidentRef
    resident_name: str
    category_id: int
    description: str
    location: Location
    photos: tuple[str, ...]
    status: Status
    created_at: datetime
    dues: Dues
    # The staff chat that holds its card and may act on it; None: the default staff chat.
    staff_chat: ChatRef | None = None
    assignee: str | None = None
    assignee_name: str | None = None
    duplicate_of: int | None = None
    follow_ups: int = 0
    # Bumped by every change, so two officials (or processes) changing it at once cannot both win.
    version: int = 0
    # Since its terms started (filed or reopened): when it was first taken into work, and first answered.
    taken_at: datetime | None = None
    answered_at: datetime | None = None
    # Which reminders were sent since its terms started (bits of `alert_bit`).
    reminded: int = 0
    # The resident's verdict on the resolution ("fixed" or "not_fixed") and rating (1 to 5).
    verdict: Verdict | None = None
    rating: int | None = None

    @property
    def anonymous(self) -> bool:
        """Whether its resident's personal data were erased: nobody gets its news."""
        return self.resident.anonymous

    @property
    def answer_due_at(self) -> datetime:
        """When the first answer is due."""
        return self.dues.answer

    def running(self, term: Term) -> bool:
        """Whether `term` still runs: the report is open and what the term asks has not happened yet."""
        if not self.status.open:
            return False
        if term is Term.TAKE:
            return self.taken_at is None
        if term is Term.ANSWER:
            return self.answered_at is None
        return True

    def overdue(self, term: Term) -> bool:
        """Whether officials were told that `term` has passed and it still runs (what its card shows)."""
        return self.running(term) and bool(self.reminded & alert_bit(term, Stage.OVER))

    @property
    def next_alert_at(self) -> datetime | None:
        """When the next reminder about it falls due, if any does (kept indexed, so a look finds due ones fast)."""
        times = [
            self.dues.alert_at(term, stage)
            for term in TERMS
            if self.running(term)
            for stage in (Stage.NEAR, Stage.OVER)
            if not self.reminded & alert_bit(term, stage)
        ]
        return min(times, default=None)


@dataclass(frozen=True, slots=True)
class Event:
    """One change in a report's life: what, when, who, and the status after it."""

    report_id: int
    kind: EventKind
    at: datetime
    author: str
    status_after: Status
    text: str | None = None
    # The messenger's id of what caused it (an official's message): a change whose source is recorded already
    # is not applied again, so an update handled twice (at least once, after a crash) answers the resident once.
    source: str | None = None
    # The official's display name as it was at the time ("who did it" in the history).
    author_name: str | None = None
    photos: tuple[str, ...] = ()
    # The due times this event set (filed, moved, reopened), as they were computed then.
    dues: Dues | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A platform-neutral button: a label and the action it triggers."""

    label: str
    action: str


Buttons = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class Ban:
    """A resident kept out by an official: their messages create nothing and reach no one."""

    resident: ResidentRef
    at: datetime
    author: str
    author_name: str | None = None
    report_id: int | None = None
