"""Fields no one can see, no place on the map, forged buttons: refused politely, and nothing changes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.harness import Resident, VkResident, buttons, photo_bytes, text_of, world

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u202e\u2066\u200f"


async def popup(resident: Resident, item: dict[str, Any], data: str) -> str:
    """Press a button with `data` under `item`; the popup's text."""
    client = resident.client
    callback = await client.inject_callback_query(resident.user, resident.id, item["message_id"], data)
    for _ in range(200):
        record = await client.callback_answer(callback)
        if record.get("answered"):
            return str((record.get("answer") or {}).get("text") or "")
        await asyncio.sleep(0.05)
    raise AssertionError("the press was never answered")


async def test_invisible_text_names_and_empty_places(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # A right-to-left override in the name would flip the card's "From:" line.
        resident = w.resident(1501, first_name="\u202eIvan\u202c\u200b")
        question = await resident.say("/new")
        [question] = await resident.press(question, "Roads")
        assert "Describe the problem" in text_of(question)
        assert "The message is empty" in text_of(await resident.say("\u200b" * 5))
        assert "The message is empty" in text_of(await resident.say(INVISIBLE + " \n" + INVISIBLE))
        # The draft did not change: the description is still what is asked for.
        assert "Describe the problem" in text_of(await resident.say(file=("sticker", b"webp")))
        assert "too long: 2001 characters" in text_of(await resident.say("\u200b" * 100 + "b" * 2001))
        question = await resident.say("Pothole\u202e at the\u200b school \u2066gate\u2069")
        assert "Where is it?" in text_of(question)
        assert "location is empty (0, 0)" in text_of(await resident.say(location={"latitude": 0.0, "longitude": 0.0}))
        assert "Where is it?" in text_of(await resident.say(file=("sticker", b"webp")))
        summary = await resident.say(
            venue={"location": {"latitude": 55.75, "longitude": 37.61}, "title": "\u202eSchool 5", "address": "Mira 1"}
        )
        summary = await resident.say(photo=photo_bytes(2))
        assert "Pothole at the school gate" in text_of(summary)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert "From: Ivan Petrov (Telegram)" in text_of(card)
        assert "Pothole at the school gate" in text_of(card) and "School 5, Mira 1" in text_of(card)
        assert not any(c in text_of(card) for c in INVISIBLE)

        # An official's answer is cleaned too, before the resident reads it.
        since = await resident.mark()
        await w.official.reply(card, "\u202eCrew\u200b is on the way", count=0)
        [answer] = await resident.wait(since)
        assert "Crew is on the way" in text_of(answer)
        [refusal] = await w.official.reply(card, "\u200b\u200b\u200b")
        assert "The answer is empty" in text_of(refusal)
        # Digits int() cannot read are no report number.
        [usage] = await w.official.reply(card, "/move \u00b2")
        assert "Write /move NUMBER" in text_of(usage)
        [usage] = await w.official.reply(card, "/duplicate \u00b2")
        assert "Write /duplicate NUMBER" in text_of(usage)


async def test_malformed_button_data_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1502)
        question = await resident.say("/new")
        [question] = await resident.press(question, "Roads")
        await resident.say("Broken bench in the park")
        await resident.say("Park of Culture")
        summary = await resident.say(photo=photo_bytes(4))
        since = await resident.mark()
        for data in ["r.send" + "\u200b" * 80, "r." + "9" * 200, '{"a": "r.send"}', "r.cat.\u0663", "\x00\x01\xff"]:
            assert "This button is no longer valid." in await popup(resident, summary, data), data
        assert await resident.quiet(since) == []
        # Nothing changed: the summary's buttons still work and send the same report.
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert "Broken bench in the park" in text_of(card) and "Park of Culture" in text_of(card)
        assert "Take into work" in buttons(card)


async def test_vk_payloads_of_the_wrong_shape(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3501, "en")
        resident.user = {"id": 3501, "first_name": "\u202eVasily\u200b", "last_name": "Sidorov"}
        await resident.say("Broken lamp on the corner of Lenina", photos=[photo_bytes(6)])
        for payload in ["not json", '["a", "r.send"]', "[" * 10_000, '{"a": 5}', "{}"]:
            reply = await resident.say("Lenina 5", payload=payload)
            assert "This button is no longer valid." in reply["text"], payload
        assert "location is empty (0, 0)" in (await resident.say(geo=(0.0, 0.0)))["text"]
        # None of those filled the place: it is still asked for.
        question = await resident.say("Lenina 5")
        [summary] = await resident.press(question, "Roads")
        assert "Place: Lenina 5" in summary["text"]
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert "From: Vasily Sidorov (VK)" in text_of(card) and "Lenina 5" in text_of(card)
