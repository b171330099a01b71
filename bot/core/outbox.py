"""The durable messages the core owes: queued with the change that owes them, delivered at least once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.models import Buttons, ChatRef, Messenger


class OutboxKind(StrEnum):
    """Kinds of durable messages; each is one platform call, so a retry repeats one step only."""

    TEXT = "text"
    PHOTO = "photo"
    ALBUM = "album"
    # The report's card in this chat, edited in place to `text` and `buttons`.
    EDIT = "edit"


@dataclass(frozen=True, slots=True)
class Card:
    """The message that is a report's card in a chat; `caption` is None when unknown (a card kept before edits)."""

    message_id: int
    caption: bool | None


class Role(StrEnum):
    """What a staff-chat message is to its report."""

    NONE = ""
    # The report's card: its message id is kept, so later changes edit it.
    CARD = "card"
    # The photos posted just before a card that does not carry them itself (an album, a long text).
    CARD_MEDIA = "card_media"


@dataclass(slots=True)
class OutboxMessage:
    """A message that must reach its chat even across restarts and platform failures.

    `text` is already in the messenger's own form (the adapter's composer rendered it).
    """

    messenger: Messenger
    chat_id: int
    kind: OutboxKind
    text: str = ""
    photos: tuple[str, ...] = ()
    buttons: Buttons = ()
    report_id: int | None = None
    # A reply to the sent message (the card, a resident's post, an answer) finds its report.
    link_to_report: bool = False
    priority: int = 0
    id: int | None = None
    attempts: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    role: Role = Role.NONE
    # Posted as a reply to the report's card in this chat (a resident's follow-up, a reminder).
    reply_to_card: bool = False

    @property
    def chat(self) -> ChatRef:
        """The chat it goes to."""
        return ChatRef(self.messenger, self.chat_id)

    def card(self, message_ids: Sequence[int]) -> Card | None:
        """The card this message made, once sent as `message_ids` (a card is the last: after its photos)."""
        if self.role is not Role.CARD or self.kind is OutboxKind.EDIT or not message_ids:
            return None
        return Card(message_ids[-1], caption=self.kind is OutboxKind.PHOTO)

    def links(self, message_ids: Sequence[int]) -> tuple[int, Card | None] | None:
        """What to remember once sent as `message_ids`: the report they show and the card among them, if any."""
        if self.report_id is None or not message_ids:
            return None
        card = self.card(message_ids)
        return (self.report_id, card) if self.link_to_report or card is not None else None

    @property
    def to_group(self) -> bool:
        """Whether it goes to a Telegram group (a staff chat); residents write in private chats (positive ids)."""
        return self.messenger is Messenger.TELEGRAM and self.chat_id < 0

    def lane(self, report_lanes: bool) -> int:
        """Within a chat, messages of one lane go strictly one after another; lanes go side by side.

        A resident's chat is one lane. With `report_lanes` (when no group budget paces a staff chat, see
        `bot.app.report_lanes`) a staff chat has a lane per report: a report's card, its photos, the edits of the
        card and the posts about it keep their order, while the cards of different reports need not wait for each
        other (one after another, a staff chat took a card per round trip, however fast the bot). The queue and
        the worker both ask here.
        """
        if report_lanes and self.to_group and self.report_id is not None:
            return self.report_id
        return 0


PRIORITY_RESIDENT = 10
PRIORITY_STAFF = 0


class Scope(StrEnum):
    """What a messenger refused for good."""

    # This message only (bad markup, too long...), or the resident's chat (the resident blocked the bot).
    MESSAGE = "message"
    # The whole chat: the bot was removed, the chat is gone, or it moved to a new id.
    CHAT = "chat"
    # The card this edit was for is gone (deleted, or too old to edit).
    CARD = "card"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a messenger refused a message for good, as its adapter understood it."""

    reason: str
    scope: Scope = Scope.MESSAGE
    # The chat moved (a Telegram group upgraded to a supergroup): its new id.
    moved_to: int | None = None
