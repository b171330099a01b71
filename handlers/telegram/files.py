"""Photos from Telegram into the project's archive."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiogram import Bot

from handlers.telegram.calls import file_path_of, get_file
from handlers.telegram.session import json_session, perform
from storage.photos import MAX_PHOTO_BYTES, PhotoArchive


def alias_key(bot: Bot) -> str:
    """The archive's key for this bot's file ids (a file_id is valid only for the bot that received it)."""
    return f"tg{bot.id}"


class PhotoTooLarge(Exception):
    """Telegram's Bot API cannot hand over files this large."""


class PhotoFile(Protocol):
    """One size of a photo, as aiogram's `PhotoSize` or our `TgPhotoSize` has it."""

    @property
    def file_id(self) -> str: ...

    @property
    def file_size(self) -> int | None: ...


def largest_sizes(photos: Sequence[Sequence[PhotoFile] | None]) -> list[PhotoFile]:
    """The largest size of each photo (Telegram lists a photo's sizes smallest first); messages without one skipped."""
    return [sizes[-1] for sizes in photos if sizes]


async def archive_photos(bot: Bot, archive: PhotoArchive, sizes: Sequence[PhotoFile]) -> tuple[str, ...]:
    """Download each photo and archive it without its metadata; digests in the given order.

    PhotoTooLarge past the Bot API's download limit; BadPhoto (storage/photo_metadata.py) for an empty file or one
    that is not an image.
    """
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
