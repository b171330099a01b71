"""Which staff chat handles what: a category may have its own department chat, the rest go to the default one."""

from __future__ import annotations

import time

from bot.core.models import Category
from storage.base import Storage

CACHE_SECONDS = 5.0


class StaffRouting:
    """Routes reports to staff chats and tells whether a chat is one of them."""

    def __init__(self, storage: Storage, default_chat_id: int) -> None:
        self._storage = storage
        self.default_chat_id = default_chat_id
        self._cached: set[int] = set()
        self._cached_at = float("-inf")

    def chat_for(self, category: Category | None) -> int:
        """The staff chat of a category."""
        if category is not None and category.staff_chat_id is not None:
            return category.staff_chat_id
        return self.default_chat_id

    async def chat_for_report(self, report_id: int) -> int:
        """The staff chat where a report's card went."""
        report = await self._storage.get_report(report_id)
        category = await self._storage.get_category(report.category_id) if report else None
        return self.chat_for(category)

    async def is_staff_chat(self, chat_id: int) -> bool:
        """The default staff chat or a department chat (cached briefly: checked on every group message)."""
        if chat_id == self.default_chat_id:
            return True
        # Other processes may change routing too, so the cache is short-lived rather than only invalidated here.
        if time.monotonic() - self._cached_at > CACHE_SECONDS:
            self._cached = await self._storage.staff_chats()
            self._cached_at = time.monotonic()
        return chat_id in self._cached

    def invalidate(self) -> None:
        """Routing changed in this process: re-read it on the next check."""
        self._cached_at = float("-inf")
