"""The delivery worker: drains the durable outbox into the messengers, retrying until delivered.

At-least-once: a message is removed from the outbox only after the messenger accepted it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.config import Clock
from bot.core.models import Messenger
from bot.core.outbox import Card, OutboxKind, OutboxMessage, Refusal, Scope
from bot.core.rerouting import Verdict
from bot.delivery.budgets import Budgets
from storage.base import CardIndex, ChatLanes, OutboxStore

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
HOLD_FOR_BUDGET_SECONDS = 2.0
IDLE_POLL_SECONDS = 1.0
# Lanes of one chat sent side by side (a staff chat without a group budget has one per report): at 500 updates a
# second four lanes were busy 80 % of the time and cards queued for them (p90 0.4 s); a crash repeats one per lane.
LANES_PER_CHAT = 8

Lane = tuple[Messenger, int, int]


class RetryLater(Exception):
    """The messenger asked us to wait (e.g. 429 with retry_after)."""

    def __init__(self, seconds: float, reason: str = "retry later") -> None:
        super().__init__(reason)
        self.seconds = seconds


class Undeliverable(Exception):
    """The messenger refuses this message for good (blocked by the user, chat gone, card gone)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class Sender(Protocol):
    """Sends one outbox message to its messenger and returns the ids of the messages it made.

    `card` is the report's card in the chat, for an edit of it or a post that replies to it.
    """

    async def send(self, message: OutboxMessage, card: Card | None = None) -> list[int]: ...


class RefusalPolicy(Protocol):
    """The core's rules for messages refused for good, and for messages to a chat that moved or broke."""

    async def redirect(self, message: OutboxMessage) -> list[OutboxMessage] | None: ...
    async def refused(self, message: OutboxMessage, refusal: Refusal) -> Verdict: ...


# A sent message's acknowledgement is asked again this many times (about half a minute in all) before its lease ends.
ACK_ATTEMPTS = 5


def backoff(attempts: int) -> float:
    """Seconds to wait after `attempts` failed tries: exponential, capped, with jitter."""
    base = min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts, 10))
    return base * random.uniform(0.5, 1.0)


@dataclass
class DeliveryStats:
    """What the worker did since it started (for logs and benchmarks)."""

    sent: int = 0
    retried: int = 0
    rate_limited: int = 0
    failed: int = 0


def cost_of(message: OutboxMessage) -> int:
    """How many messages the platform counts for this one: each photo of an album is one."""
    if message.kind is OutboxKind.ALBUM:
        return len(message.photos)
    if message.messenger is Messenger.VK:
        return 1 + 2 * len(message.photos)  # VK counts API calls: upload server + save per photo, then send
    return 1


