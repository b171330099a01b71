"""Administrators configure categories with commands; residents see the change at once."""

from __future__ import annotations

from pathlib import Path

from tests.harness import ADMIN, Resident, buttons, photo_bytes, text_of, world


async def test_category_commands_take_effect_at_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(601)
        [listing] = await w.admin.write("/categories")
        assert "1. Roads" in text_of(listing) and "6. Other" in text_of(listing)

        [added] = await w.admin.write("/category_add Snow removal")
        assert "7. Snow removal" in text_of(added)
        question = await resident.say("/new")
        assert "Snow removal" in buttons(question)

        [renamed] = await w.admin.write("/category_rename 7 Snow & ice <removal>")
        assert "Snow & ice <removal>" in text_of(renamed)
        [hidden] = await w.admin.write("/category_hide 1")
        assert "hidden" in text_of(hidden)
        question = await resident.say("/new")
        assert "Roads" not in buttons(question) and "Snow & ice <removal>" in buttons(question)
        [shown] = await w.admin.write("/category_show 1")
        assert "shown" in text_of(shown)
        [optional] = await w.admin.write("/category_photo 7 off")
        assert "photo optional" in text_of(optional)
        [hours] = await w.admin.write("/category_hours 7 48")
        assert "answer within 48 h" in text_of(hours)
        question = await resident.say("/cancel")
        question = await resident.say("/new")
        assert "Roads" in buttons(question)

        # A stale button of a category hidden since is refused, and the question comes again.
        await w.admin.write("/category_hide 7")
        [again] = await resident.press(question, "Snow & ice <removal>")
        assert "not available" in text_of(again) and "Snow & ice <removal>" not in buttons(again)


async def test_admin_commands_in_private_and_bad_arguments(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        admin = Resident(w.client, ADMIN)
        assert "1. Roads" in text_of(await admin.say("/categories"))
        assert "1. Roads" in text_of(await admin.say("/CATEGORIES"))
        assert "number of the category" in text_of(await admin.say("/category_rename Roads Streets"))
        assert "no category with this number" in text_of(await admin.say("/category_hide 99"))
        assert "Give the name" in text_of(await admin.say("/category_add"))
        assert "too long" in text_of(await admin.say("/category_add " + "x" * 61))
        assert "on or off" in text_of(await admin.say("/category_photo 1 maybe"))
        assert "from 1 to" in text_of(await admin.say("/category_hours 1 0"))
        assert "1. Roads" in text_of(await admin.say("/categories"))


async def test_everyone_else_is_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(602)
        refusal = await resident.say("/category_add Free money")
        assert "Only administrators" in text_of(refusal)
        [refusal] = await w.official.write("/category_hide 1")
        assert "Only administrators" in text_of(refusal)
        russian = w.resident(603, "ru")
        assert "администратор" in text_of(await russian.say("/category_add Халява"))
        [listing] = await w.admin.write("/categories")
        assert "Free money" not in text_of(listing) and "hidden" not in text_of(listing)


async def test_category_routed_to_a_department_chat(tmp_path: Path) -> None:
    roads_chat = -1002000000002
    async with world(tmp_path) as w:
        await w.client.create_chat(roads_chat, "Roads department", "supergroup")
        since = await w.client.last_seq()
        await w.client.inject_group_message(roads_chat, ADMIN, "/category_chat 1")
        [routed] = await w.client.wait_sent(chat_id=roads_chat, since=since, timeout=10)
        assert "Roads" in text_of(routed) and str(roads_chat) in text_of(routed)

        resident = w.resident(604)
        await resident.press(await resident.say("/new"), "Roads")
        await resident.say("Crumbling curb by the school")
        await resident.say("School 5")
        summary = await resident.say(photo=photo_bytes(30))
        since = await w.client.last_seq()
        await resident.press(summary, "Send")
        [card] = await w.client.wait_sent(chat_id=roads_chat, since=since, timeout=10, method="sendPhoto")
        assert "Crumbling curb by the school" in text_of(card)
        assert await w.official.inbox(since) == []

        # The department's official answers right there.
        engineer = {"id": 810, "first_name": "Roman", "language_code": "ru"}
        since = await resident.mark()
        await w.client.inject_group_message(
            roads_chat, engineer, "Repair is scheduled", reply_to_message_id=card["message_id"]
        )
        [answer] = await resident.wait(since)
        assert "Repair is scheduled" in text_of(answer)

        # Back to the default staff chat.
        [cleared] = await w.admin.write("/category_chat 1 off")
        assert str(roads_chat) not in text_of(cleared)
        [_question] = await resident.press(await resident.say("/new"), "Roads")
        await resident.say("Another pothole on School street")
        await resident.say("School street 7")
        summary = await resident.say(photo=photo_bytes(31))
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert "Another pothole on School street" in text_of(card)
