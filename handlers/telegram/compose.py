"""The shapes of Telegram's messages: a caption holds 1,024 characters, an album 10 photos and no buttons.

A message with one photo and a text that fits is one captioned photo; with several photos, an album and then the
text; a card keeps room in its caption for what later changes add (who took it, the messages that followed).
"""

from __future__ import annotations

from bot.core.models import Buttons, Messenger
from bot.core.outbox import OutboxKind, OutboxMessage, Role
from bot.core.replies import Outgoing
from handlers.telegram.render import to_html

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
ALBUM_LIMIT = 10
# What a card's later edits may add to its caption (status line, assignee, counts) before it would not fit.
CARD_CAPTION_ROOM = 200


class TelegramComposer:
    """Turns the core's messages into Telegram calls, one outbox message each."""

    def compose(self, chat_id: int, message: Outgoing) -> list[OutboxMessage]:
        """A captioned photo where it fits, else photos (one, or an album) then the text with the buttons."""

        def call(kind: OutboxKind, text: str, photos: tuple[str, ...], buttons: Buttons, card: bool) -> OutboxMessage:
            return OutboxMessage(
                messenger=Messenger.TELEGRAM,
                chat_id=chat_id,
                kind=kind,
                text=text,
                photos=photos,
                buttons=buttons,
                report_id=message.report_id,
                link_to_report=message.link_to_report,
                priority=message.priority,
                role=message.role if card else (Role.CARD_MEDIA if message.role is Role.CARD else Role.NONE),
                reply_to_card=message.reply_to_card,
            )

        photos = message.photos[:ALBUM_LIMIT]
        room = CARD_CAPTION_ROOM if message.role is Role.CARD else 0
        fits = len(message.text) + room <= CAPTION_LIMIT
        text = to_html(message.text, TEXT_LIMIT)
        if not photos:
            return [call(OutboxKind.TEXT, text, (), message.buttons, True)]
        if len(photos) == 1:
            if fits:
                return [call(OutboxKind.PHOTO, text, photos, message.buttons, True)]
            return [
                call(OutboxKind.PHOTO, "", photos, (), False),
                call(OutboxKind.TEXT, text, (), message.buttons, True),
            ]
        if fits and not message.buttons and message.role is not Role.CARD:
            return [call(OutboxKind.ALBUM, text, photos, (), True)]
        return [call(OutboxKind.ALBUM, "", photos, (), False), call(OutboxKind.TEXT, text, (), message.buttons, True)]

    def message_url(self, chat_id: int, message_id: int) -> str | None:
        """t.me/c/… for a supergroup's message (its id is -100 followed by the part the link uses); None otherwise."""
        text = str(chat_id)
        if not text.startswith("-100") or len(text) <= 4:
            return None
        return f"https://t.me/c/{text[4:]}/{message_id}"

    def edit(self, chat_id: int, card: Outgoing) -> OutboxMessage:
        """editMessageText of a text card or editMessageCaption of a photo's (the shorter form kept for that)."""
        return OutboxMessage(
            messenger=Messenger.TELEGRAM,
            chat_id=chat_id,
            kind=OutboxKind.EDIT,
            text=to_html(card.text, TEXT_LIMIT),
            buttons=card.buttons,
            report_id=card.report_id,
            priority=card.priority,
            role=Role.CARD,
            extra={"caption": to_html(card.text, CAPTION_LIMIT)},
        )
