"""Abuse kept out: reports a day, messages a minute, officials' /ban and /unban (kept across a kill), and the
resident's record on the card; a banned resident keeps their rights over their data."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from bot.settings import Settings
from tests.harness import (
    OFFICIAL,
    STAFF_CHAT,
    BotProcess,
    Resident,
    StaffMember,
    World,
    buttons,
    db_count,
    file_report,
    make_settings,
    photo_bytes,
    sent,
    shown,
    text_of,
    wait_until,
    world,
)
from tests.tg_emulator import EmulatorClient, TelegramEmulator

BLOCKED = "The officials have blocked your messages to this reception office: they are not read."
TOO_FAST = "You are sending messages too fast. Please wait a minute: what you send until then is not taken."
BANNED_ON_CARD = "The resident is banned: their messages reach no one (/unban)."


async def silence(w: World, resident: Resident, since: int, seconds: float = 1.0) -> None:
    """Nothing came to the resident, nor to the staff chat, since `since`."""
    await asyncio.sleep(seconds)
    assert await resident.inbox(since) == []
    assert await w.official.inbox(since) == []


async def early_in_a_minute(room: float = 15.0) -> None:
    """Wait, if need be, until at least `room` seconds of the current minute (since the epoch) are left."""
    into = time.time() % 60
    if into > 60 - room:
        await asyncio.sleep(60 - into + 0.2)


async def test_reports_per_day_are_limited_and_nothing_more_is_created(tmp_path: Path) -> None:
    async with world(tmp_path, reports_per_day=2) as w:
        db = w.settings.database_path
        resident = w.resident(1401)
        await sent(w, resident, "Pothole on Lenina street", seed=1)
        await sent(w, resident, "Pothole on Mira street", seed=2)

        # /new: refused at once.
        refused = await resident.say("/new")
        assert "You have sent 2 reports in the last 24 hours, the most a day." in text_of(refused)
        assert db_count(db, "SELECT COUNT(*) FROM drafts") == 0

        # A report begun with a photo gets to its summary, but Send is refused and the draft kept.
        since = await w.official.mark()
        question = await resident.say(photo=photo_bytes(3), caption="Pothole on Gagarina street")
        [question] = await resident.press(question, "Roads")
        summary = await resident.say("Gagarina 5")
        assert "Send" in buttons(summary)
        [refused] = await resident.press_data(summary, buttons(summary)["Send"])
        assert "You have sent 2 reports in the last 24 hours, the most a day." in text_of(refused)
        assert "Your draft is kept" in text_of(refused)
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 2
        assert db_count(db, "SELECT COUNT(*) FROM drafts WHERE resident = 'tg:1401'") == 1
        assert not [m for m in await w.official.quiet(since) if "Report #" in text_of(m)]

        # Another resident is not limited by it.
        await sent(w, w.resident(1402), "Pothole on Pushkina street", seed=4)
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 3


async def test_messages_over_the_minutes_limit_are_told_once_and_not_taken(tmp_path: Path) -> None:
    async with world(tmp_path, messages_per_minute=5) as w:
        db = w.settings.database_path
        resident = w.resident(1403)
        # The counter is per minute since the epoch: the burst must not straddle a minute's end.
        await early_in_a_minute()
        question = await resident.say("/new")  # 1
        [question] = await resident.press(question, "Roads")  # 2
        where = await resident.say("Hole in the asphalt by the bakery")  # 3
        assert "Where is it?" in text_of(where)
        await resident.say("/help")  # 4
        await resident.say("/help")  # 5
        since = await resident.mark()
        told = await resident.say("Sadovaya 12")  # 6: over the limit
        assert text_of(told) == TOO_FAST
        # Later ones in this minute: nothing, and they change nothing.
        await w.client.inject_private_message(resident.user, "Lenina 1")
        await w.client.inject_private_message(resident.user, photo=photo_bytes(5))
        await w.client.inject_private_message(resident.user, "/new")
        await asyncio.sleep(1.0)
        assert [text_of(m) for m in await resident.inbox(since)] == [TOO_FAST]
        with contextlib.closing(sqlite3.connect(db)) as connection:
            [(body,)] = connection.execute("SELECT body FROM drafts WHERE resident = 'tg:1403'").fetchall()
        assert "Hole in the asphalt by the bakery" in body
        assert "Sadovaya" not in body and "Lenina" not in body
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 0

        # The rights over one's data are never limited.
        privacy = await resident.say("/privacy")
        assert "Personal data" in text_of(privacy)
        forget = await resident.say("/forget")
        assert text_of(forget).startswith("Erase your personal data?")
        assert time.time() % 60 > 1.0, "the burst crossed a minute boundary; the test is not meaningful"


async def test_a_ban_by_reply_keeps_the_resident_out_until_unban(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        db = w.settings.database_path
        resident = w.resident(1404)
        confirmation, card = await sent(w, resident, "Loud music at night in the park")

        [banned] = await w.official.reply(card, "/ban")
        assert text_of(banned) == (
            "The resident of report #1 is banned: their messages create nothing and reach no one. /unban 1 lifts it."
        )
        await w.official.card_shows(card, BANNED_ON_CARD)
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE report_id = 1 AND kind = 'banned'") == 1
        [again] = await w.official.reply(card, "/ban")
        assert text_of(again) == "The resident of report #1 is already banned."
        [history] = await w.official.reply(card, "/history")
        assert "Oleg Official" in text_of(history)

        # Told once; afterwards nothing, and nothing is created or reaches the officials.
        assert text_of(await resident.say("Why is nothing done?")) == BLOCKED
        since = await w.client.last_seq()
        await w.client.inject_private_message(resident.user, "/new")
        await w.client.inject_private_message(resident.user, photo=photo_bytes(9), caption="Look at this")
        await w.client.inject_private_message(
            resident.user, "More noise tonight", reply_to_message_id=confirmation["message_id"]
        )
        await silence(w, resident, since)
        assert db_count(db, "SELECT COUNT(*) FROM drafts") == 0
        assert db_count(db, "SELECT COUNT(*) FROM reports") == 1
        assert db_count(db, "SELECT follow_ups FROM reports WHERE id = 1") == 0

        # /unban NUMBER, written anywhere in the staff chat.
        [lifted] = await w.official.write("/unban 1")
        assert text_of(lifted) == "The ban of the resident of report #1 is lifted."

        async def unmarked() -> bool:
            return BANNED_ON_CARD not in shown(await w.official.card(card["message_id"]))

        await wait_until(unmarked, "the card no longer says the resident is banned")
        assert db_count(db, "SELECT COUNT(*) FROM events WHERE report_id = 1 AND kind = 'unbanned'") == 1
        [not_banned] = await w.official.write("/unban 1")
        assert text_of(not_banned) == "The resident of report #1 is not banned."
        question = await resident.say("/new")
        assert "Choose the category of the problem:" in text_of(question)


async def test_a_ban_by_number_and_its_mistakes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1405)
        other = w.resident(1406)
        _, card = await sent(w, resident, "Someone dumps rubbish in the yard")
        _, other_card = await sent(w, other, "Broken lift in block 4", seed=8)

        [missing] = await w.official.write("/ban 99")
        assert "Report #99 does not exist." in text_of(missing)
        [usage] = await w.official.write("/ban everyone")
        assert "Write /ban NUMBER" in text_of(usage)
        [usage] = await w.official.write("/ban")
        assert "Write /ban NUMBER" in text_of(usage)

        [banned] = await w.official.write("/ban #1")
        assert "The resident of report #1 is banned" in text_of(banned)
        await w.official.card_shows(card, BANNED_ON_CARD)
        # Only that resident: the other keeps writing.
        assert BANNED_ON_CARD not in shown(await w.official.card(other_card["message_id"]))
        assert text_of(await resident.say("/help")) == BLOCKED
        assert "/new" in text_of(await other.say("/help"))


async def test_a_ban_survives_a_kill_and_restart(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client: EmulatorClient = emulator.client
        await client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        settings: Settings = make_settings(emulator.url, tmp_path / "data")
        process = BotProcess(settings)
        process.start()
        try:
            await process.ready()
            resident = Resident(client, {"id": 1407, "first_name": "Kirill", "language_code": "en"})
            official = StaffMember(client, OFFICIAL)
            summary = await file_report(resident, "Car parked on the lawn every day")
            since = await official.mark()
            await resident.press(summary, "Send")
            await official.wait(since)
            [banned] = await official.write("/ban 1")
            assert "The resident of report #1 is banned" in text_of(banned)
            assert text_of(await resident.say("Hello?")) == BLOCKED

            process.kill()
            process.start()
            await process.ready()
            since = await client.last_seq()
            await client.inject_private_message(resident.user, "/new")
            await client.inject_private_message(resident.user, "Are you there?")
            await asyncio.sleep(1.5)
            assert await resident.inbox(since) == []
            assert await official.inbox(since) == []

            [lifted] = await official.write("/unban 1")
            assert "is lifted" in text_of(lifted)
            question = await resident.say("/new")
            assert "Choose the category of the problem:" in text_of(question)
        finally:
            assert await process.stop() == 0


async def test_the_card_shows_the_residents_record(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1408)
        _, first = await sent(w, resident, "Broken street light on Pobedy", seed=11)
        assert "Reports from this resident: 1, rejected: 0" in text_of(first)
        since = await resident.mark()
        await w.official.reply(first, "/reject Not a city light")
        [told] = await resident.wait(since)
        assert "Your report #1 was rejected." in text_of(told)
        _, second = await sent(w, resident, "Broken street light on Mira", seed=12)
        assert "Reports from this resident: 2, rejected: 1" in text_of(second)
        _, third = await sent(w, resident, "Broken street light on Lenina", seed=13)
        assert "Reports from this resident: 3, rejected: 1" in text_of(third)
        _, someone_elses = await sent(w, w.resident(1409), "Broken bench on Lenina", seed=14)
        assert "Reports from this resident: 1, rejected: 0" in text_of(someone_elses)


async def test_a_banned_resident_can_still_read_the_notice_and_erase_their_data(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        db = w.settings.database_path
        resident = w.resident(1410, first_name="Gennady")
        _, card = await sent(w, resident, "Neighbours burn leaves in the yard")
        await w.official.reply(card, "/ban")
        assert text_of(await resident.say("Hello")) == BLOCKED

        privacy = await resident.say("/privacy")
        assert "Personal data" in text_of(privacy)
        question = await resident.say("/forget")
        assert text_of(question).startswith("Erase your personal data?")
        [erased] = await resident.press(question, "Erase my data")
        assert "Your personal data are erased" in text_of(erased)
        assert db_count(db, "SELECT COUNT(*) FROM reports WHERE resident = 'tg:0'") == 1
        assert db_count(db, "SELECT COUNT(*) FROM consents") == 0
        now = await w.official.card_shows(card, "The resident withdrew consent (Telegram): answers go to no one.")
        assert "Gennady" not in shown(now)

        # Erasing oneself does not lift the ban.
        since = await w.client.last_seq()
        await w.client.inject_private_message(resident.user, "/new")
        await silence(w, resident, since)
        assert db_count(db, "SELECT COUNT(*) FROM drafts") == 0


def archived(photos_dir: Path) -> set[str]:
    """The digests of the photos in the archive."""
    return {p.name for p in photos_dir.glob("??/*") if "." not in p.name} if photos_dir.exists() else set()


async def test_photos_of_a_banned_resident_are_not_kept(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1411)
        _, card = await sent(w, resident, "Someone paints the lift walls")
        before = archived(w.settings.photos_dir)
        await w.official.reply(card, "/ban")
        assert text_of(await resident.say("Hi")) == BLOCKED
        since = await w.client.last_seq()
        await w.client.inject_private_message(resident.user, photo=photo_bytes(40), caption="Not read")
        await silence(w, resident, since)
        assert archived(w.settings.photos_dir) == before
