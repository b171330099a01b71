"""The real Redis the tests use, and the clean-up of a test's own namespace (never anything else)."""

from __future__ import annotations

import os

import redis.asyncio as aioredis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def purge(namespace: str) -> None:
    """Delete every key of a test namespace."""
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.unlink(*keys)
    finally:
        await client.aclose()
