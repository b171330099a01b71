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
from handlers.telegram.files import alias_key
from handlers.telegram.keyboards import inline_keyboard


class TelegramSender:
    """Sends one outbox message with one Bot API call; photos by their file_id, or uploaded from the archive."""

    def __init__(self, bot: Bot, archive: PhotoArchive) -> None:
        self._bot = bot
        self._archive = archive

    async def _photo(self, digest: str, upload: bool) -> str | BufferedInputFile:
        """The photo by the file_id Telegram gave it, or its bytes from the archive."""
        if not upload and (file_id := await self._archive.alias(digest, alias_key(self._bot))):
            return file_id
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
        if m.kind is OutboxKind.TEXT:
            sent = await self._bot.send_message(m.chat_id, m.text, reply_markup=inline_keyboard(m.buttons))
            return [sent.message_id]
        photos = [await self._photo(d, upload=False) for d in m.photos]
        try:
            return await self._send_photos(m, photos)
        except TelegramBadRequest:
            if not any(isinstance(p, str) for p in photos):
                raise
            # A file_id Telegram no longer knows (another bot token, say): the archive still has the bytes.
            return await self._send_photos(m, [await self._photo(d, upload=True) for d in m.photos])

    async def _send_photos(self, m: OutboxMessage, photos: list[str | BufferedInputFile]) -> list[int]:
        if m.kind is OutboxKind.PHOTO:
            sent = [
                await self._bot.send_photo(
                    m.chat_id, photos[0], caption=m.text or None, reply_markup=inline_keyboard(m.buttons)
                )
            ]
        else:
            media = [
                InputMediaPhoto(media=p, caption=m.text if i == 0 and m.text else None) for i, p in enumerate(photos)
            ]
            sent = await self._bot.send_media_group(m.chat_id, media=media)  # type: ignore[arg-type]
        for digest, photo, message in zip(m.photos, photos, sent, strict=False):
            if not isinstance(photo, str) and message.photo:
                await self._archive.remember(digest, alias_key(self._bot), message.photo[-1].file_id)
        return [s.message_id for s in sent]
