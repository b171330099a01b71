"""/move to another category (and its department chat) and /duplicate: who is told what, and what the cards show."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    ADMIN,
    SENDS,
    STAFF_CHAT,
    Resident,
    StaffMember,
    World,
    buttons,
    photo_bytes,
    shown,
    text_of,
    world,
)
from tests.redis_ns import REDIS_URL

HOUSING_CHAT = -1002000000022
PLUMBER = {"id": 820, "first_name": "Pavel", "last_name": "Plumber", "language_code": "ru"}
OPEN_BUTTONS = {"Take into work", "Resolve", "Reject", "History"}


async def send_report(
    w: World, resident: Resident, description: str, photos: list[bytes], chat: int = STAFF_CHAT
) -> list[dict[str, Any]]:
    """File a Roads report through the dialog; return what the staff chat got: its photos (an album) and card last."""
    question = await resident.say("/new")
    await resident.press(question, "Roads")
    await resident.say(description)
    await resident.say("Sadovaya 12")
    summary = await resident.album(photos) if len(photos) > 1 else await resident.say(photo=photos[0])
    since = await w.client.last_seq()
    await resident.press(summary, "Send")
    count = 1 if len(photos) == 1 else len(photos) + 1
    return await w.client.wait_sent(chat_id=chat, since=since, count=count, timeout=10, method=SENDS)


def in_words(due: str) -> str:
    """A card's time (22.11.2026 14:05, Moscow) as residents read it: "22 November, 14:05"."""
    at = datetime.strptime(due, "%d.%m.%Y %H:%M")
    return f"{at.day} {at.strftime('%B')}, {at.strftime('%H:%M')}"


def due_of(card: dict[str, Any]) -> str:
    """The answer time a card shows."""
    match = re.search(r"answer by: (\d\d\.\d\d\.\d{4} \d\d:\d\d)", shown(card) or text_of(card))
    assert match is not None, shown(card) or text_of(card)
    return match.group(1)


