"""The whole loop on Telegram: a report reaches the staff chat; the answer and the "after" photo come back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import STAFF_CHAT, buttons, photo_bytes, text_of, world

LABELS = {
    "en": {
        "hello": "Hello!",
        "new": "New report",
        "my": "My reports",
        "roads": "Roads",
        "send": "Send",
        "sent": "is sent to the officials",
        "answer": "Answer to your report #1",
        "resolved": "Your report #1 is resolved.",
        "in_progress": "In progress",
        "resolved_status": "Resolved",
    },
    "ru": {
        "hello": "Здравствуйте!",
        "new": "Новое обращение",
        "my": "Мои обращения",
        "roads": "Дороги",
        "send": "Отправить",
        "sent": "передано",
        "answer": "#1",
        "resolved": "#1",
        "in_progress": "В работе",
        "resolved_status": "Решено",
    },
}


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_report_answer_and_resolution_with_photo(tmp_path: Path, language: str) -> None:
    t = LABELS[language]
    async with world(tmp_path) as w:
        resident = w.resident(501, language)
        welcome = await resident.say("/start")
        assert t["hello"] in text_of(welcome)
        assert set(buttons(welcome)) == {t["new"], t["my"]}

        [question] = await resident.press(welcome, t["new"])
        assert t["roads"] in buttons(question)
        [question] = await resident.press(question, t["roads"])
        question = await resident.say("Deep pothole <near> the bus stop & school")
        question = await resident.say(location=(55.751244, 37.618423))
        before = photo_bytes(1)
        summary = await resident.say(photo=before)
        assert "Deep pothole <near> the bus stop & school" in text_of(summary)
        assert t["send"] in buttons(summary)

        since = await w.official.mark()
        [confirmation] = await resident.press(summary, t["send"])
        assert "#1" in text_of(confirmation) and t["sent"] in text_of(confirmation)

        # The staff chat gets the photo with the card as its caption and the action buttons.
        [card] = await w.official.wait(since)
        assert card["method"] == "sendPhoto"
        card_text = text_of(card)
        assert "Report #1" in card_text and "Roads" in card_text
        assert "Deep pothole <near> the bus stop & school" in card_text
        assert "Ivan Petrov" in card_text and "55.75124" in card_text
        assert "yandex.ru/maps" in card["caption"]
        assert {"Take into work", "Resolve", "Reject", "History"} <= set(buttons(card))
        assert await w.client.file_bytes(card["photo_file_ids"][-1]) == before
        # Posted by the file_id the resident's photo came with: the photo is not uploaded again.
        sent_by_resident = [m for m in await w.client.history(501) if m.get("photo") and not m["from"]["is_bot"]]
        assert card["photo_file_ids"][-1] == sent_by_resident[-1]["photo"][-1]["file_id"]

        # The official's reply reaches the resident as the answer for #1.
        since = await resident.mark()
        [ack] = await w.official.reply(card, "We will fix it this week.")
        assert "sent to the resident" in text_of(ack)
        [answer] = await resident.wait(since)
        assert t["answer"] in text_of(answer) and "We will fix it this week." in text_of(answer)

        my = await resident.say("/my")
        assert "#1" in text_of(my) and t["in_progress"] in text_of(my)

        # Resolution with an "after" photo: the resident gets the text and the same bytes.
        after = photo_bytes(2)
        since = await resident.mark()
        [ack] = await w.official.reply(card, photo=after, caption="/resolve Patched the pothole")
        assert "resolved" in text_of(ack)
        [resolution] = await resident.wait(since)
        assert resolution["method"] == "sendPhoto"
        assert t["resolved"] in text_of(resolution) and "Patched the pothole" in text_of(resolution)
        assert await w.client.file_bytes(resolution["photo_file_ids"][-1]) == after

        my = await resident.say("/my")
        assert t["resolved_status"] in text_of(my)

        [history] = await w.official.reply(card, "/history")
        assert [line.split(" · ")[-1].split(":")[0] for line in text_of(history).splitlines()[1:]] == [
            "sent by the resident",
            "answered",
            "resolved",
        ]


async def test_pieces_in_any_order_photo_caption_and_album(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(502)
        # A photo with a caption first: photo and description at once; the bot asks for the category.
        question = await resident.say(photo=photo_bytes(3), caption="Street light is out on Lenina 5")
        assert "category" in text_of(question)
        [question] = await resident.press(question, "Housing and utilities")
        assert "Where is it?" in text_of(question)
        summary = await resident.say("Lenina street 5, by the entrance")
        assert "Photos: 1" in text_of(summary)
        # Change the photos: an album of three counts as one step.
        [question] = await resident.press(summary, "Change photos")
        assert "photos" in text_of(question)
        album = [photo_bytes(10), photo_bytes(11), photo_bytes(12)]
        summary = await resident.album(album)
        assert "Photos: 3" in text_of(summary)
        assert len(await resident.quiet(await resident.mark())) == 0

        since = await w.official.mark()
        await resident.press(summary, "Send")
        staff = await w.official.wait(since, count=4)
        assert [m["method"] for m in staff] == ["sendMediaGroup"] * 3 + ["sendMessage"]
        assert [await w.client.file_bytes(m["photo_file_ids"][-1]) for m in staff[:3]] == album
        assert "Lenina street 5, by the entrance" in text_of(staff[3])
        # A reply to one of the album's photos also reaches the report.
        since = await resident.mark()
        await w.official.reply(staff[1], "Electricians are on their way")
        [answer] = await resident.wait(since)
        assert "Electricians are on their way" in text_of(answer)


async def test_category_without_photo_and_reject(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(503)
        [question] = await resident.press(await resident.say("/new"), "Healthcare")
        await resident.say("Two-hour queue at clinic 3 every morning")
        question = await resident.say("Clinic 3, Gagarina 10")
        assert "Without photo" in buttons(question)
        [summary] = await resident.press(question, "Without photo")
        assert "Photos: none" in text_of(summary)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert card["method"] == "sendMessage" and "Healthcare" in text_of(card)

        # Taking into work from the card's button tells the resident.
        since = await resident.mark()
        [ack] = await w.official.press(card, "Take into work")
        assert "taken into work" in text_of(ack)
        [note] = await resident.wait(since)
        assert "has been taken into work" in text_of(note)

        [refusal] = await w.official.reply(card, "/reject")
        assert "Give the reason" in text_of(refusal)
        since = await resident.mark()
        [ack] = await w.official.reply(card, "/reject The clinic belongs to the regional ministry")
        assert "rejected" in text_of(ack)
        [note] = await resident.wait(since)
        assert "was rejected" in text_of(note) and "regional ministry" in text_of(note)
        [closed] = await w.official.reply(card, "/resolve done", count=1)
        assert "#1 is already rejected" in text_of(closed)


async def test_resolve_without_photo_is_confirmed_first(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(504)
        await resident.say(photo=photo_bytes(4), caption="Broken bench in the park")
        [question] = await resident.press(await resident.say("/new"), "Yards and landscaping")
        summary = await resident.say("Central park, north gate")
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)

        since_resident = await resident.mark()
        [question] = await w.official.reply(card, "/resolve Bench replaced")
        assert "without an after photo" in text_of(question)
        assert await resident.quiet(since_resident) == []
        [cancelled] = await w.official.press(question, "Cancel")
        assert "Not resolved" in text_of(cancelled)

        [question] = await w.official.reply(card, "/resolve Bench replaced")
        [ack] = await w.official.press(question, "Resolve without photo")
        assert "resolved" in text_of(ack)
        [note] = await resident.wait(since_resident)
        assert "is resolved" in text_of(note) and "Bench replaced" in text_of(note)
        # The same question pressed again does nothing more.
        await w.client.inject_callback_query(
            w.official.user, STAFF_CHAT, question["message_id"], buttons(question)["Resolve without photo"]
        )
        assert len(await resident.quiet(since_resident)) == 1


async def test_captioned_photo_answers_the_description_question(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(505)
        [question] = await resident.press(await resident.say("/new"), "Roads")
        assert "Describe the problem" in text_of(question)
        question = await resident.say(photo=photo_bytes(6), caption="Sinkhole in the middle of the lane")
        assert "Where is it?" in text_of(question)
        # An address given when the bot asked for it; then the summary holds all the pieces.
        summary = await resident.say(
            venue={"location": {"latitude": 55.7, "longitude": 37.6}, "title": "Lenina 3", "address": "Moscow"}
        )
        assert "Lenina 3, Moscow" in text_of(summary) and "Photos: 1" in text_of(summary)
