"""Whether the bot may post in a Telegram chat, learnt the only sure way: by posting a short message there."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramMigrateToChat

from bot.core.admin import Probe
from bot.core.models import ChatRef
from bot.text.rich import Rich
from handlers.telegram.calls import send_message
from handlers.telegram.compose import TEXT_LIMIT
from handlers.telegram.render import to_html
from handlers.telegram.session import perform


class TelegramProbe:
    """Posts the core's short message in a chat and says whether Telegram took it."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def probe(self, chat: ChatRef, text: Rich) -> Probe:
        """Post `text` in the chat; the reason Telegram gave if it refused, the new id if the group moved."""
        try:
            await perform(self._bot, send_message(chat.chat_id, to_html(text, TEXT_LIMIT)))
        except TelegramMigrateToChat as exc:
            return Probe(False, exc.message, ChatRef(chat.messenger, exc.migrate_to_chat_id))
        except TelegramAPIError as exc:
            return Probe(False, exc.message)
        return Probe(True)
