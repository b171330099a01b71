"""Webhook mode: Telegram (the emulator) POSTs each update; the bot's reply travels in the HTTP answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import buttons, photo_bytes, text_of, webhook_mode, world

SECRET = "webhook_secret_42"


def _webhook() -> dict[str, Any]:
    return webhook_mode(webhook_path="/tg", webhook_secret=SECRET)


async def test_the_whole_loop_over_the_webhook(tmp_path: Path) -> None:
    settings = _webhook()
    port = settings["webhook_port"]
    async with world(tmp_path, **settings) as w:
        resident = w.resident(801)
        welcome = await resident.say("/start")
        assert "Hello!" in text_of(welcome)
        [question] = await resident.press(welcome, "New report")
        [question] = await resident.press(question, "Roads")
        await resident.say("The bridge railing is broken")
        await resident.say(location=(55.75, 37.61))
        summary = await resident.say(photo=photo_bytes(21))
        since = await w.official.mark()
        [confirmation] = await resident.press(summary, "Send")
        assert "#1" in text_of(confirmation)
        [card] = await w.official.wait(since)
        assert "The bridge railing is broken" in text_of(card) and "Take into work" in buttons(card)

        # The dialog's replies travelled in the webhook answers; the bot's own sendMessage to the resident is the
        # confirmation from the outbox only.
        calls = await w.client.calls("sendMessage", chat_id=801)
        own = [c for c in calls if c["via"] == "http"]
        assert len(own) == 1 and "#1" in own[0]["params"]["text"]
        assert len([c for c in calls if c["via"] == "webhook_answer"]) >= 5

        since = await resident.mark()
        [ack] = await w.official.reply(card, "Repair crew is on the way.")
        assert "sent to the resident" in text_of(ack)
        [answer] = await resident.wait(since)
        assert "Repair crew is on the way." in text_of(answer)
        webhook = (await w.client.state())["webhook"]
        assert webhook["url"] == f"http://127.0.0.1:{port}/tg" and webhook["secret_token"] == SECRET
        assert await w.client.pending_updates() == []


async def test_an_unreadable_update_is_answered_and_skipped(tmp_path: Path) -> None:
    async with world(tmp_path, **_webhook()) as w:
        await w.client.inject_update({"message": {"message_id": "not a number", "chat": "nowhere"}})
        welcome = await w.resident(802).say("/start")
        assert "Hello!" in text_of(welcome)
        # Answered 200, so Telegram does not deliver it again and again.
        assert await w.client.pending_updates() == []


async def test_an_update_whose_handling_fails_is_answered_500_and_handled_when_it_comes_again(tmp_path: Path) -> None:
    async with world(tmp_path, **_webhook()) as w:
        resident = w.resident(803)
        welcome = await resident.say("/start")
        [question] = await resident.press(welcome, "New report")
        # The press's popup answer is a call of the bot's own; Telegram failing it for longer than the bot waits
        # (a 429 beyond LIVE_PATIENCE_SECONDS; a 5xx is tried again at once) fails the update's handling.
        await w.client.fail("answerCallbackQuery", 429, retry_after=60, description="Too Many Requests")
        [question] = await resident.press(question, "Roads")
        assert "describe" in text_of(question).lower()
        answers = await w.client.calls("answerCallbackQuery")
        assert [c["status"] for c in answers[-2:]] == [429, 200]
        webhook = (await w.client.state())["webhook"]
        assert webhook["last_error_message"].startswith("Wrong response from the webhook: 500")
        assert await w.client.pending_updates() == []


async def test_a_post_without_the_secret_is_refused(tmp_path: Path) -> None:
    settings = _webhook()
    url = f"http://127.0.0.1:{settings['webhook_port']}/tg"
    update = {
        "update_id": 99,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 804, "type": "private"},
            "from": {"id": 804, "is_bot": False, "first_name": "Eve"},
            "text": "/start",
        },
    }
    async with world(tmp_path, **settings) as w, aiohttp.ClientSession() as http:
        # The bot sets its webhook once it listens.
        for _ in range(100):
            if (await w.client.state())["webhook"]["url"]:
                break
            await asyncio.sleep(0.05)
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {"X-Telegram-Bot-Api-Secret-Token": "ж"}):
            async with http.post(url, json=update, headers=headers) as resp:
                assert resp.status == 401
        assert await w.client.calls("sendMessage", chat_id=804) == []
        async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
            assert resp.status == 200
            assert (await resp.json())["method"] == "sendMessage"
