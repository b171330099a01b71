"""Photos from Telegram into the project's archive."""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.types import Message

from bot.photos import MAX_PHOTO_BYTES, PhotoArchive
from handlers.telegram.calls import file_path_of, get_file
from handlers.telegram.session import json_session, perform


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

    session = json_session(bot)

    async def fetch(file_id: str) -> str:
        path = file_path_of(await perform(bot, get_file(file_id)))
        if path is None:
            raise PhotoTooLarge
        data = await session.download(bot, file_id, path, MAX_PHOTO_BYTES)
        return await archive.put(data, {alias_key(bot): file_id})

    return tuple(await asyncio.gather(*(fetch(s.file_id) for s in sizes)))
