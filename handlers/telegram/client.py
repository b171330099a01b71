"""The aiogram `Bot` the Telegram adapter talks through, and the command menu residents see."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions

from bot.text.i18n import DEFAULT_LANGUAGE, LANGUAGES, Locales
from handlers.telegram.session import JsonSession

TelegramBot = Bot
TokenRejected = TelegramUnauthorizedError
"""Raised when Telegram rejects the bot's token (start-up stops with one line naming TELEGRAM_TOKEN)."""


def make_bot(token: str, api_url: str) -> Bot:
    """The aiogram Bot, pointed at `api_url`, sending HTML without link previews through our JSON session."""
    session = JsonSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)),
    )


async def set_commands(bot: Bot, locales: Locales) -> None:
    """The command menu residents see, in each language (the default one for every other language)."""
    for language in LANGUAGES:
        _ = locales.get(language)
        commands = [
            BotCommand(command="new", description=_("New report")),
            BotCommand(command="my", description=_("My reports")),
            BotCommand(command="cancel", description=_("Drop the draft")),
            BotCommand(command="help", description=_("How it works")),
            BotCommand(command="privacy", description=_("Personal data")),
            BotCommand(command="forget", description=_("Erase my personal data")),
        ]
        await bot.set_my_commands(
            commands,
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == DEFAULT_LANGUAGE else language,
        )