class DeliveryWorker:
    """Sends due outbox messages: each chat lane strictly in order, many lanes at once, within the send budgets."""

    def __init__(
        self,
        storage: OutboxStore,
        senders: Mapping[Messenger, Sender],
        clock: Clock,
        policy: RefusalPolicy,
        cards: CardIndex,
        budgets: Budgets | None = None,
        concurrency: int = 16,
    ) -> None:
        self._storage = storage
        # Checked once: a runtime protocol check inspects the object's attributes every time it runs.
        self._lanes = storage if isinstance(storage, ChatLanes) else None
        # The queue decides whether a staff chat has a lane per report; keying sends otherwise would let a chat's
        # next message (handed over with the acknowledgement) go out twice, under two keys.
        self._report_lanes = bool(getattr(storage, "report_lanes", False))
        self._senders = senders
        self._clock = clock
        self._policy = policy
        self._cards = cards
        self._budgets = budgets
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._next_retry: float | None = None
        self._sending: set[Lane] = set()
        self._stopping = False
        self.stats = DeliveryStats()

    def _lane_of(self, message: OutboxMessage) -> Lane:
        """Messenger, chat and lane: the unit that keeps its order."""
        return message.messenger, message.chat_id, message.lane(self._report_lanes)

    def wake(self) -> None:
        """Something was queued: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, grace: float = 5.0) -> None:
        """Deliver until `stop` is set; sends under way get `grace` seconds to finish, the rest stay queued."""
        inflight: dict[Lane, asyncio.Task[None]] = {}
        while not stop.is_set():
            self._wake.clear()
            try:
                await self._start_due(inflight)
            except Exception:
                log.exception("delivery loop failed; retrying")
            await self._idle(inflight, stop)
        # Messages still waiting for their budget stay queued; sends under way may finish, and take no next one.
        self._stopping = True
        for key, task in inflight.items():
            if key not in self._sending:
                task.cancel()
        if inflight:
            _done, pending = await asyncio.wait(inflight.values(), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _start_due(self, inflight: dict[Lane, asyncio.Task[None]]) -> None:
        # Finished chats first: a leased head of a chat still listed here would be skipped and left hanging.
        for key in [k for k, t in inflight.items() if t.done()]:
            inflight.pop(key)
        free = self._concurrency - len(inflight)
        if free <= 0:
            return
        # A leasing queue (Redis) hands out only chats nobody works on, and every claimed head must be sent;
        # a reading queue (SQLite) returns in-flight chats' heads too, so ask for enough to fill the free slots.
        leases = getattr(self._storage, "leases", False)
        per_chat = Counter((messenger, chat) for messenger, chat, _ in inflight)
        for message in await self._storage.claim_due(self._clock(), free if leases else free + len(inflight)):
            key = self._lane_of(message)
            previous = inflight.get(key)
            if previous is not None and not leases:
                continue
            chat = (message.messenger, message.chat_id)
            if per_chat[chat] >= LANES_PER_CHAT and not leases:
                continue  # read again once one of the chat's lanes is done
            per_chat[chat] += 1
            # A leased head of a chat whose last send is still finishing goes right after it, never skipped.
            inflight[key] = asyncio.create_task(self._deliver(message, after=previous))
            free -= 1
            if free == 0:
                return

    async def _idle(self, inflight: dict[Lane, asyncio.Task[None]], stop: asyncio.Event) -> None:
        timeout = IDLE_POLL_SECONDS
        if self._next_retry is not None:
            timeout = max(0.0, min(timeout, self._next_retry - time.monotonic()))
            self._next_retry = None
        waiters: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(stop.wait()),
            *inflight.values(),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters[:2]:
                w.cancel()

    def _retry_at(self, message: OutboxMessage, seconds: float) -> datetime:
        soon = time.monotonic() + seconds
        if self._next_retry is None or soon < self._next_retry:
            self._next_retry = soon
        return self._clock() + timedelta(seconds=seconds)

    async def _deliver(self, message: OutboxMessage, after: asyncio.Task[None] | None = None) -> None:
        """Send a lane's head and, where the queue can tell, the lane's next due messages after it."""
        if after is not None:
            await asyncio.gather(after, return_exceptions=True)
        current: OutboxMessage | None = message
        while current is not None:
            head = current
            try:
                current = await self._deliver_one(head)
            except Exception as exc:
                # The queue itself failed (Redis restarting): the message stays leased and comes back after it.
                log.warning("outbox %s: the queue failed: %s", head.id, type(exc).__name__)
                return

    async def _send(self, sender: Sender, message: OutboxMessage, card: Card | None, ticket: str) -> list[int]:
        """Send, then tell the budgets the message has arrived (or failed): it counts from then on."""
        try:
            return await sender.send(message, card)
        finally:
            if self._budgets is not None:
                await self._budgets.settle(ticket)

    async def _deliver_one(self, message: OutboxMessage) -> OutboxMessage | None:
        """Try one message; when it was sent, the lane's next due message if the queue hands it over at once."""
        sender = self._senders.get(message.messenger)
        if sender is None:
            # A messenger not configured now (e.g. VK token removed): keep it for when it returns.
            await self._storage.mark_retry(message, self._retry_at(message, MAX_BACKOFF_SECONDS), "no sender")
            return None
        if message.to_group and (instead := await self._policy.redirect(message)) is not None:
            # Its chat moved or broke: what goes instead is queued, and this one is settled.
            if instead:
                await self._storage.enqueue(instead)
            await self._storage.mark_sent(message, [])
            self.wake()
            return None
        card = None
        if message.report_id is not None and (message.kind is OutboxKind.EDIT or message.reply_to_card):
            card = await self._cards.card_of(message.chat, message.report_id)
            if card is None and message.kind is OutboxKind.EDIT:
                await self._refused(message, Refusal("the card was never posted here", Scope.CARD))
                return None
        ticket = secrets.token_hex(8)
        if self._budgets is not None:
            cost = cost_of(message)
            while (wait := await self._budgets.reserve(message.messenger, message.chat_id, cost, ticket)) > 0:
                if wait > HOLD_FOR_BUDGET_SECONDS:
                    # Don't sit on a leased message for long (another worker would take it over when the lease
                    # ends): put it back, due when the budget allows.
                    await self._storage.mark_retry(message, self._retry_at(message, wait), "waiting for the budget")
                    return None
                await asyncio.sleep(wait)
        key = self._lane_of(message)
        self._sending.add(key)
        try:
            ids = await self._send(sender, message, card, ticket)
        except RetryLater as exc:
            self.stats.rate_limited += 1
            await self._storage.mark_retry(message, self._retry_at(message, exc.seconds), str(exc))
        except Undeliverable as exc:
            await self._refused(message, exc.refusal)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.retried += 1
            log.warning("outbox %s: attempt %d failed: %s", message.id, message.attempts + 1, type(exc).__name__)
            delay = backoff(message.attempts)
            await self._storage.mark_retry(message, self._retry_at(message, delay), repr(exc)[:300])
        else:
            self.stats.sent += 1
            following = await self._acknowledge(message, ids)
            self.wake()
            return following
        finally:
            self._sending.discard(key)
        return None

    async def _acknowledge(self, message: OutboxMessage, ids: list[int]) -> OutboxMessage | None:
        """Mark a sent message sent (and take its lane's next one); a queue failing for a moment (Redis restarting)
        is asked again, since a message not acknowledged would go out once more when its lease ends."""
        for attempt in range(ACK_ATTEMPTS):
            try:
                if self._lanes is not None and not self._stopping:
                    # Acknowledge and take the lane's next message in one step: a lane's backlog (a report's card
                    # and photos, a resident's answers) drains without a scheduling round per message.
                    return await self._lanes.mark_sent_and_next(message, ids, self._clock())
                await self._storage.mark_sent(message, ids)
                return None
            except Exception as exc:
                if attempt == ACK_ATTEMPTS - 1:
                    raise
                log.warning("outbox %s: acknowledging failed (%s); again shortly", message.id, type(exc).__name__)
                await asyncio.sleep(backoff(attempt))
        return None

    async def _refused(self, message: OutboxMessage, refusal: Refusal) -> None:
        """Settle a message refused for good as the core decides; if that fails, it is tried again later."""
        try:
            verdict = await self._policy.refused(message, refusal)
            if verdict.retry_in is not None:
                await self._storage.mark_retry(message, self._retry_at(message, verdict.retry_in), refusal.reason)
                return
            if verdict.replace is not None:
                if verdict.replace:
                    await self._storage.enqueue(verdict.replace)
                await self._storage.mark_sent(message, [])
            else:
                self.stats.failed += 1
                log.warning("outbox %s refused for good", message.id)
                await self._storage.mark_failed(
                    message, refusal.reason, self._clock(), verdict.changes, verdict.notices
                )
        except Exception:
            log.exception("outbox %s: settling a refusal failed; trying again later", message.id)
            await self._storage.mark_retry(message, self._retry_at(message, backoff(message.attempts)), refusal.reason)
            return
        self.wake()
