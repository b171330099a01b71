"""Replies share the send budgets with the outbox: a burst of residents is paced, never answered with 429s.

The emulators enforce the same limits as the bot's budgets; a reply refused with 429 would be lost (in polling
mode the answer call fails, in webhook mode Telegram makes it out of the bot's sight), so every resident getting
their greeting and the emulator refusing nothing is what the residents see.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.harness import SENDS, WAIT, VkResident, text_of, webhook_mode, world

GLOBAL_PER_SECOND = 4
RESIDENTS = 12


@pytest.mark.parametrize("transport", ["polling", "webhook"])
async def test_a_burst_of_residents_is_greeted_within_the_limits(tmp_path: Path, transport: str) -> None:
    overrides = webhook_mode() if transport == "webhook" else {}
    async with world(tmp_path, telegram_global_per_second=GLOBAL_PER_SECOND, **overrides) as w:
        await w.client.set_rate_limits(True, global_per_second=GLOBAL_PER_SECOND, private_per_second=1)
        residents = [w.resident(6100 + i) for i in range(RESIDENTS)]
        since = await w.client.last_seq()
        started = time.monotonic()
        await asyncio.gather(*(w.client.inject_private_message(r.user, "/start") for r in residents))
        for resident in residents:
            [greeting] = await w.client.wait_sent(chat_id=resident.id, count=1, since=since, timeout=WAIT, method=SENDS)
            assert "Hello!" in text_of(greeting)
        elapsed = time.monotonic() - started
        assert (await w.client.counters())["rate_limited"] == 0
        # 12 greetings at 4 a second overall: three windows.
        assert elapsed >= 2 * 0.95


async def test_a_burst_of_vk_residents_is_answered_within_the_communitys_limit(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True, vk_per_second=GLOBAL_PER_SECOND) as w:
        assert w.vk is not None
        vk = w.vk.client
        await vk.set_rate_limit(GLOBAL_PER_SECOND)
        residents = [VkResident(vk, 3100 + i, "en") for i in range(6)]
        since = await residents[0].mark()
        await asyncio.gather(*(vk.send_message(r.user, "/start", client_info=r.client_info) for r in residents))
        for resident in residents:
            [welcome] = await resident.wait(since)
            assert "Hello!" in welcome["text"]
        assert (await vk.counters())["rate_limited"] == 0
