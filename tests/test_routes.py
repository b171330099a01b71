"""Routes that never lose a report: department chats that refuse the bot, move, lose a card, or never took it.

The real bot against the Telegram emulator; the tests assert what administrators, officials and residents see.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from pathlib import Path
from typing import Any

from bot.app import make_bot
from tests.harness import (
    ADMIN,
    SENDS,
    STAFF_CHAT,
    WAIT,
    BotProcess,
    Resident,
    StaffMember,
    World,
    db_count,
    file_report,
    make_settings,
    shown,
    text_of,
    wait_for_count,
    wait_until,
    world,
)
from tests.tg_emulator import TelegramEmulator

ROADS = 1
ROADS_CHAT = -1002000000002
ENGINEER = {"id": 810, "first_name": "Roman", "last_name": "Engineer", "language_code": "en"}
PENDING_TO = "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND chat_id = ?"


def cards_of(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The report cards among sent messages, by report number (the last one of each number)."""
    found: dict[int, dict[str, Any]] = {}
    for item in items:
        match = re.search(r"Report #(\d+)", text_of(item))
        if match and "Status:" in text_of(item):
            found[int(match.group(1))] = item
    return found


async def sent_to(w: World, chat_id: int, since: int = 0) -> list[dict[str, Any]]:
    """What the bot sent into a chat after `since` (messages, photos, albums)."""
    return await w.client.sent(chat_id=chat_id, since=since, method=SENDS)


async def wait_for_cards(w: World, chat_id: int, numbers: set[int], since: int = 0) -> dict[int, dict[str, Any]]:
    """Wait until a chat got the cards of these reports (after `since`); return every card sent there since."""
    found: dict[int, dict[str, Any]] = {}

    async def check() -> bool:
        nonlocal found
        found = cards_of(await sent_to(w, chat_id, since))
        return numbers <= set(found)

    await wait_until(check, f"the cards of {sorted(numbers)} in chat {chat_id}")
    return found


async def send(resident: Resident, summary: dict[str, Any]) -> dict[str, Any]:
    """Press Send under the summary; the resident's confirmation."""
    [confirmation] = await resident.press(summary, "Send")
    assert "is sent to the officials" in text_of(confirmation)
    return confirmation


async def report(w: World, resident: Resident, description: str, seed: int) -> dict[str, Any]:
    """A Roads report filed and sent; the resident's confirmation."""
    return await send(resident, await file_report(resident, description, seed))


async def _any_text(w: World, chat_id: int, since: int, text: str) -> bool:
    return any(text in text_of(m) for m in await sent_to(w, chat_id, since))


async def route_here(w: World, chat_id: int) -> list[dict[str, Any]]:
    """The administrator writes `/category_chat 1` inside a group: the bot's post there and its answer."""
    since = await w.client.last_seq()
    await w.client.inject_group_message(chat_id, ADMIN, f"/category_chat {ROADS}")
    posted = await w.client.wait_sent(chat_id=chat_id, since=since, count=2, timeout=WAIT, method=SENDS)
    assert f"This chat ({chat_id}) now receives the reports of the category Roads." in text_of(posted[0])
    assert "Category changed" in text_of(posted[1]) and f"chat {chat_id}" in text_of(posted[1])
    return posted


async def admin_in_private(w: World) -> Resident:
    """The administrator's private chat with the bot (Telegram lets the bot write only after they wrote first)."""
    admin = Resident(w.client, ADMIN)
    assert "1. Roads" in text_of(await admin.say("/categories"))
    return admin


async def roads_line(w: World) -> str:
    """The Roads line of `/categories` in the default staff chat."""
    [listing] = await w.admin.write("/categories")
    [line] = [line for line in text_of(listing).splitlines() if line.startswith("1. Roads")]
    return line


