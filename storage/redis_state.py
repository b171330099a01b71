"""Residents' dialog state in Redis, shared by several bot processes: drafts and per-key locks.

Keys (all under ``{namespace}:``):

* ``{namespace}:draft:{messenger}:{user_id}`` - the draft as JSON, expiring after ``ttl_days`` without
  activity (every save and every read starts the period again).
* ``{namespace}:lock:{key}`` - a lock: a random token set with ``SET NX PX``; only the holder of that
  token deletes it (compare-and-delete in Lua), and a holder that died frees it when the lease ends.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import redis.asyncio as aioredis

from bot.models import Draft, ResidentRef

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisDraftStore:
    """Drafts of reports being written, one per resident; the Redis counterpart of the SQLite drafts."""

    def __init__(self, client: aioredis.Redis, namespace: str = "priemnaya", ttl_days: int = 30) -> None:
        """Keep drafts in `client` under `namespace`; a draft untouched for `ttl_days` disappears."""
        if ttl_days <= 0:
            raise ValueError("ttl_days must be positive")
        self._redis = client
        self._namespace = namespace
        self._ttl_seconds = ttl_days * 86_400

    def _key(self, ref: ResidentRef) -> str:
        return f"{self._namespace}:draft:{ref.key}"

    async def get_draft(self, ref: ResidentRef) -> Draft | None:
        """The resident's draft, if any (reading it counts as activity)."""
        raw = await self._redis.getex(self._key(ref), ex=self._ttl_seconds)
        if raw is None:
            return None
        return Draft.model_validate_json(raw)

    async def save_draft(self, ref: ResidentRef, draft: Draft) -> None:
        """Store the draft, replacing the previous one, for another `ttl_days`."""
        await self._redis.set(self._key(ref), draft.model_dump_json(), ex=self._ttl_seconds)

    async def delete_draft(self, ref: ResidentRef) -> bool:
        """Drop the draft; False if there was none."""
        return int(await self._redis.delete(self._key(ref))) > 0


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
        try:
            while True:
                if await self._redis.set(name, token, nx=True, px=self._lease_ms):
                    break
                # Another process holds it and Redis cannot wake us: poll until it is freed or expires.
                await asyncio.sleep(self._poll_seconds)
        except BaseException:
            # Cancelled while SET was in flight: it may have succeeded; free it if it did.
            await asyncio.shield(self._release(keys=[name], args=[token]))
            raise
        try:
            yield
        finally:
            await asyncio.shield(self._release(keys=[name], args=[token]))
