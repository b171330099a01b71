"""Photos from Telegram into the project's archive."""

from __future__ import annotations

import asyncio
from io import BytesIO

from aiogram import Bot
from aiogram.types import Message

from bot.photos import MAX_PHOTO_BYTES, PhotoArchive


def alias_key(bot: Bot) -> str:
    """The archive's key for this bot's file ids (a file_id is valid only for the bot that received it)."""
    return f"tg{bot.id}"


class PhotoTooLarge(Exception):
    """Telegram's Bot API cannot hand over files this large."""


async def archive_photos(bot: Bot, archive: PhotoArchive, messages: list[Message]) -> tuple[str, ...]:
    """Download the largest size of each message's photo and archive it; digests in message order."""
    sizes = [m.photo[-1] for m in messages if m.photo]
    if any((s.file_size or 0) > MAX_PHOTO_BYTES for s in sizes):
        raise PhotoTooLarge

    async def fetch(file_id: str) -> str:
        file = await bot.get_file(file_id)
        if file.file_path is None:
            raise PhotoTooLarge
        buffer = await bot.download_file(file.file_path, BytesIO())
        assert isinstance(buffer, BytesIO)
        return await archive.put(buffer.getvalue(), {alias_key(bot): file_id})

    return tuple(await asyncio.gather(*(fetch(s.file_id) for s in sizes)))
