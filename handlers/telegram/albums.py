"""Collect a Telegram album (several updates sharing media_group_id) into one step."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject


class AlbumMiddleware(BaseMiddleware):
    """Holds the first message of an album until no more parts arrive, then handles them together.

    Nothing marks an album's last part, so we wait until `quiet` seconds pass without a new one.
    The handler gets `album` (all parts, in order) and the part that carries the caption.
    """

    def __init__(self, quiet: float) -> None:
        self._quiet = quiet
        self._albums: dict[tuple[int, str], list[Message]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.media_group_id is None:
            return await handler(event, data)
        key = (event.chat.id, event.media_group_id)
        parts = self._albums.get(key)
        if parts is not None:
            parts.append(event)
            return None
        parts = self._albums[key] = [event]
        seen = 0
        while seen != len(parts):
            seen = len(parts)
            await asyncio.sleep(self._quiet)
        del self._albums[key]
        parts.sort(key=lambda m: m.message_id)
        data["album"] = parts
        lead = next((m for m in parts if m.caption), parts[0])
        return await handler(lead, data)
