"""Terms, reminders and the resident's verdict, end to end: the real bot against the Telegram and VK emulators.

Terms are set short by the administrator (`/category_terms 1 take=0.002 answer=0.004`: 7.2 s and 14.4 s) and the
bot looks for due reminders every REMINDER_INTERVAL_SECONDS; every wait has a generous timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.harness import (
    ADMIN,
    OFFICIAL,
    SENDS,
    STAFF_CHAT,
    StaffMember,
    VkResident,
    World,
    buttons,
    make_settings,
    photo_bytes,
    running_bot,
    sent,
    shown,
    text_of,
    vk_labels,
    wait_until,
    world,
)
from tests.tg_emulator import TelegramEmulator

INTERVAL = 0.2
FAST: dict[str, Any] = {"reminder_interval_seconds": INTERVAL, "daily_summary_at": ""}
# Seconds to wait for a reminder: its term plus a slow machine's margin.
REMINDER_WAIT = 35.0
OFFICIAL_NAME = f"{OFFICIAL['first_name']} {OFFICIAL['last_name']}"
FIXED = "✅ Yes, it is fixed"
NOT_FIXED = "❌ No, it is not fixed"
GONE = "Reopened by the resident (not fixed): its new card is below."


async def short_terms(w: World, terms: str = "take=0.002 answer=0.004") -> None:
    """The administrator sets Roads' terms short."""
    [done] = await w.admin.write(f"/category_terms 1 {terms}")
    assert "1. Roads" in text_of(done), text_of(done)


async def staff_messages(w: World, since: int) -> list[dict[str, Any]]:
    """What the bot posted in the staff chat after `since`."""
    return await w.client.sent(chat_id=STAFF_CHAT, since=since, method=SENDS)


async def next_staff(w: World, since: int, count: int = 1, seconds: float = REMINDER_WAIT) -> list[dict[str, Any]]:
    """Wait for the bot's next `count` messages in the staff chat after `since`."""
    return await w.client.wait_sent(chat_id=STAFF_CHAT, since=since, count=count, timeout=seconds, method=SENDS)


