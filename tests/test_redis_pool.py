"""The bounded Redis client (storage/redis_pool.py), against the real Redis: tasks wait for a free connection."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from storage.redis_pool import connect
from tests.redis_ns import REDIS_URL

ClientFactory = Callable[..., aioredis.Redis]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Bounded clients, their connections named so that Redis can count them."""
    clients: list[aioredis.Redis] = []

    def make(max_connections: int, timeout: float | None = 30.0) -> aioredis.Redis:
        name = f"pool-test-{secrets.token_hex(4)}"
        client = connect(
            REDIS_URL, max_connections=max_connections, timeout=timeout, decode_responses=True, client_name=name
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _connections_named(name: str) -> int:
    async with aioredis.Redis.from_url(REDIS_URL, decode_responses=True) as observer:
        return sum(1 for c in await observer.client_list() if c.get("name") == name)


async def test_more_tasks_than_connections_all_finish_on_at_most_that_many(make_client: ClientFactory) -> None:
    client = make_client(max_connections=3)
    name = client.connection_pool.connection_kwargs["client_name"]
    key = f"pool-test:{secrets.token_hex(4)}"
    peak = 0

    async def slow() -> None:
        # BLPOP on an empty list holds its connection for 50 ms.
        await client.blpop([key], timeout=0.05)

    started = time.monotonic()
    tasks = [asyncio.create_task(slow()) for _ in range(12)]
    while not all(t.done() for t in tasks):
        peak = max(peak, await _connections_named(name))
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    # Twelve 50 ms waits, three at a time: at least four rounds.
    assert time.monotonic() - started >= 0.19
    assert 1 <= peak <= 3
    assert await client.incr(key + ":n") == 1


async def test_a_task_that_waits_too_long_for_a_connection_gets_an_error(make_client: ClientFactory) -> None:
    client = make_client(max_connections=1, timeout=0.2)
    key = f"pool-test:{secrets.token_hex(4)}"
    holder = asyncio.create_task(client.blpop([key], timeout=1))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await client.get(key)
    assert 0.15 <= time.monotonic() - started < 0.9
    await holder
    assert await client.get(key) is None  # the connection is free again


async def test_cancelled_waiters_and_holders_give_their_slots_back(make_client: ClientFactory) -> None:
    client = make_client(max_connections=2)
    key = f"pool-test:{secrets.token_hex(4)}"
    holders = [asyncio.create_task(client.blpop([key], timeout=5)) for _ in range(2)]
    waiters = [asyncio.create_task(client.get(key)) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert not any(t.done() for t in waiters)
    for task in holders + waiters:
        task.cancel()
    await asyncio.gather(*holders, *waiters, return_exceptions=True)
    # Both slots are free: two slow commands run side by side, not one after the other.
    started = time.monotonic()
    await asyncio.gather(client.blpop([key], timeout=0.2), client.blpop([key], timeout=0.2))
    assert time.monotonic() - started < 0.38


async def test_a_connection_the_server_dropped_is_replaced(make_client: ClientFactory) -> None:
    client = make_client(max_connections=1)
    name = client.connection_pool.connection_kwargs["client_name"]
    key = f"pool-test:{secrets.token_hex(4)}"
    assert await client.set(key, "1", ex=60)
    async with aioredis.Redis.from_url(REDIS_URL, decode_responses=True) as admin:
        for c in await admin.client_list():
            if c.get("name") == name:
                await admin.client_kill_filter(_id=c["id"])
    # redis-py reports the command that meets the dropped connection (as with its own pools); the one slot is free
    # again, and the next command gets a new connection.
    with contextlib.suppress(RedisConnectionError):
        await client.get(key)
    assert await client.get(key) == "1"
    assert await _connections_named(name) == 1
    await client.delete(key)


async def test_scripts_and_commands_of_many_tasks_stay_within_the_bound(make_client: ClientFactory) -> None:
    client = make_client(max_connections=2)
    name = client.connection_pool.connection_kwargs["client_name"]
    key = f"pool-test:{secrets.token_hex(4)}"
    # A script Redis has never seen: its first call meets NOSCRIPT and loads it (SCRIPT LOAD), as after a restart.
    script = client.register_script(f"-- {key}\nreturn redis.call('INCR', KEYS[1])")
    peak = 0
    done = False

    async def watch() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, await _connections_named(name))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(
        *(script(keys=[key]) for _ in range(40)),
        *(client.set(f"{key}:{i}", "v", ex=60) for i in range(40)),
        *(client.getex(f"{key}:{i}", ex=60) for i in range(40)),
        *(client.blpop([f"{key}:list"], timeout=0.02) for _ in range(4)),
    )
    done = True
    await watcher
    assert sorted(results[:40]) == list(range(1, 41))
    assert results[80:120] == ["v"] * 40
    assert 1 <= peak <= 2
    assert await _connections_named(name) <= 2
    await client.delete(key, *(f"{key}:{i}" for i in range(40)))


async def test_closing_the_client_closes_its_connections(make_client: ClientFactory) -> None:
    client = make_client(max_connections=3)
    name = client.connection_pool.connection_kwargs["client_name"]
    key = f"pool-test:{secrets.token_hex(4)}"
    await asyncio.gather(*(client.blpop([key], timeout=0.05) for _ in range(3)))
    assert await _connections_named(name) == 3
    await client.aclose()
    for _ in range(50):
        if await _connections_named(name) == 0:
            break
        await asyncio.sleep(0.01)
    assert await _connections_named(name) == 0
