"""A Redis client with at most N connections per process, where a command that finds them all busy waits for one.

A surge of updates must queue for Redis rather than open a socket each (Redis's `maxclients` is shared by every bot
process) or fail at once (redis-py's default pool raises "Too many connections"). redis-py's public ways, measured
as CPU per script call (20 tasks, 20,000 EVALSHA on loopback: `python -m benchmarks.units redis`):

* its `BlockingConnectionPool` waits as wanted, with a condition, a timeout and metrics hooks on every command:
  56-60 µs;
* its plain `ConnectionPool(max_connections=N)` with an `asyncio.Semaphore` around `execute_command`: 49-51 µs,
  since every command still takes the pool's lock, checks the connection for unread data and records metrics;
* each command borrowing one of at most N single-connection clients (redis-py's `single_connection_client`, a
  client that keeps one connection of the pool for itself), with the same semaphore: 42-44 µs, within 1-3 µs of
  the subclass of redis-py's pool, built on its private lists, that this module held before (41-42 µs).

This client does the last. Every command of the client goes through `execute_command`: the commands, and the
scripts of `register_script` (EVALSHA, and SCRIPT LOAD when Redis lost them). Pipelines and pub/sub would take
connections from the pool directly, outside the bound (the pool's own `max_connections` would then make one beyond
it fail rather than exceed it); the bot uses neither.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.reach import why_unreachable

PING_TIMEOUT = 10.0


class RedisUnreachable(Exception):
    """Redis did not answer a PING (down, refused, wrong password...); the argument is why, in a few words."""


class BoundedRedis(aioredis.Redis):
    """A `redis.asyncio.Redis` whose commands use at most `max_connections` connections at once.

    A command that finds them all busy waits up to `timeout` seconds (None: for ever), then fails with redis-py's
    ConnectionError, like any other Redis failure. Connections open on first use and stay open; one that fails or
    is dropped by the server is reconnected by redis-py (with its usual retries).
    """

    def __init__(self, url: str, *, max_connections: int, timeout: float | None, **connection_kwargs: Any) -> None:
        super().__init__(
            connection_pool=aioredis.ConnectionPool.from_url(url, max_connections=max_connections, **connection_kwargs)
        )
        self.wait_timeout = timeout
        # Named apart from redis-py's own attributes (this is its subclass).
        self._bound_slots = asyncio.Semaphore(max_connections)
        # Clients not running a command, the last one used at the end: a burst reuses the connections already open.
        self._bound_idle: list[aioredis.Redis] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run the command on a free connection, waiting for one if all `max_connections` are busy."""
        if self._bound_slots.locked():
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await self._bound_slots.acquire()
            except TimeoutError:
                raise RedisConnectionError("No connection available.") from None
        else:
            await self._bound_slots.acquire()  # free: returns at once
        client = self._bound_idle.pop() if self._bound_idle else self._one_connection_client()
        try:
            return await client.execute_command(*args, **options)  # type: ignore[no-untyped-call]
        finally:
            self._bound_idle.append(client)
            self._bound_slots.release()

    def _one_connection_client(self) -> aioredis.Redis:
        return aioredis.Redis(connection_pool=self.connection_pool, single_connection_client=True)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the connections (this client made its pool, so the pool too unless told otherwise)."""
        while self._bound_idle:
            await self._bound_idle.pop().aclose()
        await super().aclose(close_connection_pool=close_connection_pool is not False)


def connect(url: str, *, max_connections: int, timeout: float | None, **connection_kwargs: Any) -> aioredis.Redis:
    """A client for the Redis at `url` with at most `max_connections` connections; a command that finds none free
    waits up to `timeout` seconds for one. `connection_kwargs` go to each connection (`decode_responses`...)."""
    return BoundedRedis(url, max_connections=max_connections, timeout=timeout, **connection_kwargs)


async def ping(client: aioredis.Redis, timeout: float = PING_TIMEOUT) -> None:  # noqa: ASYNC109
    """PING Redis once; `RedisUnreachable` says why it did not answer (never the URL, which may hold a password)."""
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except AuthenticationError as exc:
        raise RedisUnreachable("authentication failed") from exc
    except (RedisConnectionError, OSError, TimeoutError) as exc:
        raise RedisUnreachable(why_unreachable(exc)) from exc
    except RedisError as exc:
        raise RedisUnreachable(f"Redis refused ({type(exc).__name__})") from exc
