"""Nothing lost: reports and answers get through restarts, kills, 429s, outages and blocked users."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.settings import Settings
from tests.harness import (
    OFFICIAL,
    STAFF_CHAT,
    BotProcess,
    Resident,
    StaffMember,
    World,
    buttons,
    file_report,
    make_settings,
    photo_bytes,
    running_bot,
    text_of,
    wait_for_count,
    world,
)
from tests.tg_emulator import EmulatorClient, TelegramEmulator


@contextlib.asynccontextmanager
async def _emulator(tmp_path: Path) -> AsyncIterator[tuple[EmulatorClient, Settings]]:
    """The emulator with the staff chat, and the bot's settings for it."""
    async with TelegramEmulator() as emulator:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        yield emulator.client, make_settings(emulator.url, tmp_path / "data")


@contextlib.asynccontextmanager
async def _bot_process(settings: Settings) -> AsyncIterator[BotProcess]:
    """The bot as a process of its own, to kill and restart; it must stop cleanly at the end."""
    process = BotProcess(settings)
    process.start()
    try:
        await process.ready()
        yield process
    finally:
        assert await process.stop() == 0


async def _card_of_new_report(w: World, resident: Resident, description: str) -> dict[str, Any]:
    """The resident files and sends a report; returns its card in the staff chat."""
    summary = await file_report(resident, description)
    since = await w.official.mark()
    await resident.press(summary, "Send")
    [card] = await w.official.wait(since)
    return card


async def test_killed_between_confirmation_and_posting_posts_once_after_restart(tmp_path: Path) -> None:
    async with _emulator(tmp_path) as (client, settings), _bot_process(settings) as process:
        resident = Resident(client, {"id": 901, "first_name": "Olga", "language_code": "en"})
        official = StaffMember(client, OFFICIAL)
        summary = await file_report(resident, "Manhole without a cover")
        # Telegram is down for the staff chat: the card cannot be posted yet.
        await client.set_outage(STAFF_CHAT, True)
        [confirmation] = await resident.press(summary, "Send")
        assert "#1" in text_of(confirmation)
        for _ in range(100):
            if any(c["chat_id"] == STAFF_CHAT and c["status"] == 500 for c in await client.calls("sendPhoto")):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the bot never tried to post the card")
        # Kill once the confirmation is recorded as delivered (a kill between Telegram accepting a message
        # and the bot recording it repeats that message once: at least once, by design).
        pending = "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND chat_id = ?"
        await wait_for_count(settings.database_path, pending, 0, (resident.id,))
        process.kill()
        await client.set_outage(STAFF_CHAT, False)
        assert await official.inbox() == []

        since = await client.last_seq()
        process.start()
        await process.ready()
        [card] = await official.wait(since)
        assert "Report #1" in text_of(card) and "Manhole without a cover" in text_of(card)
        await asyncio.sleep(1.5)
        cards = [m for m in await official.inbox() if "Report #" in text_of(m)]
        assert len(cards) == 1
        confirmations = [m for m in await resident.inbox() if "is sent to the officials" in text_of(m)]
        assert len(confirmations) == 1

        # The bot dies as the official's answer is handled: after the restart the answer still arrives. (Its
        # update may come again, and is not relayed twice; but the kill may fall while the answer is being sent,
        # and then the outbox sends it once more: at least once, one copy more per crash at most.)
        since = await resident.mark()
        await official.reply(card, "A crew is on the way")
        process.kill()
        process.start()
        await process.ready()
        await resident.wait(since)
        answers = await resident.quiet(since, 1.5)
        assert 1 <= len(answers) <= 2
        assert all("A crew is on the way" in text_of(a) and "#1" in text_of(a) for a in answers)


async def test_draft_survives_a_restart(tmp_path: Path) -> None:
    async with _emulator(tmp_path) as (client, settings):
        resident = Resident(client, {"id": 902, "first_name": "Petr", "language_code": "en"})
        async with running_bot(settings):
            question = await resident.say("/new")
            await resident.press(question, "Roads")
            await resident.say("Cracked asphalt along the tram line")
        async with running_bot(settings):
            question = await resident.say("/new")
            assert "unfinished report" in text_of(question) and "Where is it?" in text_of(question)
            await resident.say("Tram stop Pobedy")
            summary = await resident.say(photo=photo_bytes(8))
            assert "Cracked asphalt along the tram line" in text_of(summary)


