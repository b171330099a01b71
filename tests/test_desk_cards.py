"""The officials' desk in the staff chat: cards that stay current, take and take over, the commands, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import (
    OFFICIAL,
    STAFF_CHAT,
    Resident,
    StaffMember,
    World,
    buttons,
    file_report,
    photo_bytes,
    shown,
    text_of,
    world,
)

COLLEAGUE = {"id": 801, "first_name": "Vera", "last_name": "Colleague", "language_code": "ru"}
OPEN_BUTTONS = {"Take into work", "Resolve", "Reject", "History"}


async def sent_report(w: World, resident: Resident, description: str, seed: int = 7) -> dict[str, Any]:
    """File a report through the dialog and return its card in the staff chat."""
    summary = await file_report(resident, description, seed)
    since = await w.official.mark()
    await resident.press(summary, "Send")
    [card] = await w.official.wait(since)
    return card


async def test_the_card_follows_every_change_with_the_buttons_that_make_sense(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(701)
        card = await sent_report(w, resident, "Broken bench in the park")
        assert "Status: New" in text_of(card)
        assert set(buttons(card)) == OPEN_BUTTONS

        # Taken: the card names who took it; the resident is told.
        since = await resident.mark()
        await w.official.press(card, "Take into work", count=0)
        now = await w.official.card_shows(card, "Status: In progress", "taken by Oleg Official")
        assert set(buttons(now)) == {"Take over", "Resolve", "Reject", "History"}
        [told] = await resident.wait(since)
        assert "#1 has been taken into work" in text_of(told)

        # A colleague takes it over; the history names both, with their names as they were.
        colleague = StaffMember(w.client, COLLEAGUE)
        [ack] = await colleague.reply(card, "/take")
        assert "Vera Colleague" in text_of(ack) and "Oleg Official" in text_of(ack)
        await w.official.card_shows(card, "taken by Vera Colleague")
        [history] = await w.official.reply(card, "/history")
        lines = text_of(history).splitlines()[1:]
        assert [line.split(" · ")[1:] for line in lines] == [
            ["the resident", "sent by the resident"],
            ["Oleg Official", "taken into work"],
            ["Vera Colleague", "taken over: Oleg Official"],
        ]
        # The same official taking it again changes nothing.
        [already] = await colleague.reply(card, "/take")
        assert "already yours" in text_of(already)

        # Resolved: only History is left, and a stale button says what happened.
        since = await resident.mark()
        await w.official.reply(card, photo=photo_bytes(3), caption="/resolve Bench replaced")
        [resolution] = await resident.wait(since)
        assert "#1 is resolved" in text_of(resolution)
        now = await w.official.card_shows(card, "Status: Resolved")
        assert set(buttons(now)) == {"History"}
        assert "Reply to this card" not in shown(now)
        await w.official.press(card, "Take into work", count=0)  # the button under the first rendering
        assert "#1 is already resolved" in await w.official.popup()
        [stale] = await w.official.reply(card, "/reject Too late")
        assert "#1 is already resolved" in text_of(stale)

        # Reopened: the open buttons are back and the resident is told.
        since = await resident.mark()
        [ack] = await w.official.reply(card, "/reopen The bench is broken again")
        assert "reopened" in text_of(ack)
        now = await w.official.card_shows(card, "Status: Reopened")
        assert {"Resolve", "Reject", "History"} <= set(buttons(now))
        [told] = await resident.wait(since)
        assert "#1 is reopened" in text_of(told)

        [rejected] = await w.official.reply(card, "/reject Not our park")
        assert "rejected" in text_of(rejected)
        now = await w.official.card_shows(card, "Status: Rejected")
        assert set(buttons(now)) == {"History"}


async def test_a_text_card_is_edited_as_text_and_photos_stay(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(702)
        question = await resident.say("/new")
        [question] = await resident.press(question, "Roads")
        await resident.say("Two potholes, see both photos")
        await resident.say("Lenina 3")
        summary = await resident.album([photo_bytes(11), photo_bytes(12)])
        since = await w.official.mark()
        await resident.press(summary, "Send")
        *album_photos, card = await w.official.wait(since, count=3)
        album = album_photos[0]
        assert album["method"] == "sendMediaGroup" and card["method"] == "sendMessage"
        since = await resident.mark()
        await w.official.reply(card, "We are on it")
        await resident.wait(since)
        now = await w.official.card_shows(card, "Status: In progress", "taken by Oleg Official")
        assert "Two potholes, see both photos" in shown(now)
        # A reply to the album's photo reaches the same report.
        since = await resident.mark()
        [ack] = await w.official.reply(album, "Photos received")
        assert "sent to the resident" in text_of(ack)
        [answer] = await resident.wait(since)
        assert "Photos received" in text_of(answer)


async def test_help_lists_the_officials_commands_in_the_staff_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        [help_] = await w.official.write("/help")
        for command in ("/take", "/resolve", "/reject", "/reopen", "/move", "/duplicate", "/history"):
            assert command in text_of(help_)
        [unknown] = await w.official.write("/frobnicate")
        assert "/help" in text_of(unknown)


async def test_the_staff_chat_speaks_its_language(tmp_path: Path) -> None:
    async with world(tmp_path, staff_language="ru") as w:
        resident = w.resident(703, "en")
        card = await sent_report(w, resident, "Dark street near school")
        assert "Обращение #1" in text_of(card) and "Новое" in text_of(card)
        await w.official.press(card, "Взять в работу", count=0)
        now = await w.official.card_shows(card, "В работе", "Oleg Official")
        assert "Забрать себе" in set(buttons(now))
        [history] = await w.official.reply(card, "/history")
        assert "заявитель" in text_of(history) and "Oleg Official" in text_of(history)


async def test_an_answer_is_relayed_once_and_the_card_is_not_edited_for_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(704)
        card = await sent_report(w, resident, "Leaking roof in the entrance")
        since = await w.client.last_seq()
        await w.official.reply(card, "Thank you, we will look")
        await w.official.card_shows(card, "taken by Oleg Official")
        await w.official.reply(card, "The roofer comes tomorrow")
        await resident.quiet(since, 1.0)
        edits = [m for m in await w.client.sent(chat_id=STAFF_CHAT, since=since) if m["method"].startswith("edit")]
        # The first answer took it into work (one edit); the second changed nothing on the card.
        assert len(edits) == 1
        assert OFFICIAL["first_name"] in text_of(edits[0])
