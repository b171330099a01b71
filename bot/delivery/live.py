"""Live replies (sent at once, not through the outbox) retried by the delivery worker's rules, within bounded time.

A live call that meets a server error (5xx), a network error or a timeout is tried again after the worker's
`backoff`; a 429 waits its retry_after; a refusal for good (a 4xx) is not tried again. Each adapter says which of
its errors is which with a `Judge` that maps them onto the worker's terms, as its outbox sender does.

Retried inside the step's `show`, a reply keeps its place among the chat's replies (bot/core/turns.py): the next
step's replies wait for it. A call that timed out may have been delivered all the same, so a retried reply may
show twice (at most once more per timed-out attempt; VK drops such a duplicate by its random_id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.delivery.worker import RetryLater, Undeliverable, backoff

log = logging.getLogger(__name__)

# Under the turns' patience (TURN_PATIENCE_SECONDS, 30 s): the chat's next replies wait this long for a retried one.
LIVE_PATIENCE_SECONDS = 25.0
LIVE_ATTEMPTS = 5

T = TypeVar("T")

Judge = Callable[[Exception], Exception]
"""A failed attempt's error in the worker's terms: `RetryLater` (wait its seconds), `Undeliverable` (refused for good:
not tried again) or the error itself (transient: tried again after a backoff)."""


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    judge: Judge,
    what: str,
    patience: float = LIVE_PATIENCE_SECONDS,
    attempts: int = LIVE_ATTEMPTS,
) -> T:
    """Make the call `attempt`, again while `judge` calls its failure transient and `patience` seconds last.

    The last failure is raised as it came; `what` (a method name, never content) names the call in the log.
    """
    started = time.monotonic()
    failures = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            verdict = judge(exc)
            failures += 1
            if isinstance(verdict, Undeliverable):
                raise
            wait = verdict.seconds if isinstance(verdict, RetryLater) else backoff(failures - 1)
            if failures >= attempts or time.monotonic() - started + wait > patience:
                log.warning("live %s given up after %d attempts: %s", what, failures, type(exc).__name__)
                raise
            log.info("live %s attempt %d failed (%s); again in %.1f s", what, failures, type(exc).__name__, wait)
            await asyncio.sleep(wait)
