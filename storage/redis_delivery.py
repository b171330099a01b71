"""The delivery queue on Redis for several processes; what delivery records about reports still goes to the records.

The records storage keeps its transactional outbox (a report and the messages it owes are written together);
`OutboxRelay` moves those messages into Redis, where any worker process may claim them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.core.lifecycle import Change
from bot.core.outbox import OutboxMessage
from storage.base import CardIndex, ReportStore
from storage.redis_queue import RedisQueue


class Records(CardIndex, ReportStore, Protocol):
    """What delivery needs of the records storage."""


class RedisDelivery:
    """The worker's queue: Redis for the messages, the records storage for links, cards and history."""

    # Claimed heads are leased to this process: the worker must send every one it claims.
    leases = True

    def __init__(self, queue: RedisQueue, records: Records) -> None:
        self.queue = queue
        self._records = records

    @property
    def report_lanes(self) -> bool:
        """Whether a staff chat has a lane per report (the queue decides; the worker keys by the same)."""
        return self.queue.report_lanes

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Queue messages directly in Redis."""
        await self.queue.enqueue(messages)

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Heads of due chats, leased to this process."""
        return await self.queue.claim_due(now, limit)

    async def mark_sent(self, message: OutboxMessage, message_ids: Sequence[int]) -> None:
        """Link the card to its report first: a crash before the ack repeats the post, never orphans it."""
        if (links := message.links(message_ids)) is not None:
            await self._records.link_messages(message.chat, message_ids, *links)
        await self.queue.mark_sent(message, message_ids)

    async def mark_retry(self, message: OutboxMessage, at: datetime, error: str) -> None:
        """Try again at `at`."""
        await self.queue.mark_retry(message, at, error)

    async def mark_failed(
        self,
        message: OutboxMessage,
        error: str,
        at: datetime,
        changes: Sequence[Change] = (),
        notices: Sequence[OutboxMessage] = (),
    ) -> None:
        """Record the failure on the report (and queue the notices) before dropping the message."""
        if changes or notices:
            await self._records.record(changes, notices)
        await self.queue.mark_failed(message, error, at)

    async def pending_count(self) -> int:
        """Messages waiting in Redis."""
        return await self.queue.pending_count()
