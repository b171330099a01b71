"""Send budgets that follow the messengers' published limits, so a surge is paced instead of answered with 429s.

Each budget is a sliding-window log: at most `limit` messages in any `window` seconds. Unlike a token bucket it
never lets a burst plus the refill exceed what a sliding-window counter on the platform's side allows.

The platform counts a message when its request arrives, which under a busy event loop can be tens of
milliseconds after we reserved it. So a message reserved with a ticket counts as on its way until `settle`, and
from then on at the moment its answer came back (no earlier than its arrival): two messages reserved exactly a
window apart can no longer arrive less than a window apart.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from bot.core.models import Messenger

SWEEP_EVERY = 1000
# The platform counts a message when it arrives, a moment after we counted it; keep a little clear of the edge.
MARGIN_FRACTION = 0.01
MARGIN_SECONDS = 0.025
# How often to look again when the window is full of messages still on their way (their time is not known yet).
IN_FLIGHT_POLL_SECONDS = 0.05


class SlidingWindow:
    """Times of the messages sent in the last `window` seconds, and how many are still on their way."""

    __slots__ = ("limit", "on_way", "sent", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.sent: deque[float] = deque()
        self.on_way = 0  # reserved, not yet settled: counted whatever their time turns out to be

    def wait_time(self, now: float, cost: int) -> float:
        """Seconds until `cost` more messages fit; 0 when they fit now (always, for a limit of 0: no budget)."""
        if self.limit <= 0:
            return 0.0
        while self.sent and self.sent[0] <= now - self.window * (1 + MARGIN_FRACTION) - MARGIN_SECONDS:
            self.sent.popleft()
        # A batch larger than the whole budget (a 10-photo album into a 1-per-second chat) waits for an empty window.
        need = min(cost, self.limit)
        used = len(self.sent) + self.on_way
        if used + need <= self.limit:
            return 0.0
        oldest_to_leave = used + need - self.limit - 1
        if oldest_to_leave >= len(self.sent):
            return IN_FLIGHT_POLL_SECONDS
        edge = self.sent[oldest_to_leave] + self.window - now
        return edge + self.window * MARGIN_FRACTION + MARGIN_SECONDS

    def record(self, now: float, cost: int) -> None:
        """Count `cost` messages sent at `now`."""
        if self.limit > 0:
            self.sent.extend([now] * cost)

    def hold(self, cost: int) -> None:
        """Count `cost` messages on their way."""
        if self.limit > 0:
            self.on_way += cost

    def settle(self, now: float, cost: int) -> None:
        """The `cost` messages on their way have arrived by `now` (stamps stay in order: `now` is the latest)."""
        if self.limit > 0:
            self.on_way -= cost
            self.sent.extend([now] * cost)

    @property
    def idle(self) -> bool:
        """Nothing in the window (safe to forget)."""
        return not self.sent and not self.on_way


class Budgets(Protocol):
    """Send budgets: in-process (`SendBudgets`) or shared by processes through Redis (`RedisSendBudgets`)."""

    async def reserve(self, messenger: Messenger, chat_id: int, cost: int = 1, ticket: str | None = None) -> float:
        """Count the messages and return 0 if they may go now, else the seconds to wait (nothing counted).

        With a `ticket` they count as on their way until `settle(ticket)`; without, as sent now.
        """
        ...

    async def settle(self, ticket: str) -> None:
        """The messages reserved with `ticket` have reached the messenger (or failed): they count from now."""
        ...


async def acquire(
    budgets: Budgets, messenger: Messenger, chat_id: int, cost: int = 1, ticket: str | None = None
) -> float:
    """Wait until the budgets let `cost` messages go to this chat and count them; returns how long it waited."""
    waited = 0.0
    while (wait := await budgets.reserve(messenger, chat_id, cost, ticket)) > 0:
        # A budget shared through Redis cannot wake us: look again when the messages should fit.
        await asyncio.sleep(wait)
        waited += wait
    return waited


@asynccontextmanager
async def sending(budgets: Budgets, messenger: Messenger, chat_id: int, cost: int = 1) -> AsyncIterator[None]:
    """Wait until the budgets let `cost` messages go to this chat, and count them for the block that sends them."""
    ticket = secrets.token_hex(8)
    await acquire(budgets, messenger, chat_id, cost, ticket)
    try:
        yield
    finally:
        await budgets.settle(ticket)


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """The limits, per messenger: Telegram's published ones by default; 0 switches a budget off."""

    telegram_group_per_minute: int = 20
    telegram_private_per_second: int = 1
    telegram_global_per_second: int = 30
    vk_per_second: int = 20


