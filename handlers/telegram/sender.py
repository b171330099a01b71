"""Outbox messages to Telegram, with Telegram's failures mapped onto the worker's retry rules."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, InputMediaPhoto

from bot.delivery import RetryLater, Undeliverable
from bot.models import OutboxKind, OutboxMessage
from bot.photos import PhotoArchive
from handlers.telegram.keyboards import inline_keyboard


class TelegramSender:
    """Sends one outbox message with one Bot API call, uploading photos from the archive."""

    def __init__(self, bot: Bot, archive: PhotoArchive) -> None:
        self._bot = bot
        self._archive = archive

    async def _file(self, digest: str) -> BufferedInputFile:
        return BufferedInputFile(await self._archive.get(digest), filename=f"{digest[:16]}.jpg")

    async def send(self, message: OutboxMessage) -> list[int]:
        """Send and return the ids of the Telegram messages made."""
        try:
            return await self._send(message)
        except TelegramRetryAfter as exc:
            raise RetryLater(float(exc.retry_after), "429 Too Many Requests") from exc
        except (TelegramForbiddenError, TelegramNotFound, TelegramMigrateToChat) as exc:
            raise Undeliverable(exc.message) from exc
        except TelegramUnauthorizedError:
            raise  # a revoked token: keep everything queued until an administrator fixes it
        except TelegramBadRequest as exc:
            # A 400 will not pass on retry (chat not found, user deactivated, bad markup).
            raise Undeliverable(exc.message) from exc

    async def _send(self, m: OutboxMessage) -> list[int]:
        markup = inline_keyboard(m.buttons)
        if m.kind is OutboxKind.TEXT:
            sent = await self._bot.send_message(m.chat_id, m.text, reply_markup=markup)
            return [sent.message_id]
        if m.kind is OutboxKind.PHOTO:
            sent = await self._bot.send_photo(
                m.chat_id, await self._file(m.photos[0]), caption=m.text or None, reply_markup=markup
            )
            return [sent.message_id]
        media = [
            InputMediaPhoto(media=await self._file(d), caption=m.text if i == 0 and m.text else None)
            for i, d in enumerate(m.photos)
        ]
        album = await self._bot.send_media_group(m.chat_id, media=media)  # type: ignore[arg-type]
        return [s.message_id for s in album]
