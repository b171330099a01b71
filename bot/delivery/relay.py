"""Moves messages from the records' transactional outbox into the Redis queue, oldest first.

A crash between queueing in Redis and forgetting the rows repeats those messages once: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from bot.core.locks import Locks
from bot.core.outbox import OutboxMessage
from storage.base import OutboxSource


class Destination(Protocol):
    """The queue the relay fills (Redis)."""

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None: ...


log = logging.getLogger(__name__)

BATCH = 500
POLL_SECONDS = 0.5


class OutboxRelay:
    """One relay at a time across processes (a Redis lock), so messages keep their order."""

    def __init__(self, records: OutboxSource, queue: Destination, locks: Locks, on_relayed: Callable[[], None]) -> None:
        self._records = records
        self._queue = queue
        self._locks = locks
        self._on_relayed = on_relayed
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was written to the outbox."""
        self._wake.set()

    async def relay_once(self) -> int:
        """Move one batch; returns how many messages moved."""
        async with self._locks.hold("outbox-relay"):
            messages = await self._records.peek_outbox(BATCH)
            if not messages:
                return 0
            relayed = [m.id for m in messages if m.id is not None]
            await self._queue.enqueue(messages)  # gives the messages Redis ids
            # The messages can go now: forgetting the rows and freeing the lock are not their business.
            self._on_relayed()
            await self._records.forget_outbox(relayed)
        return len(messages)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set."""
        while not stop.is_set():
            self._wake.clear()
            try:
                if await self.relay_once() == BATCH:
                    continue
            except Exception:
                log.exception("outbox relay failed; retrying")
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
