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

from bot.core.models import OutboxKind, OutboxMessage
from bot.delivery.worker import RetryLater, Undeliverable
from handlers.telegram.calls import keyboard, message_id_of, message_ids_of, send_media_group, send_message, send_photo
from handlers.telegram.files import alias_key
from handlers.telegram.session import perform_counted
from storage.photos import PhotoArchive


class TelegramSender:
    """Sends one outbox message with one Bot API call; photos by their file_id, or uploaded from the archive.

    The worker counted the message against the budgets before handing it over, so the call is not paced again.
    """

    def __init__(self, bot: Bot, archive: PhotoArchive) -> None:
        self._bot = bot
        self._archive = archive

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
            return [message_id_of(await perform_counted(self._bot, send_message(m.chat_id, m.text, m.buttons)))]
        known = [await self._archive.alias(d, alias_key(self._bot)) for d in m.photos]
        try:
            if all(known):
                return await self._send_known(m, [k for k in known if k])
            return await self._upload(m, known)
        except TelegramBadRequest:
            if not any(known):
                raise
            # A file_id Telegram no longer knows (another bot token, say): the archive still has the bytes.
            return await self._upload(m, [None] * len(m.photos))

    async def _send_known(self, m: OutboxMessage, file_ids: list[str]) -> list[int]:
        """Photos Telegram already has, by their file_id: a plain JSON call."""
        if m.kind is OutboxKind.PHOTO:
            return [
                message_id_of(await perform_counted(self._bot, send_photo(m.chat_id, file_ids[0], m.text, m.buttons)))
            ]
        return message_ids_of(await perform_counted(self._bot, send_media_group(m.chat_id, file_ids, m.text)))

    async def _upload(self, m: OutboxMessage, known: list[str | None]) -> list[int]:
        """Photos without a file_id go up from the archive (aiogram's multipart path); their new ids are kept."""
        photos: list[str | BufferedInputFile] = [
            file_id or BufferedInputFile(await self._archive.get(digest), filename=f"{digest[:16]}.jpg")
            for digest, file_id in zip(m.photos, known, strict=True)
        ]
        if m.kind is OutboxKind.PHOTO:
            sent = [
                await self._bot.send_photo(
                    m.chat_id,
                    photos[0],
                    caption=m.text or None,
                    reply_markup=keyboard(m.buttons),  # type: ignore[arg-type]
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
