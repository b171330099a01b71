"""The VK API emulator driven by the real vkbottle 4.11 (API, Bot long poll, uploader, errors)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from vkbottle import API, Bot, Callback, GroupEventType, Keyboard, PhotoMessageUploader, Text, VKAPIError
from vkbottle.bot import Message, MessageEvent
from vkbottle.http import AiohttpClient
from vkbottle.tools.mini_types.bot import message_min
from vkbottle_types.events.bot_events import MessageEvent as MessageEventModel
from vkbottle_types.objects import MessagesMessage, PhotosPhoto

from tests.vk_emulator import VkEmulator, VkEmulatorClient, VkEmulatorError, make_png
from tests.vk_emulator.payloads import photo_sizes

pytestmark = pytest.mark.asyncio

GROUP_ID = 222_333
TOKEN = "test-community-token"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
USER = {"id": 1001, "first_name": "Анна", "last_name": "Смирнова"}


@pytest.fixture
async def vk() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(group_id=GROUP_ID, token=TOKEN, group_name="Приёмная мэра") as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[AiohttpClient]:
    # A fresh client per test: vkbottle's default SingleAiohttpClient is a process-wide singleton.
    client = AiohttpClient()
    yield client
    await client.close()


def make_api(vk: VkEmulator, http: AiohttpClient, token: str = TOKEN) -> API:
    api = API(token, http_client=http)
    api.API_URL = vk.api_url  # class attribute in vkbottle; setting it on the instance is enough
    return api


@pytest.fixture
def api(vk: VkEmulator, http: AiohttpClient) -> API:
    return make_api(vk, http)


@pytest.fixture
async def running_bot(
    vk: VkEmulator, api: API, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[Bot], Awaitable[None]]]:
    """Start `bot.run_polling()` as a task and wait until it blocks in a long poll request."""
    # BotPolling writes .vkbottle/bot-polling/<group>.json into the cwd after every poll.
    monkeypatch.chdir(tmp_path)
    tasks: list[asyncio.Task[Any]] = []

    async def start(bot: Bot) -> None:
        tasks.append(asyncio.create_task(bot.run_polling()))
        await vk.client.wait_polling(timeout=5)

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.read()


# ---------------------------------------------------------------------- messages.send


async def test_send_and_random_id_dedupe(vk: VkEmulator, api: API) -> None:
    keyboard = Keyboard(one_time=True).add(Text("Подать обращение", payload={"cmd": "new"})).get_json()
    first = await api.messages.send(peer_id=USER["id"], random_id=42, message="Здравствуйте", keyboard=keyboard)
    again = await api.messages.send(peer_id=USER["id"], random_id=42, message="Здравствуйте", keyboard=keyboard)
    other_peer = await api.messages.send(peer_id=2002, random_id=42, message="hi")
    zero_a = await api.messages.send(peer_id=USER["id"], random_id=0, message="a")
    zero_b = await api.messages.send(peer_id=USER["id"], random_id=0, message="a")

    assert isinstance(first, int) and first == again
    assert other_peer != first and zero_a != zero_b
    sent = await vk.client.sent(peer_id=USER["id"])
    assert [s["text"] for s in sent] == ["Здравствуйте", "a", "a"]
    assert sent[0]["message_id"] == first and sent[0]["random_id"] == 42
    button = sent[0]["keyboard"]["buttons"][0][0]
    assert button["action"] == {"type": "text", "label": "Подать обращение", "payload": {"cmd": "new"}}
    assert sent[0]["keyboard"]["one_time"] is True
    assert (await vk.client.sent(peer_id=USER["id"], since=sent[0]["seq"]))[0]["message_id"] == zero_a
    assert (await vk.client.counters())["deduplicated"] == 1

    # peer_ids (what Message.answer() uses) returns items; dedupe applies per peer as well.
    items = await api.messages.send(peer_ids=[USER["id"]], random_id=42, message="Здравствуйте")
    assert items[0].message_id == first and items[0].peer_id == USER["id"]


async def test_send_validation_errors(vk: VkEmulator, api: API, http: AiohttpClient) -> None:
    with pytest.raises(VKAPIError[100]):
        await api.messages.send(peer_id=USER["id"], random_id=1, message="")
    with pytest.raises(VKAPIError[100]):
        await api.messages.send(peer_id=USER["id"], message="no random_id")
    with pytest.raises(VKAPIError[914]):
        await api.messages.send(peer_id=USER["id"], random_id=2, message="я" * 4097)
    with pytest.raises(VKAPIError[100]):
        await api.messages.send(peer_id=USER["id"], random_id=3, message="x", attachment="photo-1_999_abc")
    too_wide = Keyboard(inline=True)
    for i in range(6):
        too_wide.add(Text(f"b{i}"))
    with pytest.raises(VKAPIError[911]):
        await api.messages.send(peer_id=USER["id"], random_id=4, message="x", keyboard=too_wide.get_json())
    with pytest.raises(VKAPIError[5]) as bad_token:
        await make_api(vk, http, token="wrong").messages.send(peer_id=USER["id"], random_id=5, message="x")
    assert bad_token.value.code == 5 and "invalid access_token" in bad_token.value.error_msg
    assert await vk.client.sent() == []
    calls = await vk.client.calls(method="messages.send")
    assert [c["error_code"] for c in calls] == [100, 100, 914, 100, 911, 5]


async def test_injected_errors_and_permissions_surface_as_vkapierror(vk: VkEmulator, api: API) -> None:
    await vk.client.inject_error("messages.send", 9, count=2)
    for _ in range(2):
        with pytest.raises(VKAPIError[9]) as flood:
            await api.messages.send(peer_id=USER["id"], random_id=10, message="x")
        assert flood.value.code == 9 and flood.value.error_msg == "Flood control"
    assert await api.messages.send(peer_id=USER["id"], random_id=10, message="x") > 0

    # Peer-targeted fault: only calls addressed to 2002 fail.
    await vk.client.inject_error("messages.send", 10, peer_id=2002)
    assert await api.messages.send(peer_id=USER["id"], random_id=11, message="y") > 0
    with pytest.raises(VKAPIError[10]):
        await api.messages.send(peer_id=2002, random_id=12, message="y")

    await vk.client.set_messages_allowed(USER["id"], False)
    with pytest.raises(VKAPIError[901]) as denied:
        await api.messages.send(peer_id=USER["id"], random_id=13, message="z")
    assert denied.value.error_msg == "Can't send messages for users without permission"
    # With peer_ids (what Message.answer() uses) VK reports the failure inside the item, without
    # message_id; vkbottle_types' model requires message_id, so read the raw response here.
    raw = await api.request("messages.send", {"peer_ids": USER["id"], "random_id": 14, "message": "z"})
    assert raw["response"] == [{"peer_id": USER["id"], "error": {"code": 901, "description": denied.value.error_msg}}]

    counters = await vk.client.counters()
    assert counters["errors_by_code"] == {"9": 2, "10": 1, "901": 1}
    assert counters["sent"] == 2


async def test_rate_limit_and_http_faults(vk: VkEmulator, api: API) -> None:
    await vk.client.set_rate_limit(3)
    results = await asyncio.gather(*(api.utils.get_server_time() for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(r, VKAPIError[6]) for r in results) == 2
    assert sum(isinstance(r, int) for r in results) == 3
    assert (await vk.client.counters())["rate_limited"] == 2
    await vk.client.set_rate_limit(None)

    await vk.client.inject_http_error("utils.getServerTime", 500)
    await vk.client.inject_hang("utils.getServerTime", 0.3)
    url = f"{vk.api_url}utils.getServerTime"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data={"access_token": TOKEN, "v": "5.199"}) as response:
            assert response.status == 500
        started = time.monotonic()
        async with session.post(url, data={"access_token": TOKEN, "v": "5.199"}) as response:
            assert "response" in await response.json()
        assert time.monotonic() - started >= 0.3
    assert await vk.client.faults() == []


# ---------------------------------------------------------------------- long poll through vkbottle


async def test_bot_receives_message_with_photo_and_geo(
    vk: VkEmulator, api: API, running_bot: Callable[[Bot], Awaitable[None]]
) -> None:
    bot = Bot(api=api)
    received: asyncio.Queue[Message] = asyncio.Queue()

    @bot.on.message()
    async def on_message(message: Message) -> None:
        await received.put(message)
        await message.answer("Обращение принято")

    await running_bot(bot)
    picture = make_png(40, 30)
    injected = await vk.client.send_message(
        USER, "Яма на дороге", photos=[picture], geo=(55.7558, 37.6173), client_info={"lang_id": 3}
    )

    message = await asyncio.wait_for(received.get(), 5)
    assert message.text == "Яма на дороге" and message.from_id == USER["id"] and message.peer_id == USER["id"]
    assert message.id == injected["message"]["id"] and message.group_id == GROUP_ID
    assert message.client_info is not None and message.client_info.lang_id == 3
    assert message.geo is not None and message.geo.coordinates is not None
    assert message.geo.coordinates.latitude == pytest.approx(55.7558)
    photos = message.get_photo_attachments()
    assert photos is not None and len(photos) == 1
    sizes = photos[0].sizes or []
    assert [s.type.value for s in sizes] == ["s", "m", "x"]  # never upscaled: all 40x30
    assert (sizes[0].width, sizes[-1].width, sizes[-1].height) == (40, 40, 30)
    assert await fetch(str(sizes[-1].url)) == picture
    attachment = message.get_attachment_strings()[0]  # type: ignore[index]
    assert await vk.client.get_photo_bytes(attachment) == picture

    reply = (await vk.client.wait_sent(peer_id=USER["id"], timeout=5))[0]
    assert reply["text"] == "Обращение принято" and reply["random_id"] == 0

    # The bot may re-send the user's photo by its attachment string (with access key).
    await api.messages.send(peer_id=USER["id"], random_id=7, attachment=attachment)
    forwarded = (await vk.client.sent(peer_id=USER["id"], since=reply["seq"]))[0]
    assert await vk.client.get_photo_bytes(forwarded["attachments"][0]) == picture


async def test_bot_survives_longpoll_failures(
    vk: VkEmulator, api: API, running_bot: Callable[[Bot], Awaitable[None]]
) -> None:
    bot = Bot(api=api)
    received: asyncio.Queue[str] = asyncio.Queue()

    @bot.on.message()
    async def on_message(message: Message) -> None:
        await received.put(message.text)

    await running_bot(bot)
    for failed in (2, 1, 3):
        requests = (await vk.client.state())["longpoll"]["requests"]
        await vk.client.force_longpoll_failure(failed)
        # Wait until the bot has handled the failure and is polling again.
        await vk.client.wait_polling(timeout=5, min_requests=requests + 1)
        await vk.client.send_message(USER, f"after failed={failed}")
        assert await asyncio.wait_for(received.get(), 5) == f"after failed={failed}"
    # An HTTP 500 from the long poll server is logged by vkbottle and retried with the same key/ts.
    requests = (await vk.client.state())["longpoll"]["requests"]
    await vk.client.inject_http_error("longpoll", 500)
    await vk.client.force_longpoll_failure(1)
    await vk.client.wait_polling(timeout=5, min_requests=requests + 2)
    await vk.client.send_message(USER, "after http 500")
    assert await asyncio.wait_for(received.get(), 5) == "after http 500"

    counters = await vk.client.counters()
    assert counters["longpoll_failed"] == {"1": 2, "2": 1, "3": 1}
    assert counters["calls_by_method"]["groups.getLongPollServer"] == 3  # start + refetch after 2 and 3

    # reset() while the bot is blocked in a poll: logs are emptied, the same poll still gets events.
    await vk.client.reset()
    assert (await vk.client.counters())["calls"] == 0
    await vk.client.send_message(USER, "after reset")
    assert await asyncio.wait_for(received.get(), 5) == "after reset"


async def test_message_event_and_answer(
    vk: VkEmulator, api: API, running_bot: Callable[[Bot], Awaitable[None]]
) -> None:
    bot = Bot(api=api)
    events: asyncio.Queue[MessageEvent] = asyncio.Queue()

    @bot.on.raw_event(GroupEventType.MESSAGE_EVENT, dataclass=MessageEvent)
    async def on_callback(event: MessageEvent) -> None:
        await event.show_snackbar("Статус: в работе")
        await events.put(event)

    keyboard = Keyboard(inline=True).add(Callback("Статус", payload={"cmd": "status", "id": 7})).get_json()
    message_id = await api.messages.send(peer_id=USER["id"], random_id=1, message="Ваше обращение", keyboard=keyboard)
    await running_bot(bot)
    pressed = await vk.client.press_callback(USER, {"cmd": "status", "id": 7})

    event = await asyncio.wait_for(events.get(), 5)
    assert event.payload == {"cmd": "status", "id": 7} and event.user_id == USER["id"]
    assert event.conversation_message_id == (await vk.client.sent())[0]["conversation_message_id"]
    answers = await vk.client.event_answers(pressed["event_id"])
    assert answers[0]["event_data"] == {"type": "show_snackbar", "text": "Статус: в работе"}

    with pytest.raises(VKAPIError[100]):
        await api.messages.send_message_event_answer(event_id="unknown", user_id=USER["id"], peer_id=USER["id"])
    assert message_id > 0


async def test_resident_replies_to_a_community_message(
    vk: VkEmulator, api: API, running_bot: Callable[[Bot], Awaitable[None]]
) -> None:
    message_id = await api.messages.send(peer_id=USER["id"], random_id=21, message="Обращение №7 принято")
    elsewhere = await api.messages.send(peer_id=2002, random_id=22, message="Другому жителю")
    bot = Bot(api=api)
    received: asyncio.Queue[Message] = asyncio.Queue()

    @bot.on.message()
    async def on_message(message: Message) -> None:
        await received.put(message)

    await running_bot(bot)
    injected = await vk.client.send_message(USER, "А когда починят?", reply_to=message_id)
    sent = (await vk.client.sent(peer_id=USER["id"]))[0]
    assert injected["message"]["reply_message"] == {
        "date": sent["date"],
        "from_id": -GROUP_ID,
        "text": "Обращение №7 принято",
        "attachments": [],
        "conversation_message_id": sent["conversation_message_id"],
        "peer_id": USER["id"],
        "id": message_id,
    }
    message = await asyncio.wait_for(received.get(), 5)
    assert message.text == "А когда починят?" and message.reply_message is not None
    assert (message.reply_message.id, message.reply_message.from_id) == (message_id, -GROUP_ID)
    assert message.reply_message.conversation_message_id == sent["conversation_message_id"]
    assert message.reply_message.text == "Обращение №7 принято"
    stored = await vk.client.conversation(USER["id"])
    assert stored[-1]["reply_message"]["id"] == message_id

    # Unknown ids and messages of another conversation are refused; so is reply_to with a raw reply_message.
    for bad in (999_999, elsewhere):
        with pytest.raises(VkEmulatorError) as refused:
            await vk.client.send_message(USER, "x", reply_to=bad)
        assert refused.value.status == 400 and "no message" in str(refused.value.body)
    body = {"user": USER, "text": "x", "reply_to": message_id, "reply_message": injected["message"]["reply_message"]}
    async with aiohttp.ClientSession() as session, session.post(f"{vk.url}/_ctl/message_new", json=body) as response:
        assert response.status == 400 and "not both" in (await response.json())["error"]


# ---------------------------------------------------------------------- uploads


async def test_photo_upload_flow(vk: VkEmulator, api: API) -> None:
    picture = make_png(17, 9, (10, 200, 90))
    uploader = PhotoMessageUploader(api)
    attachment = await uploader.upload(picture, peer_id=USER["id"])
    assert attachment.startswith(f"photo-{GROUP_ID}_")

    raw = await uploader.raw_upload(picture, peer_id=USER["id"])
    photo = PhotosPhoto(**raw)
    assert photo.owner_id == -GROUP_ID and photo.sizes and photo.sizes[-1].width == 17
    assert await fetch(str(photo.sizes[-1].url)) == picture

    await api.messages.send(peer_id=USER["id"], random_id=5, message="Ответ с фото", attachment=attachment)
    sent = (await vk.client.sent(peer_id=USER["id"]))[0]
    assert sent["attachments"] == [attachment] and sent["photos"][0]["size"] == len(picture)
    assert await vk.client.get_photo_bytes(attachment) == picture
    assert await vk.client.get_photo_bytes(attachment.rsplit("_", 1)[0]) == picture

    # A forged access key or a saved-photo hash mismatch is rejected like VK does.
    with pytest.raises(VKAPIError[100]):
        await api.messages.send(peer_id=USER["id"], random_id=6, attachment=attachment[:-2] + "zz")
    server = await api.photos.get_messages_upload_server(peer_id=USER["id"])
    assert server.upload_url.startswith(vk.url) and server.group_id == GROUP_ID
    with pytest.raises(VKAPIError[121]):
        await api.request("photos.saveMessagesPhoto", {"server": 1, "photo": "[]", "hash": "bad"})


# ---------------------------------------------------------------------- shapes & misc methods


async def test_payload_shapes_validate_with_vkbottle_models(vk: VkEmulator, api: API) -> None:
    kinds = ["sticker", "audio", "audio_message", "video", "doc", "wall", "poll", "link", "graffiti"]
    injected = await vk.client.send_message(
        USER, "", payload={"command": "start"}, attachments=kinds, photos=[make_png()], geo=(59.93, 30.33)
    )
    message = message_min(injected["update"], api)
    assert [a.type.value for a in message.attachments or []] == ["photo", *kinds]
    assert message.get_payload_json() == {"command": "start"}
    assert message.get_doc_attachments() and message.get_audio_message_attachments()
    MessagesMessage(**injected["message"])

    ladder = photo_sizes("http://x/files/p.jpg", 2000, 1500)
    assert [s["type"] for s in ladder] == ["s", "m", "x", "y", "z", "w"]
    assert (ladder[0]["width"], ladder[-1]["width"], ladder[-1]["height"]) == (75, 2000, 1500)

    chat = await vk.client.send_message({"id": 1002}, "в беседе", peer_id=2_000_000_001)
    assert chat["message"]["id"] == 0  # bots get id=0 for chat messages, like VK

    pressed = await vk.client.press_callback(USER, {"a": 1}, conversation_message_id=5)
    assert MessageEventModel(**pressed["update"]).object.payload == {"a": 1}

    users = await api.users.get(user_ids=[USER["id"], 999_999])
    assert [(u.first_name, u.last_name) for u in users] == [("Анна", "Смирнова")]
    members = await api.messages.get_conversation_members(peer_id=2_000_000_001)
    assert {m.member_id for m in members.items} == {1002, -GROUP_ID}
    group = (await api.groups.get_by_id()).groups[0]  # type: ignore[index]
    assert (group.id, group.name) == (GROUP_ID, "Приёмная мэра")
    assert abs(await api.utils.get_server_time() - time.time()) < 5
    assert await api.messages.mark_as_read(peer_id=USER["id"]) == 1
    assert await api.messages.set_activity(peer_id=USER["id"], type="typing") == 1
    assert await api.groups.set_long_poll_settings(group_id=GROUP_ID, enabled=True, message_new=True) == 1
    full = await api.messages.get_by_conversation_message_id(
        peer_id=USER["id"], conversation_message_ids=[injected["message"]["conversation_message_id"]]
    )
    assert full.items[0].text == "" and len(full.items[0].attachments or []) == 10
    with pytest.raises(VKAPIError[3]):
        await api.request("messages.noSuchMethod", {})


async def test_longpoll_protocol(vk: VkEmulator) -> None:
    client = vk.client
    server = (await client.state())["longpoll"]
    async with aiohttp.ClientSession() as session:

        async def check(**params: Any) -> dict[str, Any]:
            query = {"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 5, **params}
            async with session.post(server["server"], params={k: str(v) for k, v in query.items()}) as resp:
                return await resp.json()  # type: ignore[no-any-return]

        assert await check(key="wrong") == {"failed": 2}
        server = (await client.state())["longpoll"]  # failed=2 does not rotate for a bad key, but refresh anyway

        waiting = asyncio.create_task(check())
        await client.wait_polling(timeout=5)
        started = time.monotonic()
        injected = await client.inject_update({"type": "message_typing_state", "object": {"state": "typing"}})
        answer = await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 2
        assert answer["updates"] == [injected["update"]] and answer["ts"] == str(injected["ts"] + 1)
        assert injected["update"]["group_id"] == GROUP_ID and injected["update"]["v"] == "5.199"

        assert (await check(ts=answer["ts"], wait=0))["updates"] == []
        await client.set_settings(lp_history=1)
        for _ in range(2):
            await client.inject_update({"type": "message_typing_state", "object": {}})
        stale = await check(ts=answer["ts"], wait=0)
        assert stale["failed"] == 1 and int(stale["ts"]) == injected["ts"] + 3

        await client.force_longpoll_failure(2)
        assert await check(ts=stale["ts"]) == {"failed": 2}
        assert await check(ts=stale["ts"]) == {"failed": 2}  # the old key stays invalid
    with pytest.raises(VkEmulatorError) as bad:
        await client.force_longpoll_failure(7)
    assert bad.value.status == 400


async def test_standalone_entry_point() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.vk_emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--print-url",
        "--group-id",
        "77",
        "--token",
        "cli-token",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with VkEmulatorClient(url) as client:
            state = await client.state()
            assert state["group_id"] == 77 and state["tokens"] == ["cli-token"]
            await client.send_message(USER, "ping")
            assert json.loads(json.dumps(await client.conversation(USER["id"])))[0]["text"] == "ping"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
