"""Optional Telegram-like flood limits for outgoing messages (off by default).

Algorithm: a *sliding window log* per key.  Each key (the global bot budget, and one per chat)
keeps the timestamps of messages it accepted during the last window; a new message is accepted
when the window holds fewer than ``limit`` entries.  Unlike a token bucket this gives exact,
reproducible answers in tests ("the 21st message in a minute is refused") and lets us compute
``retry_after`` as the moment the oldest entry leaves the window.

Defaults follow Telegram's published guidance: 20 messages per minute into one group,
about 1 per second into one private chat, 30 per second overall.  ``factor`` multiplies every
limit (0.5 halves them, 2 doubles them); each limit can also be set individually.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RateLimitConfig:
    """Flood-limit settings; ``enabled`` is False unless a test or the sandbox turns limits on."""

    enabled: bool = False
    group_per_minute: int = 20
    private_per_second: int = 1
    global_per_second: int = 30
    factor: float = 1.0

    def effective(self, base: int) -> int:
        """A base limit scaled by ``factor``; never below one message per window."""
        return max(1, math.floor(base * self.factor))

    def to_json(self) -> dict[str, Any]:
        """Plain-dict form for the control API."""
        return asdict(self)


class SlidingWindow:
    """Timestamps of accepted events within the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.events: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.events and self.events[0] <= now - self.window:
            self.events.popleft()

    def wait_time(self, now: float, limit: int, n: int = 1) -> float:
        """Seconds until ``n`` more events fit under ``limit``; 0.0 when they fit now."""
        self._expire(now)
        if len(self.events) + n <= limit:
            return 0.0
        if n > limit:
            # A batch bigger than the whole budget (a 10-photo album into a 1/s chat) is let
            # through once the window is empty, instead of being refused forever.
            return 0.0 if not self.events else self.events[-1] + self.window - now
        must_expire = len(self.events) + n - limit
        return self.events[must_expire - 1] + self.window - now

    def add(self, now: float, n: int = 1) -> None:
        """Record ``n`` accepted events at ``now``."""
        self.events.extend([now] * n)


class RateLimiter:
    """Checks and records outgoing messages against the global and per-chat windows."""

    def __init__(self, config: RateLimitConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or RateLimitConfig()
        self.clock = clock
        self._global = SlidingWindow(1.0)
        self._chats: dict[int, SlidingWindow] = {}
        self.refused = 0

    def configure(self, **changes: Any) -> RateLimitConfig:
        """Update settings (unknown keys raise ValueError) and forget past traffic."""
        for key, value in changes.items():
            if value is None:
                continue
            if not hasattr(self.config, key):
                raise ValueError(f"unknown rate limit setting {key!r}")
            current = getattr(self.config, key)
            setattr(self.config, key, type(current)(value))
        self.reset()
        return self.config

    def reset(self) -> None:
        """Forget all recorded traffic (settings stay)."""
        self._global = SlidingWindow(1.0)
        self._chats.clear()
        self.refused = 0

    def acquire(self, chat_id: int, chat_type: str, n: int = 1) -> int | None:
        """Try to spend ``n`` messages for ``chat_id``.

        Returns None and records them when allowed, otherwise the integer ``retry_after``
        (seconds, at least 1) and records nothing.
        """
        if not self.config.enabled:
            return None
        now = self.clock()
        private = chat_type == "private"
        window = self._chats.get(chat_id)
        if window is None:
            window = self._chats[chat_id] = SlidingWindow(1.0 if private else 60.0)
        chat_limit = self.config.effective(
            self.config.private_per_second if private else self.config.group_per_minute
        )
        wait = max(
            self._global.wait_time(now, self.config.effective(self.config.global_per_second), n),
            window.wait_time(now, chat_limit, n),
        )
        if wait > 0:
            self.refused += 1
            return max(1, math.ceil(wait))
        self._global.add(now, n)
        window.add(now, n)
        return None