async def test_move_changes_the_category_and_tells_the_resident_only_a_new_answer_time(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        [hours] = await w.admin.write("/category_hours 2 48")
        assert "answer within 48 h" in text_of(hours)
        resident = w.resident(1201)
        [card] = await send_report(w, resident, "Sewage floods the road", [photo_bytes(1)])
        due_before = due_of(card)

        # /move alone lists the categories with their numbers.
        [listing] = await w.official.reply(card, "/move")
        assert "1 · Roads" in text_of(listing) and "2 · Housing and utilities" in text_of(listing)

        # Roads (24 h) to Housing (48 h): the card follows, the resident learns the new answer time.
        since = await resident.mark()
        [moved] = await w.official.reply(card, "/move 2")
        assert "moved to Housing and utilities" in text_of(moved)
        now = await w.official.card_shows(card, "Report #1 · Housing and utilities")
        due_after = due_of(now)
        assert due_after != due_before and due_after in text_of(moved)
        assert set(buttons(now)) == OPEN_BUTTONS
        [told] = await resident.wait(since)
        assert "#1 was passed to Housing and utilities" in text_of(told) and in_words(due_after) in text_of(told)

        # Roads (24 h) to Yards (24 h): the card follows, the resident is told nothing.
        other = w.resident(1202)
        [card2] = await send_report(w, other, "Puddle across the yard road", [photo_bytes(2)])
        since = await other.mark()
        [moved] = await w.official.reply(card2, "/move 3")
        assert "moved to Yards and landscaping" in text_of(moved) and "answer time" not in text_of(moved)
        now = await w.official.card_shows(card2, "Report #2 · Yards and landscaping")
        assert due_of(now) == due_of(card2)
        assert await other.quiet(since) == []

        [same] = await w.official.reply(card2, "/move 3")
        assert "already in Yards and landscaping" in text_of(same)
        [unknown] = await w.official.reply(card2, "/move 99")
        assert "no category with this number" in text_of(unknown)


async def test_move_into_a_department_chat_posts_the_card_and_photos_there(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.client.create_chat(HOUSING_CHAT, "Housing department", "supergroup")
        since = await w.client.last_seq()
        await w.client.inject_group_message(HOUSING_CHAT, ADMIN, "/category_chat 2")
        await w.client.wait_sent(chat_id=HOUSING_CHAT, since=since, count=2, timeout=10, method=SENDS)
        plumber = StaffMember(w.client, PLUMBER, HOUSING_CHAT)

        resident = w.resident(1203)
        album = [photo_bytes(21), photo_bytes(22)]
        *_photos, card = await send_report(w, resident, "Hot water pipe burst under the road", album)
        since = await w.client.last_seq()
        [moved] = await w.official.reply(card, "/move 2")
        assert "card is now in that category's chat" in text_of(moved)
        posted = await w.client.wait_sent(chat_id=HOUSING_CHAT, since=since, count=3, timeout=10, method=SENDS)
        *photos, new_card = posted
        assert [m["method"] for m in posted] == ["sendMediaGroup", "sendMediaGroup", "sendMessage"]
        assert [await w.client.file_bytes(m["photo_file_ids"][-1]) for m in photos] == album
        assert "Report #1 · Housing and utilities" in text_of(new_card)
        assert "Hot water pipe burst under the road" in text_of(new_card)
        assert set(buttons(new_card)) == OPEN_BUTTONS

        old = await w.official.card_shows(card, "Moved to Housing and utilities")
        assert buttons(old) == {}
        # Equal answer times: the resident is not bothered with the move.
        assert await resident.inbox(since) == []

        # The officials there answer it, by its card or by one of its photos.
        since = await resident.mark()
        [ack] = await plumber.reply(new_card, "The pipe is closed off; repair tomorrow")
        assert "sent to the resident" in text_of(ack)
        [answer] = await resident.wait(since)
        assert "The pipe is closed off; repair tomorrow" in text_of(answer)
        await plumber.card_shows(new_card, "taken by Pavel Plumber")
        [history] = await plumber.reply(photos[1], "/history")
        assert "moved to another category: Roads → Housing and utilities" in text_of(history)


@pytest.mark.parametrize("redis", [False, True], ids=["sqlite", "redis"])
async def test_a_duplicate_gets_the_answers_of_the_report_that_covers_it(
    tmp_path: Path, namespace: str, redis: bool
) -> None:
    backend: dict[str, Any] = {"redis_url": REDIS_URL, "redis_namespace": namespace} if redis else {}
    async with world(tmp_path, **backend) as w:
        first, second, third = w.resident(1204), w.resident(1205, first_name="Maria"), w.resident(1206)
        [card1] = await send_report(w, first, "Deep pothole on Lenina", [photo_bytes(31)])
        [card2] = await send_report(w, second, "A hole in the road on Lenina street", [photo_bytes(32)])

        since = await second.mark()
        [linked] = await w.official.reply(card2, "/duplicate 1")
        assert "#2 is marked as a duplicate of #1" in text_of(linked)
        [told] = await second.wait(since)
        assert "#2 is about the same problem as report #1" in text_of(told)
        now = await w.official.card_shows(card2, "Status: Duplicate", "Duplicate of #1")
        assert set(buttons(now)) == {"History"}
        now = await w.official.card_shows(card1, "Residents waiting on it (duplicates): 1")
        assert set(buttons(now)) == OPEN_BUTTONS

        # Neither itself nor a closed report.
        [itself] = await w.official.reply(card1, "/duplicate 1")
        assert "cannot be a duplicate of itself" in text_of(itself)
        [closed] = await w.official.reply(card1, "/duplicate 2")
        assert "#2 is already closed as a duplicate of #1" in text_of(closed)
        assert "Status: New" in shown(await w.official.card(card1["message_id"]))

        # #1's answer and its resolution with the after photo reach #2's resident too.
        since = await second.mark()
        await w.official.reply(card1, "The crew comes on Monday")
        [mine] = await first.wait(since)
        assert "Answer to your report #1" in text_of(mine) and "The crew comes on Monday" in text_of(mine)
        [theirs] = await second.wait(since)
        assert "Answer to report #1, which covers your report #2" in text_of(theirs)
        assert "The crew comes on Monday" in text_of(theirs)
        assert "Write to the officials about #2" in buttons(theirs)

        after = photo_bytes(40)
        since = await second.mark()
        await w.official.reply(card1, photo=after, caption="/resolve Pothole patched")
        [mine] = await first.wait(since)
        [theirs] = await second.wait(since)
        assert "#1 is resolved" in text_of(mine)
        assert "Report #1, which covers your report #2, is resolved" in text_of(theirs)
        assert "Pothole patched" in text_of(theirs)
        assert await w.client.file_bytes(theirs["photo_file_ids"][-1]) == after
        assert await w.client.file_bytes(mine["photo_file_ids"][-1]) == after
        await w.official.card_shows(card1, "Status: Resolved")

        # A duplicate must point to an open report.
        [card3] = await send_report(w, third, "Pothole on Lenina again", [photo_bytes(33)])
        [refused] = await w.official.reply(card3, "/duplicate 1")
        assert "#1 is already resolved" in text_of(refused) and "must point to an open report" in text_of(refused)
        assert "Status: New" in shown(await w.official.card(card3["message_id"]))

        # /reopen unlinks #2: #1's later answers are no longer its resident's.
        since = await second.mark()
        [reopened] = await w.official.reply(card2, "/reopen")
        assert "#2 is reopened" in text_of(reopened)
        [told] = await second.wait(since)
        assert "#2 is reopened" in text_of(told)
        now = await w.official.card_shows(card2, "Status: Reopened")
        assert "Duplicate of" not in shown(now)
        since = await second.mark()
        await w.official.reply(card1, "The patch will be checked in a week")
        [mine] = await first.wait(since)
        assert "The patch will be checked in a week" in text_of(mine)
        assert await second.quiet(since) == []
