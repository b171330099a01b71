"""Send budgets shared by every worker process through Redis, so together they stay within the limits.

The same sliding-window log as `bot.delivery.budgets`, kept in sorted sets and checked and counted by one Lua script
on Redis's own clock, so processes on different hosts agree on time. A reservation with a ticket is stamped when
it is made and stamped again, on Redis's clock, when the process settles it after the send.
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from bot.core.models import Messenger
from bot.delivery.budgets import MARGIN_FRACTION, MARGIN_SECONDS, BudgetConfig

# KEYS: the windows (global first). ARGV: cost, token, then limit and window (ms) per key.
# Returns 0 when counted, else the milliseconds to wait.
_LUA_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + i * 2])
  local window = tonumber(ARGV[2 + i * 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local need = math.min(cost, limit)
  local used = redis.call('ZCARD', key)
  if used + need > limit then
    local edge = redis.call('ZRANGE', key, used + need - limit - 1, used + need - limit - 1, 'WITHSCORES')
    local w = tonumber(edge[2]) + window - now + 1
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + i * 2])
  for n = 1, cost do
    redis.call('ZADD', key, now, ARGV[2] .. ':' .. n)
  end
  redis.call('PEXPIRE', key, window + 1000)
end
return 0
"""
# KEYS: the windows the reservation counted in. ARGV: cost, token, then the window (ms) per key.
_LUA_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  for n = 1, tonumber(ARGV[1]) do
    redis.call('ZADD', key, now, ARGV[2] .. ':' .. n)
  end
  redis.call('PEXPIRE', key, tonumber(ARGV[2 + i]) + 1000)
end
return 1
"""


class RedisSendBudgets:
    """`SendBudgets` for several processes: `reserve` counts a message when the shared budgets allow it."""

    def __init__(self, client: aioredis.Redis, config: BudgetConfig, namespace: str = "priemnaya") -> None:
        self._config = config
        self._prefix = f"{namespace}:budget"
        self._acquire = client.register_script(_LUA_ACQUIRE)
        self._settle = client.register_script(_LUA_SETTLE)
        # Reservations of this process on their way: ticket -> (keys, their windows in ms, cost).
        self._on_way: dict[str, tuple[list[str], list[int], int]] = {}

    def _windows(self, messenger: Messenger, chat_id: int) -> list[tuple[str, int, float]]:
        c = self._config
        if messenger is Messenger.VK:
            windows = [(f"{self._prefix}:vk", c.vk_per_second, 1.0)]
        else:
            windows = [(f"{self._prefix}:tg", c.telegram_global_per_second, 1.0)]
            if chat_id < 0:
                windows.append((f"{self._prefix}:tg:{chat_id}", c.telegram_group_per_minute, 60.0))
            else:
                windows.append((f"{self._prefix}:tg:{chat_id}", c.telegram_private_per_second, 1.0))
        return [w for w in windows if w[1] > 0]

    async def reserve(self, messenger: Messenger, chat_id: int, cost: int = 1, ticket: str | None = None) -> float:
        """Count the messages if the shared budgets allow it now and return 0; otherwise return the wait.

        With a `ticket`, `settle(ticket)` stamps them again once they have arrived.
        """
        windows = self._windows(messenger, chat_id)
        if not windows:
            return 0.0
        token = ticket or secrets.token_hex(8)
        keys = [w[0] for w in windows]
        # The platform counts a message a moment after we do: keep a little clear of the window's edge.
        spans = [int((seconds * (1 + MARGIN_FRACTION) + MARGIN_SECONDS) * 1000) for _key, _limit, seconds in windows]
        args: list[str | int] = [cost, token]
        for (_key, limit, _seconds), span in zip(windows, spans, strict=True):
            args += [limit, span]
        wait_ms = int(await self._acquire(keys=keys, args=args))
        if wait_ms > 0:
            return wait_ms / 1000
        if ticket is not None:
            self._on_way[ticket] = (keys, spans, cost)
        return 0.0

    async def settle(self, ticket: str) -> None:
        """The messages reserved with `ticket` count from now (Redis's clock); an unknown ticket is ignored."""
        held = self._on_way.pop(ticket, None)
        if held is not None:
            keys, spans, cost = held
            await self._settle(keys=keys, args=[cost, ticket, *spans])
