"""The aiogram `Bot` the Telegram adapter talks through, and the command menu residents see."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import AiogramError, TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions, User

from bot.reach import why_unreachable
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


class ApiUnreachable(Exception):
    """The Telegram Bot API did not answer at all; the argument is why, in a few words (never the URL)."""


class ApiRefused(Exception):
    """The Bot API (or what TELEGRAM_API_URL points at) answered getMe with an error other than the token's."""


async def who_am_i(bot: Bot, timeout: float = 15.0) -> User:  # noqa: ASYNC109
    """getMe, with every way it can fail at start-up told apart: `TokenRejected`, `ApiUnreachable`, `ApiRefused`."""
    try:
        return await bot.get_me(request_timeout=int(timeout))
    except TelegramUnauthorizedError:
        raise
    except TelegramNetworkError as exc:
        raise ApiUnreachable(why_unreachable(exc)) from exc
    except TelegramAPIError as exc:
        raise ApiRefused(exc.message) from exc
    except AiogramError as exc:
        raise ApiRefused(f"not a Bot API answer ({type(exc).__name__})") from exc


async def chat_title(bot: Bot, chat_id: int, timeout: float = 15.0) -> str:  # noqa: ASYNC109
    """The title of a chat the bot is in; `ApiRefused` with Telegram's reason if it cannot read the chat."""
    try:
        chat = await bot.get_chat(chat_id, request_timeout=int(timeout))
    except TelegramNetworkError as exc:
        raise ApiUnreachable(why_unreachable(exc)) from exc
    except TelegramAPIError as exc:
        raise ApiRefused(exc.message) from exc
    return chat.title or str(chat_id)
