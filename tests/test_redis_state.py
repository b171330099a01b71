"""Dialog state shared by several bot processes: drafts and per-key locks, on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.core.locks import Locks
from bot.core.models import Draft, Location, Messenger, Piece, ResidentRef
from storage.redis_state import RedisDraftStore, RedisKeyedLocks, RedisResidentState
from tests.redis_ns import REDIS_URL

LockClass = type[RedisKeyedLocks] | type[RedisResidentState]

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


# Locks: the plain ones (the relay's) and the residents' (with their drafts) keep the same contract.


@pytest.fixture(params=[RedisKeyedLocks, RedisResidentState], ids=["keyed", "resident"])
def lock_class(request: pytest.FixtureRequest) -> LockClass:
    cls: LockClass = request.param
    return cls


def lock_key(namespace: str, key: str) -> str:
    """Where both lock classes keep the lock of `key`."""
    return f"{namespace}:lock:{key}"


async def _critical(locks: Locks, key: str, name: str, events: list[str], pause: float = 0.03) -> None:
    async with locks.hold(key):
        events.append(f"enter {name}")
        await asyncio.sleep(pause)
        events.append(f"exit {name}")


def _strictly_serial(events: list[str]) -> bool:
    """Every enter is followed by the exit of the same holder before the next enter."""
    pairs = [events[i : i + 2] for i in range(0, len(events), 2)]
    return all(len(p) == 2 and p[0].startswith("enter ") and p[1] == "exit " + p[0][6:] for p in pairs)


async def test_lock_serializes_tasks_and_processes(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str, lock_class: LockClass
) -> None:
    one = lock_class(client, namespace, poll_seconds=0.005)
    two = lock_class(other_client, namespace, poll_seconds=0.005)
    events: list[str] = []
    await asyncio.gather(
        *(_critical(locks, "tg:101", f"{tag}{i}", events) for i in range(3) for locks, tag in ((one, "p"), (two, "q")))
    )
    assert len(events) == 12
    assert _strictly_serial(events), events
    assert await client.exists(lock_key(namespace, "tg:101")) == 0  # released


async def test_different_keys_run_concurrently(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str, lock_class: LockClass
) -> None:
    one = lock_class(client, namespace)
    two = lock_class(other_client, namespace)
    events: list[str] = []
    both_inside = asyncio.Event()
    inside = 0

    async def hold(locks: Locks, key: str) -> None:
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
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str, lock_class: LockClass
) -> None:
    dying = lock_class(client, namespace, lease_seconds=0.3)
    held = dying.hold("tg:101")
    await held.__aenter__()  # ... and the process dies: never released
    alive = lock_class(other_client, namespace, lease_seconds=5, poll_seconds=0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with alive.hold("tg:101"):
        waited = loop.time() - start
        assert 0.2 <= waited < 1.5
        # The late "dead" holder finishing now must not free the lock of the new holder.
        await held.__aexit__(None, None, None)
        assert await other_client.exists(lock_key(namespace, "tg:101")) == 1
    assert await other_client.exists(lock_key(namespace, "tg:101")) == 0


async def test_release_never_deletes_someone_elses_lock(
    client: aioredis.Redis, namespace: str, lock_class: LockClass
) -> None:
    locks = lock_class(client, namespace, lease_seconds=0.1)
    async with locks.hold("k"):
        await asyncio.sleep(0.15)  # our lease ran out ...
        await client.set(lock_key(namespace, "k"), "someone-else", px=5000)  # ... and another process took it
    assert await client.get(lock_key(namespace, "k")) == "someone-else"


async def test_cancelled_waiter_leaves_no_lock(client: aioredis.Redis, namespace: str, lock_class: LockClass) -> None:
    locks = lock_class(client, namespace, poll_seconds=0.005)
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
    assert await client.exists(lock_key(namespace, "k")) == 0
    async with locks.hold("k"):  # free again
        pass


# The residents' state: the lock and the draft together


async def _add_photo(state: RedisResidentState, photo: str) -> None:
    """One dialog step: read the draft under the resident's lock, change it, save it."""
    async with state.hold(ALICE.key):
        draft = await state.get_draft(ALICE) or Draft()
        await asyncio.sleep(0.002)  # the step's work: another step must not slip in here
        draft.photos.append(photo)
        await state.save_draft(ALICE, draft)


