"""Budgets shared through Redis: two worker processes together stay within one chat's and the bot's limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis

from bot.app import make_bot
from bot.core.models import Messenger
from bot.delivery.budgets import BudgetConfig, acquire
from storage.redis_budgets import RedisSendBudgets
from tests.harness import STAFF_CHAT, make_settings
from tests.redis_ns import REDIS_URL
from tests.tg_emulator import TelegramEmulator


async def test_two_processes_share_the_limits(tmp_path: Path, namespace: str) -> None:
    config = BudgetConfig(telegram_private_per_second=4, telegram_global_per_second=6, telegram_group_per_minute=600)
    clients = [aioredis.Redis.from_url(REDIS_URL, decode_responses=True) for _ in range(2)]
    budgets = [RedisSendBudgets(c, config, namespace=namespace) for c in clients]
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        await client.set_rate_limits(True, private_per_second=4, global_per_second=6, group_per_minute=600)
        await client.inject_private_message({"id": 31, "first_name": "R"}, "hi")
        bots = [make_bot(make_settings(emulator.url, tmp_path)) for _ in range(2)]

        async def worker(i: int) -> None:
            for n in range(8):
                chat = 31 if n % 2 == 0 else STAFF_CHAT
                await acquire(budgets[i], Messenger.TELEGRAM, chat)
                await bots[i].send_message(chat, f"worker {i} message {n}")

        try:
            await asyncio.wait_for(asyncio.gather(worker(0), worker(1)), 30)
        finally:
            for bot in bots:
                await bot.session.close()
            for c in clients:
                await c.aclose()
        # 16 messages at 6 a second overall, 8 of them into one private chat at 4 a second: no 429 at all.
        assert (await client.counters())["rate_limited"] == 0
        assert len(await client.sent(chat_id=31, method="sendMessage")) == 8
        assert len(await client.sent(chat_id=STAFF_CHAT, method="sendMessage")) == 8


async def test_a_budget_of_zero_is_off(namespace: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    budgets = RedisSendBudgets(client, BudgetConfig(0, 0, 0, 0), namespace=namespace)
    waited = [await acquire(budgets, Messenger.TELEGRAM, 5) for _ in range(50)]
    assert waited == [0.0] * 50
    assert [k async for k in client.scan_iter(f"{namespace}:*")] == []
    await client.aclose()