async def test_a_route_to_a_chat_the_bot_cannot_post_in_is_refused(tmp_path: Path) -> None:
    kicked_chat = -1003000000003
    async with world(tmp_path) as w:
        # Never created: Telegram does not know the chat.
        [refused] = await w.admin.write("/category_chat 1 -100999")
        assert "cannot post in chat -100999" in text_of(refused)
        assert "chat not found" in text_of(refused) and "Nothing changed" in text_of(refused)
        assert "chat " not in (await roads_line(w)).split("(", 1)[1]

        # A group the bot was removed from.
        await w.client.create_chat(kicked_chat, "Old roads group", "supergroup")
        await w.client.kick_bot(kicked_chat)
        [refused] = await w.admin.write(f"/category_chat 1 {kicked_chat}")
        assert f"cannot post in chat {kicked_chat}" in text_of(refused)
        assert "bot was kicked" in text_of(refused) and "Nothing changed" in text_of(refused)
        assert "chat " not in (await roads_line(w)).split("(", 1)[1]
        assert await w.client.sent(chat_id=kicked_chat) == []

        # The next Roads report goes to the default staff chat.
        resident = w.resident(1101)
        since = await w.client.last_seq()
        await report(w, resident, "Pothole on Mira street", 1)
        cards = await wait_for_cards(w, STAFF_CHAT, {1}, since)
        assert "Pothole on Mira street" in text_of(cards[1])


