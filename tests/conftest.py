"""Shared fixtures: the real services are started by .ci/run; here we only make temp dirs, emulators and names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.redis_ns import purge


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    """A Redis key namespace of this test's own, deleted afterwards."""
    ns = f"test-{uuid.uuid4().hex}"
    yield ns
    await purge(ns)
