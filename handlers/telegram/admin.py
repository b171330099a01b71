"""Administrators' category commands: in private, in the staff chats, and `/category_chat ID` in a group."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.core.admin import COMMANDS, AdminCommand
from bot.core.models import ChatRef, Messenger
from bot.core.reception import Reception
from bot.text.i18n import pick_language
from handlers.telegram.keyboards import send_replies
from handlers.telegram.predicates import has_author


def build_router() -> Router:
    """Admin commands, heard in every chat; the core decides where each may work."""
    router = Router(name="admin")
    router.message.filter(has_author)

    # Any case, as the residents' lane sends any case of these commands here.
    @router.message(Command(*COMMANDS, ignore_case=True))
    async def on_admin(message: Message, command: CommandObject, bot: Bot, reception: Reception) -> None:
        """Run a category command for an administrator; everyone else is refused."""
        assert message.from_user is not None
        private = message.chat.type == ChatType.PRIVATE
        language = pick_language(message.from_user.language_code) if private else reception.config.staff_language
        request = AdminCommand(
            user_id=message.from_user.id,
            chat=ChatRef(Messenger.TELEGRAM, message.chat.id),
            private=private,
            command=command.command.lower(),
            args=command.args or "",
        )
        reply = await reception.admin.handle(request, reception.locales.get(language))
        await send_replies(bot, message.chat.id, [reply], reply_to=message.message_id)

    return router