async def test_category_chat_written_in_a_group_routes_it_there_after_the_bot_posted(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.client.create_chat(ROADS_CHAT, "Roads department", "supergroup")
        probe, answer = await route_here(w, ROADS_CHAT)
        assert probe["seq"] < answer["seq"]
        assert f"chat {ROADS_CHAT}" in await roads_line(w)

        resident = w.resident(1201)
        since = await w.client.last_seq()
        await report(w, resident, "Crumbling curb by the school", 2)
        cards = await wait_for_cards(w, ROADS_CHAT, {1}, since)
        assert "Crumbling curb by the school" in text_of(cards[1])
        assert await sent_to(w, STAFF_CHAT, since) == []


async def test_a_department_chat_that_refuses_the_bot_gives_its_reports_back_to_the_default_chat(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        await w.client.create_chat(ROADS_CHAT, "Roads department", "supergroup")
        await route_here(w, ROADS_CHAT)
        admin = await admin_in_private(w)

        # An open report whose card is in the department chat.
        first = w.resident(1301)
        since = await w.client.last_seq()
        await report(w, first, "Deep pothole at the bus stop", 3)
        await wait_for_cards(w, ROADS_CHAT, {1}, since)

        # The bot is removed from the department chat; two more residents send Roads reports. The first of their
        # cards hangs a moment on its way, so the second waits behind it for the same chat.
        second, third = w.resident(1302), w.resident(1303)
        summaries = [
            await file_report(second, "Broken traffic light", 4),
            await file_report(third, "Sunken manhole", 5),
        ]
        await w.client.kick_bot(ROADS_CHAT)
        await w.client.hang("sendPhoto", 1.5, chat_id=ROADS_CHAT)
        since = await w.client.last_seq()
        admin_since = await admin.mark()
        await send(second, summaries[0])
        await send(third, summaries[1])

        # Every report of the broken route has a fresh card in the default staff chat naming the route.
        cards = await wait_for_cards(w, STAFF_CHAT, {1, 2, 3}, since)
        note = f"meant for the department chat {ROADS_CHAT} (Roads)"
        for number in (1, 2, 3):
            assert note in text_of(cards[number]) and "bot was kicked" in text_of(cards[number])
        assert "Deep pothole at the bus stop" in text_of(cards[1])
        assert "Broken traffic light" in text_of(cards[2]) and "Sunken manhole" in text_of(cards[3])

        # Told once: the default staff chat and each administrator, not once per card.
        await asyncio.sleep(1.0)
        warning = f"The department chat {ROADS_CHAT} (Roads) refuses the bot"
        assert len([m for m in await sent_to(w, STAFF_CHAT, since) if warning in text_of(m)]) == 1
        assert [warning in text_of(m) for m in await admin.inbox(admin_since)] == [True]
        assert f"chat {ROADS_CHAT}" not in await roads_line(w)
        assert await w.client.sent(chat_id=ROADS_CHAT, since=since) == []

        # Later Roads reports go straight to the default staff chat, without a note.
        fourth = w.resident(1304)
        since = await w.client.last_seq()
        await report(w, fourth, "Ice on the bridge", 6)
        later = await wait_for_cards(w, STAFF_CHAT, {4}, since)
        assert "meant for the department chat" not in text_of(later[4])
        assert await w.client.sent(chat_id=ROADS_CHAT, since=since) == []

        # The officials of the default chat act on the report whose card was in the department chat.
        since = await first.mark()
        [ack] = await w.official.reply(cards[1], "/take")
        assert "#1" in text_of(ack)
        [told] = await first.wait(since)
        assert "#1 has been taken into work" in text_of(told)
        since = await first.mark()
        await w.official.reply(cards[1], "A crew comes on Monday")
        [answer] = await first.wait(since)
        assert "A crew comes on Monday" in text_of(answer)

        # Nothing lost: every report has its card in the default staff chat, and nothing waits.
        assert set(cards_of(await sent_to(w, STAFF_CHAT))) == {1, 2, 3, 4}
        await wait_for_count(w.settings.database_path, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'", 0)


async def test_a_department_chat_taken_back_after_it_broke_receives_cards_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.client.create_chat(ROADS_CHAT, "Roads department", "supergroup")
        await route_here(w, ROADS_CHAT)
        first = w.resident(1351)
        since = await w.client.last_seq()
        await report(w, first, "Pothole near the market", 7)
        await wait_for_cards(w, ROADS_CHAT, {1}, since)

        # The route breaks: the bot is removed and the next card is refused.
        await w.client.kick_bot(ROADS_CHAT)
        second = w.resident(1352)
        await report(w, second, "Fallen road sign", 8)
        await wait_for_cards(w, STAFF_CHAT, {1, 2}, since)

        # The bot is added back and the administrator routes Roads there anew, as the warning asks.
        await w.client.kick_bot(ROADS_CHAT, kicked=False)
        await route_here(w, ROADS_CHAT)
        third = w.resident(1353)
        since = await w.client.last_seq()
        await report(w, third, "Cracked asphalt on Lenina", 9)
        cards = await wait_for_cards(w, ROADS_CHAT, {3}, since)
        assert "Cracked asphalt on Lenina" in text_of(cards[3])
        assert 3 not in cards_of(await sent_to(w, STAFF_CHAT, since))

        # Its officials act on it there.
        engineer = StaffMember(w.client, ENGINEER, ROADS_CHAT)
        since = await third.mark()
        await engineer.reply(cards[3], "Repair is scheduled", count=0)
        [answer] = await third.wait(since)
        assert "Repair is scheduled" in text_of(answer)

        # Should it break again, it gives its reports back again, and says so again.
        await w.client.kick_bot(ROADS_CHAT)
        since = await w.client.last_seq()
        await report(w, w.resident(1354), "Pothole by the stadium", 10)
        again = await wait_for_cards(w, STAFF_CHAT, {3, 4}, since)
        assert all(f"meant for the department chat {ROADS_CHAT}" in text_of(again[n]) for n in (3, 4))
        warning = f"The department chat {ROADS_CHAT} (Roads) refuses the bot"
        await wait_until(
            lambda: _any_text(w, STAFF_CHAT, since, warning), "the default staff chat is told the route broke again"
        )


async def test_a_department_group_upgraded_to_a_supergroup_is_followed_with_its_cards(tmp_path: Path) -> None:
    group, supergroup = -4001, -1004001
    async with world(tmp_path) as w:
        await w.client.create_chat(group, "Roads department", "group")
        await route_here(w, group)
        first = w.resident(1401)
        since = await w.client.last_seq()
        await report(w, first, "Pothole at the crossing", 10)
        old_card = (await wait_for_cards(w, group, {1}, since))[1]

        # The group becomes a supergroup; the next card goes to its new id, and nothing to the default chat.
        await w.client.migrate_chat(group, supergroup)
        second = w.resident(1402)
        since = await w.client.last_seq()
        await report(w, second, "No road markings", 11)
        cards = await wait_for_cards(w, supergroup, {2}, since)
        assert "No road markings" in text_of(cards[2])
        assert f"chat {supergroup}" in await roads_line(w)

        # The older card is found in the new chat (same message id) and its edits happen there.
        engineer = StaffMember(w.client, ENGINEER, supergroup)
        since_resident = await first.mark()
        await engineer.reply(old_card, "/take", count=0)
        [told] = await first.wait(since_resident)
        assert "#1 has been taken into work" in text_of(told)

        async def taken() -> bool:
            return "taken by Roman Engineer" in shown(await engineer.card(old_card["message_id"]))

        await wait_until(taken, "the old card, in the supergroup, shows who took it")
        await asyncio.sleep(0.5)
        assert [m for m in await w.client.sent(chat_id=STAFF_CHAT) if "#" in text_of(m)] == []
        assert await w.client.sent(chat_id=group, since=since) == []

        # A route to a group that already became a supergroup follows it to its new id, and says so.
        await w.client.create_chat(-4002, "Housing department", "group")
        await w.client.migrate_chat(-4002, -1004002)
        since = await w.client.last_seq()
        [answer] = await w.admin.write("/category_chat 2 -4002")
        assert "Chat -4002 became a supergroup; its new id is -1004002." in text_of(answer)
        assert "chat -1004002" in text_of(answer)
        [posted] = await w.client.wait_sent(chat_id=-1004002, since=since, timeout=WAIT)
        assert "This chat (-1004002) now receives the reports of the category" in text_of(posted)


async def test_a_deleted_card_is_posted_anew_and_later_edits_edit_the_new_one(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1501)
        since = await w.client.last_seq()
        confirmation = await report(w, resident, "Broken bench by the pond", 12)
        old_card = (await wait_for_cards(w, STAFF_CHAT, {1}, since))[1]

        # Someone deletes the card.
        bot = make_bot(w.settings)
        try:
            assert await bot.delete_message(STAFF_CHAT, old_card["message_id"])
        finally:
            await bot.session.close()

        # The resident adds to the report: the card is posted anew, showing the report as it is now.
        since = await w.client.last_seq()
        [added] = await resident.send("The second bench is broken too", reply_to_message_id=confirmation["message_id"])
        assert "Added to your report #1" in text_of(added)
        new_card = (await wait_for_cards(w, STAFF_CHAT, {1}, since))[1]
        assert new_card["message_id"] != old_card["message_id"]
        assert "Messages from the resident since: 1" in text_of(new_card)
        assert "Broken bench by the pond" in text_of(new_card)

        # Later changes edit the new card.
        since = await resident.mark()
        await w.official.press(new_card, "Take into work", count=0)
        [told] = await resident.wait(since)
        assert "#1 has been taken into work" in text_of(told)

        async def taken() -> bool:
            return "taken by Oleg Official" in shown(await w.official.card(new_card["message_id"]))

        await wait_until(taken, "the new card shows who took it")
        edits = [m for m in await w.client.sent(chat_id=STAFF_CHAT, since=since) if m["method"].startswith("edit")]
        assert edits and {m["message_id"] for m in edits} == {new_card["message_id"]}
        assert len(cards_of([m for m in await sent_to(w, STAFF_CHAT) if m["seq"] > new_card["seq"]])) == 0


def _rewind(database: Path, chat_id: int) -> None:
    """Make the chat's waiting messages due now (what the 300 s wait would do)."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as db, db:
        db.execute(
            "UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000+00:00'"
            " WHERE status = 'pending' AND chat_id = ?",
            (chat_id,),
        )


async def test_reports_wait_while_the_default_staff_chat_refuses_the_bot(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        admin = await admin_in_private(w)
        database = w.settings.database_path
        await w.client.kick_bot(STAFF_CHAT)
        since = await w.client.last_seq()
        admin_since = await admin.mark()
        first, second = w.resident(1601), w.resident(1602)
        await report(w, first, "Pothole on Gagarina", 13)

        # The administrators are told, and the card waits.
        [told] = await admin.wait(admin_since)
        assert f"The staff chat {STAFF_CHAT} refuses the bot" in text_of(told)
        assert "Reports wait until it takes messages again" in text_of(told)
        await report(w, second, "Dark underpass", 14)
        await asyncio.sleep(1.0)
        assert db_count(database, PENDING_TO, (STAFF_CHAT,)) >= 2
        assert db_count(database, "SELECT COUNT(*) FROM outbox WHERE status = 'failed'") == 0
        assert len(await admin.inbox(admin_since)) == 1
        assert await sent_to(w, STAFF_CHAT, since) == []

        # The bot is back in the chat; once the wait is over (300 s, rewound here) the cards arrive.
        await w.client.kick_bot(STAFF_CHAT, kicked=False)
        await asyncio.to_thread(_rewind, database, STAFF_CHAT)
        cards = await wait_for_cards(w, STAFF_CHAT, {1, 2}, since)
        assert "Pothole on Gagarina" in text_of(cards[1]) and "Dark underpass" in text_of(cards[2])
        await wait_for_count(database, PENDING_TO, 0, (STAFF_CHAT,))
        assert len(await admin.inbox(admin_since)) == 1


async def test_a_report_filed_by_an_intake_that_still_routes_to_the_broken_chat_is_not_lost(tmp_path: Path) -> None:
    """Intake and delivery in two processes: the intake reads categories a few seconds old."""
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        await client.create_chat(ROADS_CHAT, "Roads department", "supergroup")
        settings = make_settings(emulator.url, tmp_path / "data")
        intake, worker = BotProcess(settings, role="intake"), BotProcess(settings, role="worker")
        intake.start()
        worker.start()
        try:
            await intake.ready()
            await worker.ready()
            since = await client.last_seq()
            await client.inject_group_message(ROADS_CHAT, ADMIN, f"/category_chat {ROADS}")
            await client.wait_sent(chat_id=ROADS_CHAT, since=since, count=2, timeout=WAIT, method=SENDS)

            first = Resident(client, {"id": 1701, "first_name": "Olga", "language_code": "en"})
            second = Resident(client, {"id": 1702, "first_name": "Pavel", "language_code": "en"})
            summaries = [await file_report(first, "Broken guardrail", 15), await file_report(second, "Loose curb", 16)]
            await client.kick_bot(ROADS_CHAT)
            since = await client.last_seq()
            await send(first, summaries[0])
            # The worker finds the route broken and gives its reports to the default staff chat...
            warning = f"The department chat {ROADS_CHAT} (Roads) refuses the bot"
            for _ in range(200):
                if any(warning in text_of(m) for m in await client.sent(chat_id=STAFF_CHAT, since=since)):
                    break
                await asyncio.sleep(0.05)
            # ...while the intake, which read the categories a moment ago, still routes Roads to that chat.
            await send(second, summaries[1])
            found: dict[int, dict[str, Any]] = {}
            for _ in range(200):
                found = cards_of(await client.sent(chat_id=STAFF_CHAT, method=SENDS))
                if {1, 2} <= set(found):
                    break
                await asyncio.sleep(0.05)
            assert {1, 2} <= set(found), f"cards in the default staff chat: {sorted(found)}"
        finally:
            codes = [await worker.stop(), await intake.stop()]
        assert codes == [0, 0]
