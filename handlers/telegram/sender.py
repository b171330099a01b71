"""Outbox messages to Telegram, with Telegram's failures mapped onto the worker's retry rules."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import BufferedInputFile, InputMediaPhoto, ReplyParameters

from bot.core.outbox import Card, OutboxKind, OutboxMessage
from handlers.telegram.calls import (
    edit_caption,
    edit_text,
    keyboard,
    message_id_of,
    message_ids_of,
    send_media_group,
    send_message,
    send_photo,
)
from handlers.telegram.failures import verdict
from handlers.telegram.files import alias_key
from handlers.telegram.session import perform_counted
from storage.photos import PhotoArchive

_NOT_MODIFIED = "message is not modified"


class TelegramSender:
    """Sends one outbox message with one Bot API call; photos by their file_id, or uploaded from the archive.

    The worker counted the message against the budgets before handing it over, so the call is not paced again.
    """

    def __init__(self, bot: Bot, archive: PhotoArchive) -> None:
        self._bot = bot
        self._archive = archive

    async def send(self, message: OutboxMessage, card: Card | None = None) -> list[int]:
        """Send (or edit the card) and return the ids of the Telegram messages made."""
        try:
            if message.kind is OutboxKind.EDIT:
                assert card is not None  # the worker finds the card first
                return await self._edit(message, card)
            return await self._send(message, card.message_id if card and message.reply_to_card else None)
        except TelegramAPIError as exc:
            judged = verdict(exc, edit=message.kind is OutboxKind.EDIT)
            if judged is exc:
                raise  # a 5xx, a network error or a revoked token: kept queued and tried again
            raise judged from exc

    async def _edit(self, m: OutboxMessage, card: Card) -> list[int]:
        """The card's new text and buttons; an edit that changes nothing is done already."""
        caption = m.extra.get("caption", m.text)
        try:
            if card.caption is None:
                # A card kept before edits existed: try it as a text, then as a photo's caption.
                try:
                    await perform_counted(self._bot, edit_text(m.chat_id, card.message_id, m.text, m.buttons))
                except TelegramBadRequest as exc:
                    if "no text in the message" not in exc.message.lower():
                        raise
                    await perform_counted(self._bot, edit_caption(m.chat_id, card.message_id, caption, m.buttons))
            elif card.caption:
                await perform_counted(self._bot, edit_caption(m.chat_id, card.message_id, caption, m.buttons))
            else:
                await perform_counted(self._bot, edit_text(m.chat_id, card.message_id, m.text, m.buttons))
        except TelegramBadRequest as exc:
            if _NOT_MODIFIED not in exc.message.lower():
                raise
        return [card.message_id]

    async def _send(self, m: OutboxMessage, reply_to: int | None) -> list[int]:
        if m.kind is OutboxKind.TEXT:
            call = send_message(m.chat_id, m.text, m.buttons, reply_to)
            return [message_id_of(await perform_counted(self._bot, call))]
        known = [await self._archive.alias(d, alias_key(self._bot)) for d in m.photos]
        try:
            if all(known):
                return await self._send_known(m, [k for k in known if k], reply_to)
            return await self._upload(m, known, reply_to)
        except TelegramBadRequest:
            if not any(known):
                raise
            # A file_id Telegram no longer knows (another bot token, say): the archive still has the bytes.
            return await self._upload(m, [None] * len(m.photos), reply_to)

    async def _send_known(self, m: OutboxMessage, file_ids: list[str], reply_to: int | None) -> list[int]:
        """Photos Telegram already has, by their file_id: a plain JSON call."""
        if m.kind is OutboxKind.PHOTO:
            call = send_photo(m.chat_id, file_ids[0], m.text, m.buttons, reply_to)
            return [message_id_of(await perform_counted(self._bot, call))]
        return message_ids_of(await perform_counted(self._bot, send_media_group(m.chat_id, file_ids, m.text, reply_to)))

    async def _upload(self, m: OutboxMessage, known: list[str | None], reply_to: int | None) -> list[int]:
        """Photos without a file_id go up from the archive (aiogram's multipart path); their new ids are kept."""
        photos: list[str | BufferedInputFile] = [
            file_id or BufferedInputFile(await self._archive.get(digest), filename=f"{digest[:16]}.jpg")
            for digest, file_id in zip(m.photos, known, strict=True)
        ]
        replying = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to is not None else None
        )
        if m.kind is OutboxKind.PHOTO:
            sent = [
                await self._bot.send_photo(
                    m.chat_id,
                    photos[0],
                    caption=m.text or None,
                    reply_markup=keyboard(m.buttons),  # type: ignore[arg-type]
                    reply_parameters=replying,
                )
            ]
        else:
            media = [
                InputMediaPhoto(media=p, caption=m.text if i == 0 and m.text else None) for i, p in enumerate(photos)
            ]
            sent = await self._bot.send_media_group(m.chat_id, media=media, reply_parameters=replying)  # type: ignore[arg-type]
        for digest, photo, message in zip(m.photos, photos, sent, strict=False):
            if not isinstance(photo, str) and message.photo:
                await self._archive.remember(digest, alias_key(self._bot), message.photo[-1].file_id)
        return [s.message_id for s in sent]
