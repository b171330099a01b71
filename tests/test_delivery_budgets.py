"""The rate-aware sender: surges are paced inside the limits, order per chat kept, residents first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiogram import Bot

from bot.app import make_bot
from bot.core.config import CoreConfig, utc_now
from bot.core.models import ChatRef, Messenger
from bot.core.outbox import PRIORITY_RESIDENT, PRIORITY_STAFF, OutboxKind, OutboxMessage
from bot.core.posting import Posting
from bot.core.rerouting import Rerouting
from bot.core.routing import StaffRouting
from bot.delivery.budgets import BudgetConfig, Budgets, SendBudgets, SlidingWindow
from bot.delivery.worker import LANES_PER_CHAT, DeliveryWorker
from bot.text.i18n import Locales
from handlers.telegram.compose import TelegramComposer
from handlers.telegram.sender import TelegramSender
from storage.photos import PhotoArchive
from storage.redis_budgets import RedisSendBudgets
from storage.sqlite import SqliteStorage
from tests.harness import STAFF_CHAT, make_settings
from tests.redis_ns import REDIS_URL
from tests.tg_emulator import TelegramEmulator


def test_sliding_window_never_exceeds_the_limit_in_any_window() -> None:
    now = 0.0
    window = SlidingWindow(limit=3, window=10.0)
    sent: list[float] = []
    for _ in range(10):
        wait = window.wait_time(now, 1)
        now += wait
        assert window.wait_time(now, 1) == 0.0
        window.record(now, 1)
        sent.append(now)
    for t in sent:
        assert len([s for s in sent if t <= s < t + 10.0]) <= 3
    # Three go at once, then one each time the oldest leaves the window.
    assert sent[:3] == [0.0, 0.0, 0.0] and 10.0 < sent[3] < 10.2


def test_album_larger_than_the_budget_waits_for_an_empty_window() -> None:
    window = SlidingWindow(limit=1, window=1.0)
    window.record(0.0, 1)
    assert 1.0 < window.wait_time(0.0, 5) < 1.1
    assert SlidingWindow(limit=0, window=1.0).wait_time(0.0, 100) == 0.0


async def _worker(emulator: TelegramEmulator, tmp_path: Path, config: BudgetConfig, report_lanes: bool = False):
    settings = make_settings(emulator.url, tmp_path / "data")
    storage = await SqliteStorage.open(tmp_path / "db.sqlite3", report_lanes=report_lanes)
    bot = make_bot(settings)
    return storage, bot, _delivery_worker(storage, bot, tmp_path, SendBudgets(config, journal=storage.log_send))


def _delivery_worker(storage: SqliteStorage, bot: Bot, tmp_path: Path, budgets: SendBudgets) -> DeliveryWorker:
    return DeliveryWorker(
        storage,
        {Messenger.TELEGRAM: TelegramSender(bot, PhotoArchive(tmp_path / "photos"))},
        utc_now,
        policy=rerouting(storage),
        cards=storage,
        budgets=budgets,
    )


def rerouting(storage: SqliteStorage) -> Rerouting:
    """The core's rules for refused messages, over this storage."""
    config = CoreConfig(ChatRef(Messenger.TELEGRAM, STAFF_CHAT), "en", ZoneInfo("Europe/Moscow"), frozenset())
    routing = StaffRouting(storage, config.staff_chat)
    posting = Posting(storage, {Messenger.TELEGRAM: TelegramComposer()}, Locales(), config, routing)
    return Rerouting(storage, posting, routing, config, utc_now)


