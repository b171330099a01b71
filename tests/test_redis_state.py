"""Dialog state shared by several bot processes: drafts and per-key locks, on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.models import Draft, Location, Messenger, Piece, ResidentRef
from storage.redis_state import RedisDraftStore, RedisKeyedLocks
from tests.redis_ns import REDIS_URL

ALICE = ResidentRef(Messenger.TELEGRAM, 101)
BOB = ResidentRef(Messenger.VK, 101)


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield c
    await c.aclose()


@pytest.fixture
async def other_client() -> AsyncIterator[aioredis.Redis]:
    """A second connection pool: stands in for another bot process."""
    c = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield c
    await c.aclose()


# Drafts


async def test_draft_round_trip_every_field(client: aioredis.Redis, namespace: str) -> None:
    drafts = RedisDraftStore(client, namespace)
    assert await drafts.get_draft(ALICE) is None
    draft = Draft(
        category_id=3,
        description="Яма на дороге, глубокая",
        location=Location(latitude=55.75, longitude=37.61, address="ул. Ленина, 1"),
        photos=["file-a", "file-b"],
        photos_skipped=True,
        awaiting=Piece.PHOTOS,
    )
    await drafts.save_draft(ALICE, draft)
    assert await drafts.get_draft(ALICE) == draft
    assert await drafts.get_draft(BOB) is None  # same user id, other messenger

    changed = draft.model_copy(update={"description": "Две ямы", "awaiting": None, "photos": []})
    await drafts.save_draft(ALICE, changed)
    assert await drafts.get_draft(ALICE) == changed

    empty = Draft()
    await drafts.save_draft(BOB, empty)
    assert await drafts.get_draft(BOB) == empty


async def test_delete_draft_says_whether_there_was_one(client: aioredis.Redis, namespace: str) -> None:
    drafts = RedisDraftStore(client, namespace)
    await drafts.save_draft(ALICE, Draft(description="x"))
    assert await drafts.delete_draft(ALICE) is True
    assert await drafts.delete_draft(ALICE) is False
    assert await drafts.get_draft(ALICE) is None


async def test_drafts_expire_after_ttl_of_no_activity(client: aioredis.Redis, namespace: str) -> None:
    drafts = RedisDraftStore(client, namespace, ttl_days=30)
    await drafts.save_draft(ALICE, Draft(description="x"))
    key = f"{namespace}:draft:{ALICE.key}"
    month = 30 * 86_400
    assert month - 5 <= await client.ttl(key) <= month
    await client.expire(key, 100)  # as if a month had almost passed ...
    assert await drafts.get_draft(ALICE) is not None  # ... and the resident came back
    assert month - 5 <= await client.ttl(key) <= month
    await client.expire(key, 100)
    await drafts.save_draft(ALICE, Draft(description="y"))
    assert month - 5 <= await client.ttl(key) <= month


async def test_drafts_shared_between_processes(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str
) -> None:
    draft = Draft(category_id=1)
    await RedisDraftStore(client, namespace).save_draft(ALICE, draft)
    assert await RedisDraftStore(other_client, namespace).get_draft(ALICE) == draft


# Locks


async def _critical(locks: RedisKeyedLocks, key: str, name: str, events: list[str], pause: float = 0.03) -> None:
    async with locks.hold(key):
        events.append(f"enter {name}")
        await asyncio.sleep(pause)
        events.append(f"exit {name}")


def _strictly_serial(events: list[str]) -> bool:
    """Every enter is followed by the exit of the same holder before the next enter."""
    pairs = [events[i : i + 2] for i in range(0, len(events), 2)]
    return all(len(p) == 2 and p[0].startswith("enter ") and p[1] == "exit " + p[0][6:] for p in pairs)


async def test_lock_serializes_tasks_and_processes(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str
) -> None:
    one = RedisKeyedLocks(client, namespace, poll_seconds=0.005)
    two = RedisKeyedLocks(other_client, namespace, poll_seconds=0.005)
    events: list[str] = []
    await asyncio.gather(
        *(_critical(locks, "tg:101", f"{tag}{i}", events) for i in range(3) for locks, tag in ((one, "p"), (two, "q")))
    )
    assert len(events) == 12
    assert _strictly_serial(events), events
    assert await client.exists(one.key("tg:101")) == 0  # released


async def test_different_keys_run_concurrently(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str
) -> None:
    one = RedisKeyedLocks(client, namespace)
    two = RedisKeyedLocks(other_client, namespace)
    events: list[str] = []
    both_inside = asyncio.Event()
    inside = 0

    async def hold(locks: RedisKeyedLocks, key: str) -> None:
        nonlocal inside
        async with locks.hold(key):
            events.append(f"enter {key}")
            inside += 1
            if inside == 2:
                both_inside.set()
            await asyncio.wait_for(both_inside.wait(), timeout=2)
            events.append(f"exit {key}")

    await asyncio.gather(hold(one, "tg:1"), hold(two, "tg:2"))
    assert events[:2] == ["enter tg:1", "enter tg:2"] or events[:2] == ["enter tg:2", "enter tg:1"]


async def test_lock_of_a_dead_holder_frees_after_lease(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str
) -> None:
    dying = RedisKeyedLocks(client, namespace, lease_seconds=0.3)
    held = dying.hold("tg:101")
    await held.__aenter__()  # ... and the process dies: never released
    alive = RedisKeyedLocks(other_client, namespace, lease_seconds=5, poll_seconds=0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with alive.hold("tg:101"):
        waited = loop.time() - start
        assert 0.2 <= waited < 1.5
        # The late "dead" holder finishing now must not free the lock of the new holder.
        await held.__aexit__(None, None, None)
        assert await other_client.exists(alive.key("tg:101")) == 1
    assert await other_client.exists(alive.key("tg:101")) == 0


async def test_release_never_deletes_someone_elses_lock(client: aioredis.Redis, namespace: str) -> None:
    locks = RedisKeyedLocks(client, namespace, lease_seconds=0.1)
    async with locks.hold("k"):
        await asyncio.sleep(0.15)  # our lease ran out ...
        await client.set(locks.key("k"), "someone-else", px=5000)  # ... and another process took it
    assert await client.get(locks.key("k")) == "someone-else"


async def test_cancelled_waiter_leaves_no_lock(client: aioredis.Redis, namespace: str) -> None:
    locks = RedisKeyedLocks(client, namespace, poll_seconds=0.005)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("k"):
            entered.set()
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("k"):
            raise AssertionError("must not get the lock")

    first = asyncio.create_task(holder())
    await entered.wait()
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.03)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    await first
    assert await client.exists(locks.key("k")) == 0
    async with locks.hold("k"):  # free again
        pass
