"""Who may act on what: department chats on their own reports, buttons on their own card, admins where they work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

ROADS_CHAT = -1002000000002
STRANGERS = -1003000000003
ENGINEER = {"id": 810, "first_name": "Roman", "last_name": "Engineer", "language_code": "ru"}
ELSEWHERE = "handled in another staff chat"


async def department(w: World, chat_id: int, title: str, category_id: int, member: dict[str, Any]) -> StaffMember:
    """Create a group, make it the department chat of a category (ADMIN writes /category_chat there); its official."""
    await w.client.create_chat(chat_id, title, "supergroup")
    since = await w.client.last_seq()
    await w.client.inject_group_message(chat_id, ADMIN, f"/category_chat {category_id}")
    # The bot's probe ("This chat now receives ...") and its answer to the administrator.
    await w.client.wait_sent(chat_id=chat_id, since=since, count=2, timeout=10, method=SENDS)
    return StaffMember(w.client, member, chat_id)


async def send_report(
    w: World, resident: Resident, category: str, description: str, seed: int, chat: int = STAFF_CHAT
) -> dict[str, Any]:
    """File a one-photo report in a category through the dialog; return its card (a photo) in `chat`."""
    question = await resident.say("/new")
    await resident.press(question, category)
    await resident.say(description)
    await resident.say("Sadovaya 12")
    summary = await resident.say(photo=photo_bytes(seed))
    since = await w.client.last_seq()
    await resident.press(summary, "Send")
    [card] = await w.client.wait_sent(chat_id=chat, since=since, timeout=10, method=SENDS)
    return card


async def test_a_department_chat_does_not_act_on_a_report_moved_away_from_it(tmp_path: Path) -> None:
    """The Roads engineer moves a burst water main to Housing (default staff chat): the old card stays in the Roads
    chat, and a reply, /take or a button under it there is refused and reaches no resident."""
    async with world(tmp_path) as w:
        engineer = await department(w, ROADS_CHAT, "Roads department", 1, ENGINEER)
        resident = w.resident(1101)
        old_card = await send_report(w, resident, "Roads", "Water pours out of the road", 1, ROADS_CHAT)

        since = await w.official.mark()
        [moved] = await engineer.reply(old_card, "/move 2")
        assert "moved to Housing and utilities" in text_of(moved)
        [new_card] = await w.official.wait(since)
        assert "Water pours out of the road" in text_of(new_card)
        left = await engineer.card_shows(old_card, "Moved to Housing and utilities")
        assert buttons(left) == {}

        since = await resident.mark()
        [refused] = await engineer.reply(old_card, "We will dig it up tomorrow")
        assert ELSEWHERE in text_of(refused)
        [refused] = await engineer.reply(old_card, "/take")
        assert ELSEWHERE in text_of(refused)
        await engineer.press_data(old_card, "s.take.1", count=0)
        assert ELSEWHERE in await engineer.popup()
        assert await resident.quiet(since) == []
        assert "Status: New" in shown(await w.official.card(new_card["message_id"]))

        # The chat it went to answers it.
        [ack] = await w.official.reply(new_card, "A plumber is on the way")
        assert "sent to the resident" in text_of(ack)
        [answer] = await resident.wait(since)
        assert "A plumber is on the way" in text_of(answer)


async def test_the_default_staff_chat_acts_on_a_report_held_by_a_department_chat(tmp_path: Path) -> None:
    """A Housing report turns out to be a pothole: the default chat moves it to Roads, whose department chat gets the
    card; the coordinator in the default chat still follows it up through the card that stayed behind there."""
    async with world(tmp_path) as w:
        engineer = await department(w, ROADS_CHAT, "Roads department", 1, ENGINEER)
        resident = w.resident(1102)
        old_card = await send_report(w, resident, "Housing and utilities", "Pothole at the entrance", 2)
        since = await w.client.last_seq()
        await w.official.reply(old_card, "/move 1")
        [new_card] = await w.client.wait_sent(chat_id=ROADS_CHAT, since=since, timeout=10, method=SENDS)
        await w.official.card_shows(old_card, "Moved to Roads")

        since = await resident.mark()
        [taken] = await w.official.reply(old_card, "/take")
        assert "taken into work by Oleg Official" in text_of(taken)
        [told] = await resident.wait(since)
        assert "#1 has been taken into work" in text_of(told)
        # The change shows on the card where the report is handled.
        await engineer.card_shows(new_card, "Status: In progress", "taken by Oleg Official")

        since = await resident.mark()
        [ack] = await w.official.reply(old_card, "The road crew comes this week")
        assert "sent to the resident" in text_of(ack)
        [answer] = await resident.wait(since)
        assert "The road crew comes this week" in text_of(answer)


async def test_a_button_acts_only_on_the_report_of_its_card(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        first, second = w.resident(1103), w.resident(1104)
        card1 = await send_report(w, first, "Roads", "Broken traffic light", 3)
        card2 = await send_report(w, second, "Roads", "Missing manhole cover", 4)

        since = await w.client.last_seq()
        await w.official.press_data(card1, "s.take.2", count=0)
        assert "no longer valid" in await w.official.popup()
        assert await first.quiet(since) == [] and await second.inbox(since) == []
        assert await w.official.inbox(since) == []
        assert [m for m in await w.client.sent(since=since) if m["method"].startswith("edit")] == []
        assert "Status: New" in shown(await w.official.card(card1["message_id"]))
        assert "Status: New" in shown(await w.official.card(card2["message_id"]))

        since = await first.mark()
        [taken] = await w.official.press_data(card1, "s.take.1")
        assert "#1 is taken into work" in text_of(taken)
        await w.official.card_shows(card1, "taken by Oleg Official")
        [told] = await first.wait(since)
        assert "#1 has been taken into work" in text_of(told)
        assert "Status: New" in shown(await w.official.card(card2["message_id"]))
        assert await second.inbox(since) == []


async def test_the_resolve_without_photo_question_is_answered_only_in_its_own_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        engineer = await department(w, ROADS_CHAT, "Roads department", 1, ENGINEER)
        resident = w.resident(1105)
        card = await send_report(w, resident, "Roads", "Pothole near the bus stop", 5, ROADS_CHAT)
        [question] = await engineer.reply(card, "/resolve Patched with cold asphalt")
        data = buttons(question)["Resolve without photo"]
        assert data.startswith("s.rnp.")

        # The same confirmation pressed in the default staff chat (under any message of the bot's there).
        [help_] = await w.official.write("/help")
        since = await resident.mark()
        await w.official.press_data(help_, data, count=0)
        assert "already answered" in await w.official.popup()
        assert await resident.quiet(since) == []
        assert "Status: New" in shown(await engineer.card(card["message_id"]))

        # The question is still open in the chat that was asked.
        [resolved] = await engineer.press(question, "Resolve without photo")
        assert "#1 is resolved" in text_of(resolved)
        [told] = await resident.wait(since)
        assert "#1 is resolved" in text_of(told) and "Patched with cold asphalt" in text_of(told)
        await engineer.card_shows(card, "Status: Resolved")


def roads_line(listing: dict[str, Any]) -> str:
    """The Roads line of a /categories listing."""
    [line] = [line for line in text_of(listing).splitlines() if line.startswith("1. ")]
    return line


async def test_admin_commands_work_in_private_and_staff_chats_only(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.client.create_chat(STRANGERS, "Neighbours of Lenina 5", "supergroup")
        admin_there = w.admin.elsewhere(STRANGERS)
        polite = "Administrators' commands work in a private chat with the bot and in the staff chats."

        [answer] = await admin_there.write("/categories")
        assert text_of(answer) == polite
        [answer] = await admin_there.write("/category_hide 1")
        assert text_of(answer) == polite
        [listing] = await w.admin.write("/categories")
        assert roads_line(listing) == "1. Roads (shown, photo required, answer within 24 h)"

        # Non-administrators are refused everywhere: in that group, in the staff chat, in private.
        only = "Only administrators can change categories."
        [refused] = await w.official.elsewhere(STRANGERS).write("/category_chat 1")
        assert text_of(refused) == only
        [refused] = await w.official.write("/category_hide 1")
        assert text_of(refused) == only
        assert text_of(await w.resident(1106).say("/categories")) == only
        [listing] = await w.admin.write("/categories")
        assert roads_line(listing) == "1. Roads (shown, photo required, answer within 24 h)"

        # /category_chat ID written in the group makes it the Roads department chat.
        since = await w.client.last_seq()
        await w.client.inject_group_message(STRANGERS, ADMIN, "/category_chat 1")
        probe, changed = await w.client.wait_sent(chat_id=STRANGERS, since=since, count=2, timeout=10, method=SENDS)
        assert "now receives the reports of the category Roads" in text_of(probe)
        assert "Category changed" in text_of(changed) and str(STRANGERS) in text_of(changed)
        resident = w.resident(1107)
        card = await send_report(w, resident, "Roads", "Fallen road sign", 6, STRANGERS)
        assert "Fallen road sign" in text_of(card)
        # Now a staff chat, it takes the administrator's commands.
        [listing] = await admin_there.write("/categories")
        assert "1. Roads" in text_of(listing)