async def test_steps_of_two_processes_on_one_resident_lose_nothing(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str
) -> None:
    one = RedisResidentState(client, namespace, poll_seconds=0.002)
    two = RedisResidentState(other_client, namespace, poll_seconds=0.002)
    await asyncio.gather(*(_add_photo(state, f"{tag}{i}") for i in range(8) for state, tag in ((one, "a"), (two, "b"))))
    draft = await RedisDraftStore(client, namespace).get_draft(ALICE)
    assert draft is not None and sorted(draft.photos) == sorted(f"{t}{i}" for i in range(8) for t in "ab")
    assert await client.exists(lock_key(namespace, ALICE.key)) == 0


async def test_the_holders_changes_are_written_with_the_release(
    client: aioredis.Redis, other_client: aioredis.Redis, namespace: str
) -> None:
    state = RedisResidentState(client, namespace)
    elsewhere = RedisDraftStore(other_client, namespace)  # another process, reading directly
    old, new = Draft(description="old"), Draft(description="new")
    await state.save_draft(ALICE, old)  # outside a hold: at once
    assert await elsewhere.get_draft(ALICE) == old
    async with state.hold(ALICE.key):
        await state.save_draft(ALICE, new)
        assert await state.get_draft(ALICE) == new
        assert await elsewhere.get_draft(ALICE) == old
        assert await state.get_draft(BOB) is None  # another resident: straight from Redis
    assert await elsewhere.get_draft(ALICE) == new
    # Kept as long as a direct save keeps it.
    assert 29 * 86_400 < await client.ttl(elsewhere.key(ALICE.key)) <= 30 * 86_400

    async with state.hold(ALICE.key):
        assert await state.delete_draft(ALICE) is True
        assert await state.get_draft(ALICE) is None
        assert await state.delete_draft(ALICE) is False
        assert await elsewhere.get_draft(ALICE) == new
    assert await elsewhere.get_draft(ALICE) is None
    assert await state.delete_draft(ALICE) is False


async def test_a_step_that_fails_keeps_what_it_changed_and_frees_the_lock(
    client: aioredis.Redis, namespace: str
) -> None:
    state = RedisResidentState(client, namespace)
    chosen = Draft(category_id=2)
    with pytest.raises(RuntimeError):
        async with state.hold(ALICE.key):
            await state.save_draft(ALICE, chosen)
            raise RuntimeError("the step failed after saving")
    assert await state.get_draft(ALICE) == chosen
    assert await client.exists(lock_key(namespace, ALICE.key)) == 0


async def test_a_step_costs_two_round_trips(client: aioredis.Redis, namespace: str) -> None:
    state = RedisResidentState(client, namespace)
    await _add_photo(state, "warm-up")  # loads the scripts into Redis

    async def calls() -> dict[str, int]:
        stats = await client.info("commandstats")
        return {name: int(stat["calls"]) for name, stat in stats.items()}

    before = await calls()
    await _add_photo(state, "p1")
    after = await calls()
    spent = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    spent.pop("cmdstat_info", None)
    # Two scripts (Redis counts the commands they run too): take the lock with the draft; write it and release.
    inside = {"cmdstat_set": 2, "cmdstat_getex": 1, "cmdstat_get": 1, "cmdstat_del": 1}
    assert spent == {"cmdstat_evalsha": 2, **inside}
    draft = await state.get_draft(ALICE)
    assert draft is not None and draft.photos == ["warm-up", "p1"]


async def test_a_cancel_landing_during_a_redis_command_still_stops_the_waiter(
    client: aioredis.Redis, namespace: str, lock_class: LockClass
) -> None:
    # Polling with no pause, the waiter is almost always inside a Redis command when the cancel comes: redis-py
    # may swallow it there.
    holder_locks = lock_class(client, namespace, lease_seconds=30)
    waiter_locks = lock_class(client, namespace, poll_seconds=0.0001)
    async with holder_locks.hold("k"):
        waiter = asyncio.create_task(_critical(waiter_locks, "k", "w", []))
        await asyncio.sleep(0.05)
        waiter.cancel()
        await asyncio.wait([waiter], timeout=1.0)
        assert waiter.done(), "the cancelled waiter is still polling"
        assert waiter.cancelled()
