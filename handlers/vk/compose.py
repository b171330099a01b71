"""The shapes of VK's messages: one message carries the text, up to 10 photos and the keyboard."""

from __future__ import annotations

from bot.core.models import Messenger
from bot.core.outbox import OutboxKind, OutboxMessage
from bot.core.replies import Outgoing
from handlers.vk.render import to_plain

ATTACHMENTS_LIMIT = 10


class VkComposer:
    """Turns the core's messages into VK calls: one `messages.send` each (photos uploaded on the way)."""

    def compose(self, chat_id: int, message: Outgoing) -> list[OutboxMessage]:
        """One message with its photos and buttons."""
        photos = message.photos[:ATTACHMENTS_LIMIT]
        return [
            OutboxMessage(
                messenger=Messenger.VK,
                chat_id=chat_id,
                kind=OutboxKind.PHOTO if photos else OutboxKind.TEXT,
                text=to_plain(message.text),
                photos=photos,
                buttons=message.buttons,
                report_id=message.report_id,
                link_to_report=message.link_to_report,
                priority=message.priority,
                role=message.role,
                reply_to_card=message.reply_to_card,
            )
        ]

    def message_url(self, chat_id: int, message_id: int) -> str | None:
        """None: VK has no links to a message of a group chat."""
        return None

    def edit(self, chat_id: int, card: Outgoing) -> OutboxMessage:
        """`messages.edit` of the card: its new text and keyboard (its photos stay)."""
        return OutboxMessage(
            messenger=Messenger.VK,
            chat_id=chat_id,
            kind=OutboxKind.EDIT,
            text=to_plain(card.text),
            buttons=card.buttons,
            report_id=card.report_id,
            priority=card.priority,
            role=card.role,
        )
