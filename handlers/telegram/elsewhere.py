"""Anything outside the private chats and the staff chat: a polite word for commands, silence otherwise."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.core.reception import Reception
from bot.core.replies import say
from handlers.telegram.keyboards import Answer, press_calls, reply_calls
from handlers.telegram.predicates import is_command


async def on_command_elsewhere(message: Message, reception: Reception) -> Answer:
    """Commands in a chat where the bot does not work."""
    _ = reception.locales.get(reception.config.staff_language)
    text = _("I work in a private chat with residents and in the staff chat of officials only.")
    return reply_calls(message.chat.id, [say(text)], reply_to=message.message_id)[0]


async def on_stray_press(callback: CallbackQuery, reception: Reception) -> Answer:
    """A press no router took: a forged or stale button."""
    _ = reception.locales.get(reception.config.staff_language)
    invalid = say(_("This button is no longer valid."), alert=True)
    return press_calls(callback.id, callback.from_user.id, [invalid])[0]


def build_router() -> Router:
    """The elsewhere router, new for every dispatcher."""
    router = Router(name="elsewhere")
    router.message.register(on_command_elsewhere, is_command)
    router.callback_query.register(on_stray_press)
    return router
