"""Collect a Telegram album (several updates sharing media_group_id) into one step."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject


class _Part(Protocol):
    @property
    def message_id(self) -> int: ...

    @property
    def caption(self) -> str | None: ...


P = TypeVar("P", bound=_Part)


class AlbumCollector(Generic[P]):
    """Holds the first part of an album until no more parts arrive, then hands over all of them.

    Nothing marks an album's last part, so we wait until `quiet` seconds pass without a new one.
    """

    def __init__(self, quiet: float) -> None:
        self._quiet = quiet
        self._albums: dict[tuple[int, str], list[P]] = {}

    async def collect(self, chat_id: int, media_group_id: str, part: P) -> list[P] | None:
        """All parts in order, for the first part once the album is complete; None for the later parts."""
        key = (chat_id, media_group_id)
        parts = self._albums.get(key)
        if parts is not None:
            parts.append(part)
            return None
        parts = self._albums[key] = [part]
        seen = 0
        while seen != len(parts):
            seen = len(parts)
            await asyncio.sleep(self._quiet)
        del self._albums[key]
        parts.sort(key=lambda m: m.message_id)
        return parts


def album_lead(parts: list[P]) -> P:
    """The part that speaks for the album: the one with the caption, or the first."""
    return next((m for m in parts if m.caption), parts[0])


class AlbumMiddleware(BaseMiddleware):
    """An album reaches aiogram's handlers once: `album` (all parts, in order) with the part that has the caption."""

    def __init__(self, quiet: float) -> None:
        self._albums: AlbumCollector[Message] = AlbumCollector(quiet)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.media_group_id is None:
            return await handler(event, data)
        parts = await self._albums.collect(event.chat.id, event.media_group_id, event)
        if parts is None:
            return None
        data["album"] = parts
        return await handler(album_lead(parts), data)