def due_at(database: Path, report_id: int, column: str) -> datetime:
    """A report's stored due time (take_due_at, answer_due_at), as an aware UTC time."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        raw = db.execute(f"SELECT {column} FROM reports WHERE id = ?", (report_id,)).fetchone()[0]
    value = datetime.fromisoformat(raw) if isinstance(raw, str) else datetime.fromtimestamp(float(raw), UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def quiet_staff(w: World, since: int, intervals: int = 8) -> list[dict[str, Any]]:
    """Let the bot look for reminders several more times; return what it posted in the staff chat meanwhile."""
    await asyncio.sleep(intervals * INTERVAL + 0.5)
    return await staff_messages(w, since)


# 1. A reminder is a reply to the card, names who took it, marks the card overdue, and comes once.


async def test_an_overdue_answer_is_told_once_as_a_reply_to_the_card_naming_who_took_it(tmp_path: Path) -> None:
    async with world(tmp_path, **FAST) as w:
        await short_terms(w)
        resident = w.resident(1401)
        confirmation, card = await sent(w, resident, "Pothole by the school")
        assert "Expect an answer by" in text_of(confirmation) and "(MSK)" in text_of(confirmation)
        await w.official.press(card, "Take into work", count=0)
        await w.official.card_shows(card, "taken by Oleg Official")

        since = await w.client.last_seq()
        over: dict[str, Any] = {}

        async def passed() -> bool:
            nonlocal over
            found = [m for m in await staff_messages(w, since) if "has passed" in text_of(m)]
            over = found[0] if found else {}
            return bool(found)

        await wait_until(passed, "a reminder that the answer term has passed", REMINDER_WAIT)
        assert over["reply_to_message_id"] == card["message_id"]
        assert "Report #1" in text_of(over) and "the term of first answer has passed" in text_of(over)
        assert f"taken by {OFFICIAL_NAME}" in text_of(over)
        assert "taking into work" not in text_of(over)  # it was taken: that term no longer runs
        now = await w.official.card_shows(card, "⚠ Overdue: first answer was due")
        assert "Overdue: taking into work" not in shown(now)

        # Several more looks: nothing is said about it again.
        seen = await staff_messages(w, since)
        assert await quiet_staff(w, since) == seen
        assert sum("has passed" in text_of(m) for m in seen) == 1


async def test_a_report_nobody_took_is_told_overdue_for_taking_and_answering(tmp_path: Path) -> None:
    async with world(tmp_path, **FAST) as w:
        await short_terms(w)
        resident = w.resident(1402)
        _confirmation, card = await sent(w, resident, "Broken kerb on Lenina")
        since = await w.client.last_seq()

        async def both_passed() -> bool:
            said = " ".join(text_of(m) for m in await staff_messages(w, since))
            return "the term of taking into work has passed" in said and "the term of first answer has passed" in said

        await wait_until(both_passed, "both terms reported passed", REMINDER_WAIT)
        reminders = [m for m in await staff_messages(w, since) if "Report #1" in text_of(m)]
        assert reminders and all(m["reply_to_message_id"] == card["message_id"] for m in reminders)
        assert all("nobody has taken it" in text_of(m) for m in reminders)
        await w.official.card_shows(card, "⚠ Overdue: taking into work was due", "⚠ Overdue: first answer was due")
        seen = await staff_messages(w, since)
        assert await quiet_staff(w, since) == seen


async def test_a_near_reminder_comes_before_the_term_passes_and_the_over_one_after(tmp_path: Path) -> None:
    """REMIND_AT (0.75) of the answer term: "ends at"; at its due time: "has passed" (each once, in that order)."""
    async with world(tmp_path, **FAST) as w:
        await short_terms(w)
        resident = w.resident(1403)
        _confirmation, card = await sent(w, resident, "Street light out on Mira")
        await w.official.press(card, "Take into work", count=0)
        await w.official.card_shows(card, "taken by Oleg Official")
        answer_due = due_at(w.settings.database_path, 1, "answer_due_at")
        since = await w.client.last_seq()

        async def passed() -> bool:
            return any("has passed" in text_of(m) for m in await staff_messages(w, since))

        await wait_until(passed, "a reminder that the answer term has passed", REMINDER_WAIT)
        reminders = await staff_messages(w, since)
        [over] = [m for m in reminders if "has passed" in text_of(m)]
        # Not "has passed" (and the card "Overdue") while the term still runs.
        sent_at = datetime.fromtimestamp(over["ts"], UTC)
        assert sent_at >= answer_due, (
            f"'has passed' sent at {sent_at:%H:%M:%S.%f}, the term ends {answer_due:%H:%M:%S.%f}"
        )
        # The "near" reminder came first, at REMIND_AT of the term.
        near = [m for m in reminders if "the term of first answer ends at" in text_of(m)]
        assert len(near) == 1 and reminders.index(near[0]) < reminders.index(over), [text_of(m) for m in reminders]
        assert all(m["reply_to_message_id"] == card["message_id"] for m in reminders)
        await w.official.card_shows(card, "⚠ Overdue: first answer was due")
        assert await quiet_staff(w, since) == reminders and len(reminders) == 2


# 2. Reminders of several reports at once go as one digest.


async def test_reminders_of_reports_filed_together_go_as_one_digest(tmp_path: Path) -> None:
    async with world(tmp_path, **FAST) as w:
        await short_terms(w, "take=0.005 answer=0.01")  # 18 s and 36 s: room to file three reports first
        cards = []
        for n, problem in enumerate(["Pothole one", "Pothole two", "Pothole three"]):
            _confirmation, card = await sent(w, w.resident(1410 + n), problem, seed=n)
            cards.append(card)
        since = await w.client.last_seq()

        [digest] = await next_staff(w, since)
        assert "Terms of 3 reports" in text_of(digest), text_of(digest)
        for number, card in enumerate(cards, 1):
            assert f"#{number}" in text_of(digest)
            # Each number links to its card in the staff chat.
            assert f'href="https://t.me/c/{str(STAFF_CHAT)[4:]}/{card["message_id"]}"' in str(digest["text"])
        assert digest.get("reply_to_message_id") is None
        # Not three replies to the cards as well.
        await quiet_staff(w, since)
        ids = {c["message_id"] for c in cards}
        assert [m for m in await staff_messages(w, since) if m.get("reply_to_message_id") in ids] == []


# 3. /category_terms


async def test_category_terms_good_and_bad_input(tmp_path: Path) -> None:
    async with world(tmp_path, **FAST) as w:
        [done] = await w.admin.write("/category_terms 1 take=0.5 answer=2,5 resolve=5")
        assert "1. Roads" in text_of(done)
        for shown_term in ("take within 0.5 h", "answer within 2.5 h", "resolve within 5 working days"):
            assert shown_term in text_of(done), text_of(done)
        [listing] = await w.admin.write("/categories")
        before = text_of(listing)
        assert "1. Roads (shown, photo required, answer within 2.5 h)" in before
        assert "take within 0.5 h, resolve within 5 working days" in before

        for bad in ("take=abc", "foo=1", "resolve=0", "", "take=0.0001", "take=1 take=2", "answer"):
            [usage] = await w.admin.write(f"/category_terms 1 {bad}".rstrip())
            said = text_of(usage).strip()
            assert "\n" not in said, (bad, said)
            assert said.startswith(("Write /category_terms", "Give ")), (bad, said)
        [listing] = await w.admin.write("/categories")
        assert text_of(listing) == before

        # An official who is not an administrator cannot change them.
        since = await w.client.last_seq()
        await w.official.write("/category_terms 1 take=1", count=0)
        await w.official.quiet(since, 1.0)
        [listing] = await w.admin.write("/categories")
        assert text_of(listing) == before


# 4. The resident's verdict on Telegram.


async def resolved_with_photo(w: World, resident: Any, card: dict[str, Any], text: str) -> dict[str, Any]:
    """An official resolves the report with an after photo (a captioned photo replying to the card)."""
    since = await resident.mark()
    [ack] = await w.official.reply(card, photo=photo_bytes(40), caption=f"/resolve {text}")
    assert "resolved" in text_of(ack)
    [resolution] = await resident.wait(since)
    return dict(resolution)


async def test_not_fixed_on_telegram_reopens_with_a_new_card(tmp_path: Path) -> None:
    async with world(tmp_path, **FAST) as w:
        resident = w.resident(1420)
        _confirmation, card = await sent(w, resident, "Pothole at the crossing")
        resolution = await resolved_with_photo(w, resident, card, "Patched")
        assert "#1 is resolved" in text_of(resolution)
        assert {FIXED, NOT_FIXED, "1", "2", "3", "4", "5"} <= set(buttons(resolution))
        assert "Is the problem really fixed?" in text_of(resolution)

        since = await w.client.last_seq()
        [told] = await resident.press(resolution, NOT_FIXED)
        assert "Report #1 is reopened" in text_of(told) and "Write what is still wrong" in text_of(told)
        [new_card] = await next_staff(w, since, seconds=10)
        assert "🔁 Report #1 is reopened: the resident says it is not fixed." in text_of(new_card)
        assert "Status: Reopened" in text_of(new_card)
        assert new_card["message_id"] != card["message_id"]
        await w.official.card_shows(card, GONE)

        since = await w.client.last_seq()
        [ack] = await resident.send("The hole is back after the rain")
        assert "#1" in text_of(ack)
        [post] = await next_staff(w, since, seconds=10)
        assert post["reply_to_message_id"] == new_card["message_id"]
        assert "The hole is back after the rain" in text_of(post)


async def test_fixed_and_rated_on_telegram_and_not_fixed_afterwards_is_refused(tmp_path: Path) -> None:
    async with world(tmp_path, **FAST) as w:
        resident = w.resident(1421)
        _confirmation, card = await sent(w, resident, "Bench broken in the park")
        resolution = await resolved_with_photo(w, resident, card, "Bench replaced")

        [thanks] = await resident.press(resolution, FIXED)
        assert "Thank you! Report #1 is closed as fixed." in text_of(thanks)
        await w.official.card_shows(card, "The resident confirmed: fixed.")

        [rated] = await resident.press(resolution, "4")
        assert "4 of 5" in text_of(rated)
        await w.official.card_shows(card, "The resident confirmed: fixed.", "rating of the answer: 4 of 5")

        since = await w.client.last_seq()
        refused = await resident.press(resolution, NOT_FIXED, count=0)
        refusal = await refusal_of(w, resident, since, refused)
        assert "You have already answered about report #1." in refusal
        assert "Reopened" not in shown(await w.official.card(card["message_id"]))
        assert [m for m in await staff_messages(w, since)] == []


async def refusal_of(w: World, resident: Any, since: int, replies: list[dict[str, Any]]) -> str:
    """What the resident was told after a refused press: a message to the chat or the press's popup."""
    texts: list[str] = []

    async def told() -> bool:
        messages = await resident.inbox(since)
        answers = [a for a in await w.client.callback_answers() if (a.get("answer") or {}).get("text")]
        texts[:] = [text_of(m) for m in messages] + [str(a["answer"]["text"]) for a in answers]
        return any("already answered" in t for t in texts)

    await wait_until(told, "the resident is told the press is refused")
    return " | ".join(texts)


