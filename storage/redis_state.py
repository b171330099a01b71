"""Residents' dialog state in Redis, shared by several bot processes: drafts and per-key locks.

Keys (all under ``{namespace}:``):

* ``{namespace}:draft:{messenger}:{user_id}`` - the draft as JSON, expiring after ``ttl_days`` without
  activity (every save and every read starts the period again).
* ``{namespace}:lock:{key}`` - a lock: a random token set with ``SET NX PX``; only the holder of that
  token deletes it (compare-and-delete in Lua), and a holder that died frees it when the lease ends.

The dialog uses `RedisResidentState`: a resident's lock and draft share the resident's key, so taking the lock
fetches the draft in the same round trip, and the draft's changes go with the release.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis

from bot.core.models import Draft, ResidentRef

T = TypeVar("T")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS: lock, draft. ARGV: token, lease in ms, draft ttl in s. {1, draft or nil} when taken, {0} when held by another.
_TAKE_WITH_DRAFT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GETEX', KEYS[2], 'EX', ARGV[3])}
end
return {0}
"""
# KEYS: lock, draft. ARGV: token, change ('set', 'del' or ''), the draft's JSON, draft ttl in s.
_WRITE_AND_RELEASE = """
if ARGV[2] == 'set' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
elseif ARGV[2] == 'del' then
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


async def _take_polling(
    take: Callable[[], Awaitable[T | None]], free: Callable[[], Awaitable[object]], poll_seconds: float
) -> T:
    """Call `take` until it returns something; if cancelled meanwhile, `free` what the last call may have taken."""
    task = asyncio.current_task()
    try:
        while True:
            taken = await take()
            # redis-py (8.1) can swallow a cancellation that arrives during a command; the task still says it
            # is being cancelled. Without this check a cancelled waiter polled on until the holder's lease ran out.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            if taken is not None:
                return taken
            # Another process holds it and Redis cannot wake us: poll until it is freed or expires.
            await asyncio.sleep(poll_seconds)
    except BaseException:
        await asyncio.shield(free())
        raise


class RedisDraftStore:
    """Drafts of reports being written, one per resident; the Redis counterpart of the SQLite drafts."""

    def __init__(self, client: aioredis.Redis, namespace: str = "priemnaya", ttl_days: int = 30) -> None:
        """Keep drafts in `client` under `namespace`; a draft untouched for `ttl_days` disappears."""
        if ttl_days <= 0:
            raise ValueError("ttl_days must be positive")
        self._redis = client
        self._namespace = namespace
        self.ttl_seconds = ttl_days * 86_400

    def key(self, resident_key: str) -> str:
        """The Redis key of the draft of the resident with this key (`ResidentRef.key`)."""
        return f"{self._namespace}:draft:{resident_key}"

    async def get_draft(self, ref: ResidentRef) -> Draft | None:
        """The resident's draft, if any (reading it counts as activity)."""
        raw = await self._redis.getex(self.key(ref.key), ex=self.ttl_seconds)
        if raw is None:
            return None
        return Draft.model_validate_json(raw)

    async def save_draft(self, ref: ResidentRef, draft: Draft) -> None:
        """Store the draft, replacing the previous one, for another `ttl_days`."""
        await self._redis.set(self.key(ref.key), draft.model_dump_json(), ex=self.ttl_seconds)

    async def delete_draft(self, ref: ResidentRef) -> bool:
        """Drop the draft; False if there was none."""
        return int(await self._redis.delete(self.key(ref.key))) > 0


class RedisKeyedLocks:
    """Cross-process counterpart of `bot.locks.KeyedLocks`: `async with locks.hold(key): ...`.

    The lease bounds how long a lock outlives a holder that died; a live holder must finish its
    critical section within `lease_seconds`, or another process may enter.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str = "priemnaya",
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.02,
    ) -> None:
        """Locks live in `client` under `namespace`; waiters poll every `poll_seconds`."""
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        self._redis = client
        self._namespace = namespace
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._poll_seconds = poll_seconds
        self._release = client.register_script(_RELEASE)

    def key(self, key: str) -> str:
        """The Redis key of the lock named `key`."""
        return f"{self._namespace}:lock:{key}"

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock of `key` for the duration of the block, waiting while someone else holds it."""
        return self._hold(self.key(key))

    @asynccontextmanager
    async def _hold(self, name: str) -> AsyncIterator[None]:
        token = secrets.token_hex(16)

        async def take() -> bool | None:
            return True if await self._redis.set(name, token, nx=True, px=self._lease_ms) else None

        async def free() -> object:
            return await self._release(keys=[name], args=[token])

        await _take_polling(take, free, self._poll_seconds)
        try:
            yield
        finally:
            await asyncio.shield(free())


