"""Figures commands (`/stats`): in the staff chats, and for administrators in private; the core decides who may."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.core.models import ChatRef, Messenger
from bot.core.reception import Reception
from bot.core.stats import COMMANDS, FiguresRequest
from bot.text.i18n import pick_language
from handlers.telegram.keyboards import send_replies
from handlers.telegram.predicates import has_author


def build_router() -> Router:
    """Figures commands, heard in every chat (as the residents' lane sends any case of them here)."""
    router = Router(name="figures")
    router.message.filter(has_author)

    @router.message(Command(*COMMANDS, ignore_case=True))
    async def on_figures(message: Message, command: CommandObject, bot: Bot, reception: Reception) -> None:
        """Answer a figures command with text and files, or refuse it in one line."""
        assert message.from_user is not None
        private = message.chat.type == ChatType.PRIVATE
        language = pick_language(message.from_user.language_code) if private else reception.config.staff_language
        request = FiguresRequest(
            user_id=message.from_user.id,
            chat=ChatRef(Messenger.TELEGRAM, message.chat.id),
            private=private,
            command=command.command.lower(),
            args=command.args or "",
        )
        replies = await reception.stats.handle(request, reception.locales.get(language))
        await send_replies(bot, message.chat.id, replies, reply_to=message.message_id)

    return router