# 5. The verdict on VK.


async def test_not_fixed_on_vk_reopens_with_a_new_card(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True, **FAST) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3401, "en")
        await resident.say("Pothole at the bus stop", photos=[photo_bytes(21)])
        question = await resident.say("Nevsky 1")
        [summary] = await resident.press(question, "Roads")
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)

        since = await resident.mark()
        await w.official.reply(card, photo=photo_bytes(22), caption="/resolve Asphalt patched")
        [resolution] = await resident.wait(since)
        assert "is resolved" in resolution["text"]
        assert {FIXED, NOT_FIXED, "1", "5"} <= set(vk_labels(resolution))

        since = await w.client.last_seq()
        [told] = await resident.press(resolution, NOT_FIXED)
        assert "Report #1 is reopened" in told["text"]
        [new_card] = await next_staff(w, since, seconds=10)
        assert "🔁 Report #1 is reopened: the resident says it is not fixed." in text_of(new_card)
        await w.official.card_shows(card, GONE)

        since = await w.client.last_seq()
        await resident.send("Still a hole there")
        [post] = await next_staff(w, since, seconds=10)
        assert post["reply_to_message_id"] == new_card["message_id"]
        assert "Still a hole there" in text_of(post)


# 6. A restart: a reminder that fell due while the bot was down goes once.


