"""Live replies (sent at once, not queued) get through a 5xx, a timeout or a 429, and a 4xx is not tried again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.harness import STAFF_CHAT, VkResident, World, buttons, photo_bytes, text_of, world

# One attempt of a live reply is given up after this long (REPLY_TIMEOUT_SECONDS), so a hang costs little here.
REPLY_TIMEOUT = 1.0


async def _statuses(w: World, method: str, chat_id: int) -> list[int]:
    """The HTTP statuses of the bot's calls of `method` into one chat, in order."""
    return [c["status"] for c in await w.client.calls(method) if c["chat_id"] == chat_id]


async def test_a_reply_refused_twice_with_500_still_arrives(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1501)
        await w.client.fail("sendMessage", 500, count=2, chat_id=resident.id, description="Internal Server Error")
        welcome = await resident.say("/start")
        assert "Hello!" in text_of(welcome)
        assert await _statuses(w, "sendMessage", resident.id) == [500, 500, 200]
        assert len(await resident.quiet(0)) == 1


async def test_a_draft_step_whose_reply_hangs_past_the_timeout_still_gets_it(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1502)
        [question] = await resident.press(await resident.say("/new"), "Roads")
        await w.client.hang("sendMessage", 3 * REPLY_TIMEOUT, chat_id=resident.id)
        since = await resident.mark()
        await w.client.inject_private_message(resident.user, "Deep pothole at the crossing")
        [question] = await resident.wait(since)
        assert "Where is it?" in text_of(question)
        # The hung call may still have been delivered when it ended: one copy more at most.
        copies = await resident.quiet(since, 3 * REPLY_TIMEOUT)
        assert 1 <= len(copies) <= 2 and all("Where is it?" in text_of(c) for c in copies)
        # The draft went on as if nothing happened.
        await resident.say("Lenina 5")
        summary = await resident.say(photo=photo_bytes(3))
        assert "Deep pothole at the crossing" in text_of(summary) and "Send" in buttons(summary)


async def test_a_429_waits_its_retry_after(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1503)
        await w.client.fail("sendMessage", 429, retry_after=1, chat_id=resident.id, description="Too Many Requests")
        started = time.monotonic()
        welcome = await resident.say("/start")
        assert "Hello!" in text_of(welcome) and time.monotonic() - started >= 1.0
        assert await _statuses(w, "sendMessage", resident.id) == [429, 200]


async def test_a_400_is_not_tried_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1504)
        await w.client.fail("sendMessage", 400, chat_id=resident.id, description="Bad Request: can't parse entities")
        since = await resident.mark()
        await w.client.inject_private_message(resident.user, "/start")
        assert await resident.quiet(since, 2.0) == []
        assert await _statuses(w, "sendMessage", resident.id) == [400]
        # Nothing is stuck: the next step is answered.
        assert "/new" in text_of(await resident.say("/help"))


async def test_a_retried_reply_keeps_its_place_before_the_next_steps(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1505)
        await w.client.fail("sendMessage", 502, count=2, chat_id=resident.id, description="Bad Gateway")
        since = await resident.mark()
        await w.client.inject_private_message(resident.user, "/start")
        await w.client.inject_private_message(resident.user, "/help")
        await w.client.inject_private_message(resident.user, "/my")
        replies = await resident.wait(since, count=3)
        assert "Hello!" in text_of(replies[0])
        assert "/new" in text_of(replies[1])
        assert "no reports" in text_of(replies[2]).lower()


async def test_a_photo_whose_get_file_fails_once_is_still_taken(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1506)
        await resident.press(await resident.say("/new"), "Roads")
        await resident.say("Broken curb by the bus stop")
        await resident.say("Mira 8")
        await w.client.fail("getFile", 500, description="Internal Server Error")
        summary = await resident.say(photo=photo_bytes(4))
        assert "Broken curb by the bus stop" in text_of(summary) and "Send" in buttons(summary)


async def test_an_officials_acknowledgement_gets_through_a_502(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1507)
        await resident.press(await resident.say("/new"), "Roads")
        await resident.say("Street lamp blinking all night")
        await resident.say("Sadovaya 3")
        summary = await resident.say(photo=photo_bytes(5))
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        await w.client.fail("sendMessage", 502, chat_id=STAFF_CHAT, description="Bad Gateway")
        [ack] = await w.official.reply(card, "Electricians are coming")
        assert "Answer to report #1 sent to the resident" in text_of(ack)


async def test_vk_a_reply_failing_with_http_500_and_vk_error_10_still_arrives(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3501)
        await w.vk.client.inject_http_error("messages.send", 500, peer_id=resident.id)
        await w.vk.client.inject_error("messages.send", 10, peer_id=resident.id, error_msg="Internal server error")
        welcome = await resident.say("Start")
        assert "Hello!" in welcome["text"]
        await asyncio.sleep(0.5)
        assert len(await resident.inbox()) == 1


async def test_vk_a_reply_hanging_past_the_timeout_arrives_once(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True, reply_timeout_seconds=REPLY_TIMEOUT) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3502)
        hang = 4 * REPLY_TIMEOUT
        await w.vk.client.inject_hang("messages.send", hang, peer_id=resident.id)
        started = time.monotonic()
        welcome = await resident.say("Start")
        assert "Hello!" in welcome["text"]
        assert time.monotonic() - started < hang - 0.5  # tried again, not waited out
        # The hung call ends too, with the same random_id: VK drops it, the resident sees one welcome.
        await asyncio.sleep(hang)
        assert len(await resident.inbox()) == 1


async def test_vk_a_refusal_is_not_tried_again(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3503)
        await w.vk.client.inject_error("messages.send", 100, peer_id=resident.id, error_msg="One of the parameters")
        await resident.send("Start", count=0)
        await asyncio.sleep(2.0)
        assert await resident.inbox() == []
        sends = [c for c in await w.vk.client.calls("messages.send") if resident.id in (c.get("peer_ids") or [])]
        assert len(sends) == 1
        assert "Hello!" in (await resident.say("Start"))["text"]