async def test_429_is_honoured_and_the_card_posted_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(903)
        summary = await file_report(resident, "Traffic light is dark")
        await w.client.fail("sendPhoto", 429, retry_after=1, chat_id=STAFF_CHAT, count=2)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [_card] = await w.official.wait(since)
        calls = [c for c in await w.client.calls("sendPhoto") if c["chat_id"] == STAFF_CHAT]
        assert [c["status"] for c in calls] == [429, 429, 200]
        await asyncio.sleep(0.5)
        assert len([m for m in await w.official.inbox() if "Report #" in text_of(m)]) == 1


async def test_server_errors_are_retried(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(904)
        summary = await file_report(resident, "Bus shelter glass broken")
        await w.client.fail("sendPhoto", 502, chat_id=STAFF_CHAT, count=1)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert "Bus shelter glass broken" in text_of(card)


async def test_blocked_resident_is_recorded_and_officials_told(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(905)
        card = await _card_of_new_report(w, resident, "Fallen tree blocks the yard")
        await w.client.block_user(resident.id)
        [_ack, notice] = await w.official.reply(card, "We will remove it tomorrow", count=2)
        assert "Could not deliver a message about report #1" in text_of(notice)
        assert "blocked" in text_of(notice)
        [history] = await w.official.reply(card, "/history")
        assert "message not delivered" in text_of(history)


async def test_an_update_under_way_at_a_kill_is_handled_after_the_restart(tmp_path: Path) -> None:
    async with _emulator(tmp_path) as (client, settings), _bot_process(settings) as process:
        resident = Resident(client, {"id": 905, "first_name": "Inna", "language_code": "en"})
        question = await resident.say("/new")
        [question] = await resident.press(question, "Roads")
        await resident.say("Fallen tree across the path")
        await resident.say("Park Pobedy")
        # The photo's download hangs, so its update is still being handled when the bot dies.
        await client.hang("getFile", 60)
        since = await resident.mark()
        await client.inject_private_message(resident.user, photo=photo_bytes(12))
        for _ in range(200):
            if not await client.faults():  # the rule is spent: getFile was called and hangs
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the bot never asked for the photo")
        process.kill()
        await client.clear_faults()
        assert await resident.inbox(since) == []

        process.start()
        await process.ready()
        [summary] = await resident.wait(since)
        assert "Fallen tree across the path" in text_of(summary) and "Send" in buttons(summary)


async def test_handled_updates_are_not_handled_again_after_a_restart(tmp_path: Path) -> None:
    async with _emulator(tmp_path) as (client, settings):
        resident = Resident(client, {"id": 906, "first_name": "Gleb", "language_code": "en"})
        async with running_bot(settings):
            await resident.say("/start")
            await resident.say("/help")
        async with running_bot(settings):
            await asyncio.sleep(1.0)
        assert len(await resident.inbox()) == 2
        assert await client.pending_updates() == []


async def test_an_officials_answer_handled_twice_reaches_the_resident_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(907)
        card = await _card_of_new_report(w, resident, "Broken bench in the square")
        since_resident, since_staff = await resident.mark(), await w.official.mark()
        message = await w.client.inject_group_message(
            STAFF_CHAT, OFFICIAL, "The bench is fixed tomorrow", reply_to_message_id=card["message_id"]
        )
        await w.official.wait(since_staff)  # the acknowledgement of the first handling
        # Telegram delivers the same message again, as after a crash before its update was confirmed.
        await w.client.inject_update({"message": message})
        acks = await w.official.wait(since_staff, count=2)
        assert all("Answer to report #1 sent to the resident" in text_of(a) for a in acks)
        [answer] = await resident.wait(since_resident)
        assert "The bench is fixed tomorrow" in text_of(answer)
        assert len(await resident.quiet(since_resident, 1.5)) == 1
        [history] = await w.official.reply(card, "/history")
        assert text_of(history).count("The bench is fixed tomorrow") == 1