@contextlib.asynccontextmanager
async def _running(worker: DeliveryWorker, bot: Bot | None = None) -> AsyncIterator[None]:
    """The worker delivers until the block ends (then the bot's session closes, if given)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task
        if bot is not None:
            await bot.session.close()


def _text(chat: int, text: str, priority: int) -> OutboxMessage:
    return OutboxMessage(Messenger.TELEGRAM, chat, OutboxKind.TEXT, text=text, priority=priority)


async def test_surge_is_paced_without_429_and_in_order(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        await client.set_rate_limits(True, group_per_minute=40, private_per_second=2, global_per_second=10)
        for user in (11, 12, 13):
            await client.inject_private_message({"id": user, "first_name": "R"}, "hi")
        storage, bot, worker = await _worker(
            emulator,
            tmp_path,
            BudgetConfig(telegram_group_per_minute=40, telegram_private_per_second=2, telegram_global_per_second=10),
        )
        messages = [_text(STAFF_CHAT, f"card {i}", PRIORITY_STAFF) for i in range(30)]
        messages += [_text(user, f"answer {i}", PRIORITY_RESIDENT) for user in (11, 12, 13) for i in range(6)]
        await storage.enqueue(messages)
        started = time.monotonic()
        async with _running(worker, bot):
            await client.wait_sent(chat_id=STAFF_CHAT, count=30, timeout=30, method="sendMessage")
            for user in (11, 12, 13):
                await client.wait_sent(chat_id=user, count=6, timeout=30, method="sendMessage")
            elapsed = time.monotonic() - started
        counters = await client.counters()
        assert counters["rate_limited"] == 0
        assert [m["text"] for m in await client.sent(chat_id=STAFF_CHAT)] == [f"card {i}" for i in range(30)]
        for user in (11, 12, 13):
            assert [m["text"] for m in await client.sent(chat_id=user)] == [f"answer {i}" for i in range(6)]
        # 48 messages at 10 per second overall need at least 4 s; 6 per chat at 2 per second at least 2 s.
        assert elapsed >= 3.9
        assert await storage.pending_count() == 0
        await storage.close()


async def test_residents_are_not_stuck_behind_a_staff_backlog(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        await client.set_rate_limits(True, group_per_minute=5, private_per_second=1, global_per_second=30)
        await client.inject_private_message({"id": 21, "first_name": "R"}, "hi")
        storage, bot, worker = await _worker(
            emulator, tmp_path, BudgetConfig(telegram_group_per_minute=5, telegram_private_per_second=1)
        )
        await storage.enqueue([_text(STAFF_CHAT, f"card {i}", PRIORITY_STAFF) for i in range(50)])
        async with _running(worker, bot):
            await client.wait_sent(chat_id=STAFF_CHAT, count=5, timeout=10)
            await storage.enqueue([_text(21, "Your report #7 is resolved", PRIORITY_RESIDENT)])
            worker.wake()
            [answer] = await client.wait_sent(chat_id=21, count=1, timeout=3, method="sendMessage")
            assert answer["text"] == "Your report #7 is resolved"
            # The staff backlog waits for its window (5 a minute), without a single 429.
            assert len(await client.sent(chat_id=STAFF_CHAT)) == 5
            assert (await client.counters())["rate_limited"] == 0
        # Stopping leaves the backlog queued, not lost.
        assert await storage.pending_count() == 45
        await storage.close()


async def test_a_staff_chat_takes_reports_side_by_side_and_each_report_in_order(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        await client.inject_private_message({"id": 31, "first_name": "R"}, "hi")
        # No group budget (a Bot API server without Telegram's limits): a lane per report.
        storage, bot, worker = await _worker(emulator, tmp_path, BudgetConfig(0, 0, 0, 0), report_lanes=True)
        cards = [
            OutboxMessage(Messenger.TELEGRAM, STAFF_CHAT, OutboxKind.TEXT, text=f"card {r}", report_id=r)
            for r in range(1, LANES_PER_CHAT + 5)
        ]
        later = [
            OutboxMessage(Messenger.TELEGRAM, STAFF_CHAT, OutboxKind.TEXT, text=f"answered {r}", report_id=r)
            for r in (1, 2)
        ]
        await storage.enqueue(cards + later)
        # Telegram takes its time with the staff chat: the worker keeps the lane cap, not a queue of stuck sends.
        await client.hang("sendMessage", 3.0, count=None, chat_id=STAFF_CHAT)
        async with _running(worker, bot):
            for _ in range(100):
                if len(await client.calls("sendMessage")) >= LANES_PER_CHAT:
                    break
                await asyncio.sleep(0.05)
            await storage.enqueue([_text(31, "Your report #3 is resolved", PRIORITY_RESIDENT)])
            worker.wake()
            # The cap's worth of reports' cards are under way at once; the resident's answer is not stuck behind them.
            [answer] = await client.wait_sent(chat_id=31, count=1, timeout=2.5, method="sendMessage")
            assert answer["text"] == "Your report #3 is resolved"
            staff_calls = [c for c in await client.calls("sendMessage") if c.get("chat_id") == STAFF_CHAT]
            assert len(staff_calls) == LANES_PER_CHAT
            await client.clear_faults()
            await client.wait_sent(chat_id=STAFF_CHAT, count=len(cards + later), timeout=30, method="sendMessage")
        posted = [m["text"] for m in await client.sent(chat_id=STAFF_CHAT)]
        assert sorted(posted) == sorted(m.text for m in cards + later)
        for r in (1, 2):
            assert posted.index(f"card {r}") < posted.index(f"answered {r}")
        assert await storage.pending_count() == 0
        await storage.close()


async def test_a_staff_chat_in_one_lane_sends_each_report_once_and_in_order(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        # A group budget is on: the queue keeps the staff chat in one lane, and so must the worker's bookkeeping.
        storage, bot, worker = await _worker(emulator, tmp_path, BudgetConfig(600, 0, 0, 0))
        await storage.enqueue(
            [
                OutboxMessage(Messenger.TELEGRAM, STAFF_CHAT, OutboxKind.TEXT, text=f"card {r}", report_id=r)
                for r in range(1, 13)
            ]
        )
        async with _running(worker, bot):
            await client.wait_sent(chat_id=STAFF_CHAT, count=12, timeout=30, method="sendMessage")
            await asyncio.sleep(0.5)  # a second copy of any card would come now
        posted = [m["text"] for m in await client.sent(chat_id=STAFF_CHAT)]
        assert posted == [f"card {r}" for r in range(1, 13)]
        await storage.close()


async def test_a_restarted_worker_remembers_the_groups_last_minute(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        await client.set_rate_limits(True, group_per_minute=5, private_per_second=1, global_per_second=30)
        config = BudgetConfig(telegram_group_per_minute=5, telegram_private_per_second=1)
        storage, bot, worker = await _worker(emulator, tmp_path, config)
        await storage.enqueue([_text(STAFF_CHAT, f"card {i}", PRIORITY_STAFF) for i in range(5)])
        async with _running(worker):
            await client.wait_sent(chat_id=STAFF_CHAT, count=5, timeout=10, method="sendMessage")
        # The process restarts: its budgets start from what the database says went out in the last minute.
        budgets = SendBudgets(config)
        budgets.replay(await storage.recent_sends(60.0))
        restarted = _delivery_worker(storage, bot, tmp_path, budgets)
        await storage.enqueue([_text(STAFF_CHAT, "card 5", PRIORITY_STAFF)])
        async with _running(restarted, bot):
            await asyncio.sleep(1.5)
        # The sixth card waits for the window instead of drawing a 429.
        assert len(await client.sent(chat_id=STAFF_CHAT)) == 5
        assert (await client.counters())["rate_limited"] == 0
        assert await storage.pending_count() == 1
        await storage.close()


def test_replayed_sends_fill_the_window() -> None:
    now = time.time()
    budgets = SendBudgets(BudgetConfig(telegram_group_per_minute=3), clock=lambda: 1000.0)
    budgets.replay([(Messenger.TELEGRAM, STAFF_CHAT, 1, now - 50.0), (Messenger.TELEGRAM, STAFF_CHAT, 2, now - 10.0)])
    # Full until the oldest send leaves the minute, about 10 s from now.
    assert 9.0 < budgets.wait_time(Messenger.TELEGRAM, STAFF_CHAT) < 11.5
    assert budgets.wait_time(Messenger.TELEGRAM, -200) == 0.0


@pytest.mark.parametrize("backend", ["local", "redis"])
async def test_a_message_counts_from_when_it_arrived(backend: str, namespace: str) -> None:
    config = BudgetConfig(telegram_group_per_minute=0, telegram_private_per_second=1, telegram_global_per_second=0)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    budgets: Budgets = SendBudgets(config) if backend == "local" else RedisSendBudgets(client, config, namespace)
    try:
        assert await budgets.reserve(Messenger.TELEGRAM, 41, 1, "first") == 0.0
        # While the first message is on its way, the chat's one-a-second budget is spent.
        assert await budgets.reserve(Messenger.TELEGRAM, 41, 1, "second") > 0
        await asyncio.sleep(0.5)  # the send took half a second (a busy event loop, a slow upload)
        await budgets.settle("first")
        await asyncio.sleep(0.6)
        # A second after the reservation but half a second after the arrival: Telegram still counts it.
        assert 0.3 < await budgets.reserve(Messenger.TELEGRAM, 41, 1, "second") < 0.6
        await asyncio.sleep(0.6)
        assert await budgets.reserve(Messenger.TELEGRAM, 41, 1, "second") == 0.0
        await budgets.settle("second")
    finally:
        await client.aclose()
