"""What the core says, platform-neutral: live replies, and the durable messages it asks each messenger to shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.core.models import Buttons, Messenger
from bot.core.outbox import OutboxMessage, Role
from bot.text.rich import Rich, RichLike, as_rich


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file shown with a reply: a picture (`photo`) or a document, from bytes or from a file the sender removes."""

    name: str
    data: bytes | None = None
    path: Path | None = None
    photo: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """One message shown at once to the person the core is talking to; `alert` pops up over a pressed button.

    `files` follow the text, each as its own message (a chart, an export).
    """

    text: Rich
    buttons: Buttons = ()
    alert: bool = False
    files: tuple[Attachment, ...] = ()


def say(text: RichLike, buttons: Buttons = (), alert: bool = False) -> Reply:
    """A reply of plain or rich text."""
    return Reply(as_rich(text), buttons, alert)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A durable message before a messenger shaped it: text, photos and buttons, and what it is to its report."""

    text: Rich
    photos: tuple[str, ...] = ()
    buttons: Buttons = ()
    report_id: int | None = None
    link_to_report: bool = False
    role: Role = Role.NONE
    reply_to_card: bool = False
    priority: int = 0


class Composer(Protocol):
    """A messenger's shapes: how many platform calls a message takes, its markup and its limits."""

    def compose(self, chat_id: int, message: Outgoing) -> list[OutboxMessage]:
        """The platform calls that show `message` in the chat, one outbox message each, in order."""
        ...

    def edit(self, chat_id: int, card: Outgoing) -> OutboxMessage:
        """The call that changes the report's card in the chat to show `card` (text and buttons)."""
        ...

    def message_url(self, chat_id: int, message_id: int) -> str | None:
        """A link that opens a message of a staff chat for its members, where the messenger has such links."""
        ...


Composers = Mapping[Messenger, Composer]
