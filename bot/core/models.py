"""The report, its pieces and its history: plain data shared by every part of the bot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Messenger(StrEnum):
    """Where a resident writes from."""

    TELEGRAM = "tg"
    VK = "vk"


@dataclass(frozen=True, slots=True)
class ResidentRef:
    """A resident is identified by messenger and user id everywhere."""

    messenger: Messenger
    user_id: int

    @property
    def key(self) -> str:
        """Stable text form used as a storage key, e.g. `tg:123`."""
        return f"{self.messenger.value}:{self.user_id}"

    @classmethod
    def parse(cls, key: str) -> ResidentRef:
        """Inverse of `key`."""
        messenger, _, user_id = key.partition(":")
        return cls(Messenger(messenger), int(user_id))


@dataclass(frozen=True, slots=True)
class ResidentProfile:
    """What we keep about a resident: a display name for officials and the language of replies."""

    ref: ResidentRef
    display_name: str
    language: str


class Status(StrEnum):
    """The states of a report's life."""

    DRAFT = "draft"
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"

    @property
    def closed(self) -> bool:
        """A closed report takes no more status changes."""
        return self in (Status.RESOLVED, Status.REJECTED)


class EventKind(StrEnum):
    """What can happen to a report; every event is kept in its history."""

    CREATED = "created"
    TAKEN = "taken"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    DELIVERY_FAILED = "delivery_failed"


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
    """A report being written; kept in storage so a restart does not lose it."""

    category_id: int | None = None
    description: str | None = None
    location: Location | None = None
    photos: list[str] = Field(default_factory=list)
    photos_skipped: bool = False
    awaiting: Piece | None = None
    # Sending the same draft twice (a double tap, a retry after a crash) must make one report.
    key: str = Field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class Category:
    """A kind of problem; default ones carry a key so their names follow the reader's language."""

    id: int
    name: str
    builtin_key: str | None
    hidden: bool
    photo_required: bool
    answer_hours: int
    staff_chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A sent report as officials see it."""

    id: int
    resident: ResidentRef
    resident_name: str
    category_id: int
    description: str
    location: Location
    photos: tuple[str, ...]
    status: Status
    created_at: datetime
    answer_due_at: datetime


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


@dataclass(frozen=True, slots=True)
class Button:
    """A platform-neutral button: a label and the action it triggers."""

    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the core wants shown to the person it is talking to (HTML-safe text)."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    alert: bool = False


class OutboxKind(StrEnum):
    """Kinds of durable messages; each is one platform call, so a retry repeats one step only."""

    TEXT = "text"
    PHOTO = "photo"
    ALBUM = "album"


@dataclass(slots=True)
class OutboxMessage:
    """A message that must reach its chat even across restarts and platform failures."""

    messenger: Messenger
    chat_id: int
    kind: OutboxKind
    text: str = ""
    photos: tuple[str, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    report_id: int | None = None
    link_to_report: bool = False
    priority: int = 0
    id: int | None = None
    attempts: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def to_group(self) -> bool:
        """Whether it goes to a Telegram group (a staff chat); residents write in private chats (positive ids)."""
        return self.messenger is Messenger.TELEGRAM and self.chat_id < 0

    def lane(self, report_lanes: bool) -> int:
        """Within a chat, messages of one lane go strictly one after another; lanes go side by side.

        A resident's chat is one lane. With `report_lanes` (when no group budget paces a staff chat, see
        `bot.app.report_lanes`) a staff chat has a lane per report: a report's card, its photos and the posts about
        it keep their order, while the cards of different reports need not wait for each other (one after another,
        a staff chat took a card per round trip, however fast the bot). The queue and the worker both ask here.
        """
        if report_lanes and self.to_group and self.report_id is not None:
            return self.report_id
        return 0


PRIORITY_RESIDENT = 10
PRIORITY_STAFF = 0
