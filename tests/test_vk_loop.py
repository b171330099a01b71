"""Residents on VK get the same service: the report reaches the Telegram staff chat, the answer comes back to VK."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.harness import (
    STAFF_CHAT,
    VK_GROUP,
    VK_TOKEN,
    VkResident,
    buttons,
    make_settings,
    photo_bytes,
    running_bot,
    text_of,
    vk_labels,
    world,
)
from tests.tg_emulator import TelegramEmulator
from tests.vk_emulator import VkEmulator


@pytest.mark.parametrize("callbacks", [True, False], ids=["callback-buttons", "text-buttons"])
async def test_vk_report_resolved_with_photo_in_telegram(tmp_path: Path, callbacks: bool) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3001, "en", callbacks=callbacks)
        welcome = await resident.say("Start")
        assert "Hello!" in welcome["text"]
        assert vk_labels(welcome) == ["New report", "My reports"]

        [question] = await resident.press(welcome, "New report")
        assert "Roads" in vk_labels(question)
        [question] = await resident.press(question, "Roads")
        before = photo_bytes(21)
        question = await resident.say("Pothole <b>&amp; puddle</b> by the school", photos=[before])
        assert "Where is it?" in question["text"]
        summary = await resident.say(geo={"lat": 59.93863, "lon": 30.31413, "place": {"title": "Nevsky 1"}})
        assert "Pothole <b>&amp; puddle</b> by the school" in summary["text"]
        assert "Send" in vk_labels(summary)

        since = await w.official.mark()
        [confirmation] = await resident.press(summary, "Send")
        assert "#1" in confirmation["text"]
        [card] = await w.official.wait(since)
        assert "Report #1" in text_of(card) and "(VK)" in text_of(card) and "Vasily Sidorov" in text_of(card)
        assert "Pothole <b>&amp; puddle</b> by the school" in text_of(card) and "Nevsky 1" in text_of(card)
        assert await w.client.file_bytes(card["photo_file_ids"][-1]) == before

        since = await resident.mark()
        await w.official.reply(card, "Crew sent")
        [answer] = await resident.wait(since)
        assert "Answer to your report #1" in answer["text"] and "Crew sent" in answer["text"]

        after = photo_bytes(22)
        since = await resident.mark()
        await w.official.reply(card, photo=after, caption="/resolve Asphalt patched")
        [resolution] = await resident.wait(since)
        assert "is resolved" in resolution["text"] and "Asphalt patched" in resolution["text"]
        [attachment] = resolution["attachments"]
        assert await w.vk.client.get_photo_bytes(attachment) == after

        my = await resident.say("My")
        assert "#1" in my["text"] and "Resolved" in my["text"]


async def test_vk_rejection_and_russian(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3002, "ru")
        welcome = await resident.say("Начать")
        assert "Здравствуйте" in welcome["text"]
        [question] = await resident.press(welcome, "Новое обращение")
        [question] = await resident.press(question, "Здравоохранение")
        await resident.say("Очередь в поликлинике номер три")
        question = await resident.say("Поликлиника 3, ул. Гагарина 10")
        [summary] = await resident.press(question, "Без фото")
        since = await w.official.mark()
        await resident.press(summary, "Отправить")
        [card] = await w.official.wait(since)
        since = await resident.mark()
        await w.official.reply(card, "/reject Not in the city's competence")
        [note] = await resident.wait(since)
        assert "отклонено" in note["text"].lower() and "Not in the city's competence" in note["text"]


async def test_vk_bad_input(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3003, "en")
        for kind in ["sticker", "audio", "audio_message", "video", "doc", "wall", "poll"]:
            reply = await resident.say(attachments=[kind])
            assert "I can only take text, photos and a location" in reply["text"], kind
        assert "too long" in (await resident.say("x" * 10_000))["text"]
        # A forged payload from a text button and from a callback.
        assert "not available" in (await resident.say("Roads", payload='{"a":"r.cat.777777"}'))["text"]
        forged = await resident.say("hi", payload='{"a":"s.take.1"}')
        assert "no longer valid" in forged["text"]
        since = await resident.mark()
        await w.vk.client.press_callback(resident.user, {"a": "garbage"})
        answers = []
        for _ in range(50):
            answers = await w.vk.client.event_answers()
            if answers:
                break
            await asyncio.sleep(0.05)
        assert answers and "no longer valid" in answers[-1]["event_data"]["text"]
        assert await resident.inbox(since) == []
        # Nothing of this reached the officials.
        assert await w.official.inbox() == []


async def test_vk_resident_who_forbade_messages_is_reported_to_officials(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3004, "en")
        await resident.say("Bus 12 skips the stop on Lenina", photos=[photo_bytes(23)])
        question = await resident.say("Lenina stop")
        [summary] = await resident.press(question, "Public transport")
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        await w.vk.client.set_messages_allowed(resident.id, False)
        [_ack, notice] = await w.official.reply(card, "We asked the carrier", count=2)
        assert "Could not deliver a message about report #1" in text_of(notice) and "901" in text_of(notice)
        assert "History" in buttons(card)


async def test_vk_long_poll_recovers_and_a_restart_answers_what_came_meanwhile(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        settings = make_settings(
            emulator.url, tmp_path / "data", vk_token=VK_TOKEN, vk_group_id=VK_GROUP, vk_api_url=vk.url
        )
        resident = VkResident(vk.client, 3010, "en")
        async with running_bot(settings):
            await vk.client.wait_polling()
            assert "Hello!" in (await resident.say("Start"))["text"]
            # VK's long poll failures: 1 (history lost, go on from the new ts), 2 (key expired), 3 (all lost).
            for failed in (1, 2, 3):
                requests = (await vk.client.state())["longpoll"]["requests"]
                await vk.client.force_longpoll_failure(failed)
                await vk.client.wait_polling(timeout=5, min_requests=requests + 1)
                assert "You have no reports yet." in (await resident.say("My"))["text"]
        assert (tmp_path / "data" / f"vk-longpoll-{VK_GROUP}.json").exists()
        # Written while the bot is down: the restarted bot picks it up from the saved position, and only it.
        since = await resident.mark()
        await resident.send("My", count=0)
        async with running_bot(settings):
            [reply] = await resident.wait(since)
            assert "You have no reports yet." in reply["text"]
            await asyncio.sleep(0.5)
            assert len(await resident.inbox(since)) == 1
