"""Jobs done once per slot (a day, a week) across every process: the daily and the weekly summaries.

A slot is claimed in storage in the transaction that queues its messages, so several processes (or a restart)
never send it twice; a slot missed while the bot was down is sent at the first look after it, and a new database
starts counting at its first look (its first summary comes at the next summary time, not at start).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime

from bot.core.config import Clock
from bot.core.outbox import OutboxMessage
from storage.base import DeadlineStore


class SlotJob(ABC):
    """Sends its messages once per slot, when the slot's time has come."""

    job: str

    def __init__(self, storage: DeadlineStore, clock: Clock, on_enqueue: Callable[[], None]) -> None:
        self._storage = storage
        self._clock = clock
        self._on_enqueue = on_enqueue
        self._done: str | None = None
        self._started = False

    @property
    @abstractmethod
    def enabled(self) -> bool:
        """Whether the job is switched on."""

    @abstractmethod
    def slot(self, now: datetime) -> str | None:
        """The current slot once its time has come (None before it, or when the job is switched off)."""

    @abstractmethod
    def last_slot(self, now: datetime) -> str:
        """The latest slot whose time has come: the current one after its time, the one before it otherwise."""

    @abstractmethod
    async def messages(self, now: datetime) -> list[OutboxMessage]:
        """What the job sends for the slot of `now`."""

    async def maybe_send(self) -> bool:
        """Send the current slot's messages if its time has come and no process has sent them yet."""
        now = self._clock()
        if not self.enabled:
            return False
        if not self._started:
            # Known done (here or by another process): not composed again only to be refused by `claim_slot`.
            self._done = await self._storage.start_slots(self.job, self.last_slot(now))
            self._started = True
        slot = self.slot(now)
        if slot is None or (self._done is not None and slot <= self._done):
            return False
        messages = await self.messages(now)
        sent = await self._storage.claim_slot(self.job, slot, messages)
        self._done = slot  # sent here or by another process: either way, not again in this slot
        if sent:
            self._on_enqueue()
        return sent
