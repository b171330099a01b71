"""Which staff chat handles what, and which chat may act on which report.

A category may have its own department chat; the rest go to the default staff chat. A report's card lives in one
staff chat (`Report.staff_chat`), and only that chat and the default staff chat may act on the report. A chat
that moved (a group upgraded to a supergroup) is followed to its new id; one that broke is not used again.
"""

from __future__ import annotations

import time
from typing import Protocol

from bot.core.models import Category, ChatRef, Messenger, Report
from storage.base import BrokenChat, CategoryStore, RouteStore

CACHE_SECONDS = 5.0


class Routes(CategoryStore, RouteStore, Protocol):
    """What routing reads from storage."""


class StaffRouting:
    """Routes reports to staff chats and decides which chat may act on which report."""

    def __init__(self, storage: Routes, default_chat: ChatRef) -> None:
        self._storage = storage
        self._configured = default_chat
        self._chats: set[ChatRef] = set()
        self._broken: dict[ChatRef, BrokenChat] = {}
        self._read_at = float("-inf")

    @property
    def default_chat(self) -> ChatRef:
        """The default staff chat (followed to its new id if the group moved)."""
        return self.follow(self._configured)

    def follow(self, chat: ChatRef) -> ChatRef:
        """Where a chat lives now: itself, or the id it moved to (as far as this process has read)."""
        seen = {chat}
        while (broken := self._broken.get(chat)) is not None and broken.moved_to is not None:
            chat = broken.moved_to
            if chat in seen:
                break
            seen.add(chat)
        return chat

    def broken(self, chat: ChatRef) -> BrokenChat | None:
        """Why a chat is not used any more, if it broke or moved."""
        return self._broken.get(chat)

    def chat_for(self, category: Category | None) -> ChatRef:
        """The staff chat of a category's new reports."""
        if category is not None and category.staff_chat_id is not None:
            return self.follow(ChatRef(Messenger.TELEGRAM, category.staff_chat_id))
        return self.default_chat

    def chat_of(self, report: Report) -> ChatRef:
        """The staff chat holding a report's card."""
        return self.follow(report.staff_chat) if report.staff_chat is not None else self.default_chat

    def may_act(self, chat: ChatRef, report: Report) -> bool:
        """Whether officials in `chat` may act on the report: its own chat, or the default staff chat."""
        chat = self.follow(chat)
        return chat == self.default_chat or chat == self.chat_of(report)

    async def refresh(self, force: bool = False) -> None:
        """Re-read the staff chats and broken routes (cached briefly: other processes change routing too)."""
        if not force and time.monotonic() - self._read_at <= CACHE_SECONDS:
            return
        departments = {ChatRef(Messenger.TELEGRAM, c) for c in await self._storage.staff_chats()}
        holding = await self._storage.report_chats()
        self._broken = {b.chat: b for b in await self._storage.broken_chats()}
        self._chats = {self.follow(c) for c in departments | holding}
        self._read_at = time.monotonic()

    async def is_staff_chat(self, chat: ChatRef) -> bool:
        """The default staff chat, a department chat, or a chat still holding open reports' cards."""
        if chat == self.default_chat:
            return True
        await self.refresh()
        return chat in self._chats or chat == self.default_chat

    def invalidate(self) -> None:
        """Routing changed in this process: re-read it on the next check."""
        self._read_at = float("-inf")