Journal = Callable[[Messenger, int, int, float], Awaitable[None]]
"""Keeps (messenger, chat, messages, wall-clock time) of a send whose window outlives a restart."""


class SendBudgets:
    """Per-chat and global budgets in this process; `reserve` counts a message when it may go out.

    With a `journal`, sends into groups (whose window, a minute, outlives a restart) are also written down before
    they go, and `replay` gives the next process what the journal kept.
    """

    def __init__(
        self, config: BudgetConfig, clock: Callable[[], float] = time.monotonic, journal: Journal | None = None
    ) -> None:
        self._config = config
        self._clock = clock
        self._journal = journal
        self._global = {
            Messenger.TELEGRAM: SlidingWindow(config.telegram_global_per_second, 1.0),
            Messenger.VK: SlidingWindow(config.vk_per_second, 1.0),
        }
        self._chats: dict[tuple[Messenger, int], SlidingWindow] = {}
        self._on_way: dict[str, tuple[list[SlidingWindow], int]] = {}
        self._acquired = 0

    def _chat(self, messenger: Messenger, chat_id: int) -> SlidingWindow | None:
        if messenger is not Messenger.TELEGRAM:
            return None  # VK publishes one limit per community, not per chat
        key = (messenger, chat_id)
        window = self._chats.get(key)
        if window is None:
            if chat_id < 0:
                window = SlidingWindow(self._config.telegram_group_per_minute, 60.0)
            else:
                window = SlidingWindow(self._config.telegram_private_per_second, 1.0)
            self._chats[key] = window
        return window

    def wait_time(self, messenger: Messenger, chat_id: int, cost: int = 1) -> float:
        """Seconds until a message of `cost` may go to this chat (0 when it may go now)."""
        now = self._clock()
        chat = self._chat(messenger, chat_id)
        waits = [self._global[messenger].wait_time(now, cost)]
        if chat is not None:
            waits.append(chat.wait_time(now, cost))
        return max(waits)

    async def reserve(self, messenger: Messenger, chat_id: int, cost: int = 1, ticket: str | None = None) -> float:
        """Count the messages if they may go now and return 0; otherwise count nothing and return the wait."""
        wait = self.wait_time(messenger, chat_id, cost)
        if wait > 0:
            return wait
        chat = self._chat(messenger, chat_id)
        windows = [self._global[messenger]] if chat is None else [self._global[messenger], chat]
        for window in windows:
            window.hold(cost)
        if ticket is None:
            self._settle(windows, cost)  # counted as sent now
        else:
            self._on_way[ticket] = (windows, cost)
        # After counting: a sweep forgets empty windows, this chat's among them.
        self._acquired += 1
        if self._acquired % SWEEP_EVERY == 0:
            self._sweep(self._clock())
        if chat is not None and self._journal is not None and chat.limit > 0 and chat.window > 1.0:
            # Only a group's window (a minute) outlives a restart; written before the message goes.
            await self._journal(messenger, chat_id, cost, time.time())
        return 0.0

    async def settle(self, ticket: str) -> None:
        """The messages reserved with `ticket` count from now on (an unknown or settled ticket is ignored)."""
        held = self._on_way.pop(ticket, None)
        if held is not None:
            self._settle(*held)

    def _settle(self, windows: list[SlidingWindow], cost: int) -> None:
        now = self._clock()
        for window in windows:
            window.settle(now, cost)

    def replay(self, sends: Iterable[tuple[Messenger, int, int, float]]) -> None:
        """Count messages an earlier process sent (messenger, chat, count, wall-clock time), oldest first.

        A restarted process that forgot the last minute sent a full window into a group that Telegram still
        counted, and drew a 429 with up to a minute's wait for each.
        """
        offset = self._clock() - time.time()
        for messenger, chat_id, cost, at in sends:
            moment = at + offset
            self._global[messenger].record(moment, cost)
            chat = self._chat(messenger, chat_id)
            if chat is not None:
                chat.record(moment, cost)

    def _sweep(self, now: float) -> None:
        for key, window in list(self._chats.items()):
            window.wait_time(now, 0)
            if window.idle:
                del self._chats[key]

    def __len__(self) -> int:
        return len(self._chats)