@contextlib.asynccontextmanager
async def staffed(tmp_path: Path) -> AsyncIterator[tuple[TelegramEmulator, Any]]:
    """The Telegram emulator with the staff chat, and the settings of a bot on `tmp_path`'s data."""
    async with TelegramEmulator() as emulator:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        yield emulator, make_settings(emulator.url, tmp_path / "data", **FAST)


async def test_a_reminder_due_while_the_bot_was_down_goes_once_after_the_restart(tmp_path: Path) -> None:
    async with staffed(tmp_path) as (emulator, settings):
        client = emulator.client
        async with running_bot(settings):
            w = World(emulator, client, settings, StaffMember(client, OFFICIAL), StaffMember(client, ADMIN))
            await short_terms(w, "take=0.004 answer=0.006")  # 14.4 s and 21.6 s
            _confirmation, card = await sent(w, w.resident(1430), "Pothole by the stop")
            filed = await client.last_seq()
        # Stopped before the first reminder (at 0.75 of 14.4 s) fell due.
        assert [m for m in await staff_messages(w, filed) if m.get("reply_to_message_id") == card["message_id"]] == []
        answer_due = due_at(settings.database_path, 1, "answer_due_at")
        # Waiting out the term while the bot is down (a wait, not an assertion of timing).
        await asyncio.sleep(max(0.0, (answer_due - datetime.now(UTC)).total_seconds()) + 0.2)

        since = await client.last_seq()
        async with running_bot(settings):
            [reminder] = await next_staff(w, since, seconds=20)
            assert reminder["reply_to_message_id"] == card["message_id"]
            assert "the term of first answer has passed" in text_of(reminder)
            await w.official.card_shows(card, "⚠ Overdue: first answer was due")
            seen = await quiet_staff(w, since)
        assert len([m for m in seen if m.get("reply_to_message_id") == card["message_id"]]) == 1

        # And once more after another restart: nothing is said again.
        since = await client.last_seq()
        async with running_bot(settings):
            await asyncio.sleep(0.3)
            assert await quiet_staff(w, since) == []