@dataclass
class _Held:
    """A resident's lock as its holder sees it: the draft as it will be written when the lock is released."""

    task: asyncio.Task[object] | None
    raw: str | None
    change: str = ""  # "set" or "del" once the holder changed the draft


class RedisResidentState(RedisKeyedLocks):
    """Drafts and per-resident locks in Redis in two round trips a dialog step instead of four.

    `hold(resident_key)` takes the resident's lock and fetches the draft in one script; while the lock is held,
    the holder's `get_draft` reads that copy and its `save_draft` / `delete_draft` change it, and the change is
    written with the release, again in one script. Nothing the holder did is seen by anyone before the release,
    and the dialog shows its replies only after it (bot/dialog.py). Other tasks reach the drafts directly. The keys
    are those of `RedisKeyedLocks` and `RedisDraftStore`; the relay's lock stays a plain `RedisKeyedLocks`.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str = "priemnaya",
        ttl_days: int = 30,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.02,
    ) -> None:
        """Drafts expire after `ttl_days` untouched; a lock's holder must finish within `lease_seconds`."""
        super().__init__(client, namespace, lease_seconds, poll_seconds)
        self._drafts = RedisDraftStore(client, namespace, ttl_days)
        self._take = client.register_script(_TAKE_WITH_DRAFT)
        self._write_and_release = client.register_script(_WRITE_AND_RELEASE)
        self._held: dict[str, _Held] = {}

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the resident's lock for the block, with their draft at hand; waits while another holds it."""
        return self._hold_with_draft(key)

    @asynccontextmanager
    async def _hold_with_draft(self, key: str) -> AsyncIterator[None]:
        keys = [self.key(key), self._drafts.key(key)]
        token = secrets.token_hex(16)

        async def take() -> list[Any] | None:
            taken = await self._take(keys=keys, args=[token, self._lease_ms, self._drafts.ttl_seconds])
            return taken if taken and taken[0] == 1 else None

        async def write_and_release(change: str = "", raw: str = "") -> object:
            return await self._write_and_release(keys=keys, args=[token, change, raw, self._drafts.ttl_seconds])

        taken = await _take_polling(take, write_and_release, self._poll_seconds)
        held = _Held(asyncio.current_task(), taken[1] if len(taken) > 1 else None)
        self._held[key] = held
        try:
            yield
        finally:
            # Written even if the block failed: what it changed before failing stays changed, as with direct saves.
            del self._held[key]
            await asyncio.shield(write_and_release(held.change, held.raw or ""))

    def _mine(self, ref: ResidentRef) -> _Held | None:
        held = self._held.get(ref.key)
        return held if held is not None and held.task is asyncio.current_task() else None

    async def get_draft(self, ref: ResidentRef) -> Draft | None:
        """The resident's draft (as the lock's holder changed it so far, when called by the holder)."""
        if (held := self._mine(ref)) is None:
            return await self._drafts.get_draft(ref)
        return None if held.raw is None else Draft.model_validate_json(held.raw)

    async def save_draft(self, ref: ResidentRef, draft: Draft) -> None:
        """Store the draft: with the release when called by the lock's holder, at once otherwise."""
        if (held := self._mine(ref)) is None:
            await self._drafts.save_draft(ref, draft)
            return
        held.raw, held.change = draft.model_dump_json(), "set"

    async def delete_draft(self, ref: ResidentRef) -> bool:
        """Drop the draft (with the release when called by the lock's holder); False if there was none."""
        if (held := self._mine(ref)) is None:
            return await self._drafts.delete_draft(ref)
        existed = held.raw is not None
        held.raw, held.change = None, "del"
        return existed
