"""Intake and delivery as two processes on one host, sharing the SQLite database (no Redis)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.delivery.local import AnotherWorker, WakeSender, delivery_lock, wake_listener, wake_path
from tests.harness import (
    OFFICIAL,
    STAFF_CHAT,
    BotProcess,
    Resident,
    StaffMember,
    agree,
    file_report,
    make_settings,
    text_of,
    wait_for_count,
)
from tests.tg_emulator import TelegramEmulator


async def test_intake_and_worker_processes_deliver_everything_once_through_a_worker_kill(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        settings = make_settings(emulator.url, tmp_path / "data")
        intake, worker = BotProcess(settings, role="intake"), BotProcess(settings, role="worker")
        intake.start()
        worker.start()
        try:
            await intake.ready()
            await worker.ready()
            official = StaffMember(client, OFFICIAL)
            first = Resident(client, {"id": 1501, "first_name": "Olga", "language_code": "en"})
            summary = await file_report(first, "Manhole without a cover", photo_seed=first.id % 50)
            since = await official.mark()
            [confirmation] = await first.press(summary, "Send")  # the reply comes from the intake
            assert "#1" in text_of(confirmation)
            [card] = await official.wait(since)  # the card from the worker
            assert "Report #1" in text_of(card) and "Manhole without a cover" in text_of(card)

            # The worker dies (once it recorded its sends: a kill between Telegram taking a message and the worker
            # recording it repeats that message, by design); the intake keeps taking reports, and they wait.
            await wait_for_count(settings.database_path, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'", 0)
            worker.kill()
            residents = [Resident(client, {"id": 1510 + i, "first_name": "R", "language_code": "en"}) for i in range(4)]
            since = await official.mark()
            for r in residents:
                await agree(r)  # the notice is the intake's; the confirmation will be the dead worker's
                summary = await file_report(r, f"Broken bench number {r.id}", photo_seed=r.id % 50)
                await r.press(summary, "Send", count=0)
            await wait_for_count(settings.database_path, "SELECT COUNT(*) FROM reports", 5)
            assert await official.quiet(since) == []

            worker.start()
            await worker.ready()
            await official.wait(since, count=4)
            await asyncio.sleep(1.0)  # a second copy of any card would come now
            cards = [m for m in await official.inbox(since) if "Report #" in text_of(m)]
            assert sorted(text_of(c).split("Broken bench number ")[1].split()[0] for c in cards) == sorted(
                str(r.id) for r in residents
            )
            for r in residents:
                sent = [m for m in await r.inbox() if "is sent to the officials" in text_of(m)]
                assert len(sent) == 1

            # An official's answer goes in through the intake and out through the worker.
            since = await first.mark()
            await official.reply(card, "A crew is on the way")
            [answer] = await first.wait(since)
            assert "A crew is on the way" in text_of(answer)
        finally:
            codes = [await worker.stop(), await intake.stop()]  # both stopped, whatever happened
        assert codes == [0, 0]


async def test_a_second_delivering_process_on_one_database_is_refused(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        settings = make_settings(emulator.url, tmp_path / "data")
        first, second = BotProcess(settings, role="all"), BotProcess(settings, role="worker")
        first.start()
        try:
            for _ in range(200):  # the first one is up (polling), so it holds the database
                if await emulator.client.calls("getUpdates"):
                    break
                await asyncio.sleep(0.05)
            second.start()
            assert second.proc is not None
            assert await asyncio.to_thread(second.proc.wait, 60) == 2  # it exits on its own, with a clear reason
            assert "another process already delivers from this database" in second.log_path.read_text()
        finally:
            code = await first.stop()
            if second.proc is not None and second.proc.poll() is None:
                await second.stop()
        assert code == 0


async def test_the_delivery_lock_admits_one_holder_and_is_free_again_after(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    async with delivery_lock(database):
        with pytest.raises(AnotherWorker):
            async with delivery_lock(database):
                pass
    async with delivery_lock(database):
        pass


async def test_the_intake_wakes_the_worker_with_a_datagram(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    woken = asyncio.Event()
    sender = WakeSender(database)
    sender()  # no worker listening yet: nothing happens, nothing fails
    async with wake_listener(database, woken.set) as listening:
        assert listening
        sender()
        await asyncio.wait_for(woken.wait(), 5)
    sender.close()


async def test_without_a_socket_the_worker_still_starts_and_polls(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    wake_path(database).mkdir()  # something that is not a socket sits where the socket would go
    async with wake_listener(database, lambda: None) as listening:
        assert not listening
