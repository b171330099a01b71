"""Tests for the Telegram Bot API emulator, driven by a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import struct
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MediaUnion,
    Message,
    ReplyParameters,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import MultipartWriter, web

from tests.tg_emulator import EmulatorClient, TelegramEmulator
from tests.tg_emulator.client import EmulatorControlError
from tests.tg_emulator.html_check import EntityParseError, parse_html
from tests.tg_emulator.webhook import BACKOFF_START, SECRET_HEADER, parse_webhook_answer

TOKEN = "123456789:TEST-token_for_emulator"
BOT_ID = 123456789
ANN: dict[str, Any] = {
    "id": 1001, "first_name": "Ann", "last_name": "Petrova", "username": "ann", "language_code": "ru",
}
BOB: dict[str, Any] = {"id": 1002, "first_name": "Bob", "language_code": "en"}
STAFF_CHAT = -1001234567890
BASIC_GROUP = -4518810793  # a basic group ("group"): no -100 prefix
UPGRADED_GROUP = -1002471352452
ROOT = Path(__file__).resolve().parents[1]


def make_png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid RGB PNG of the given size (no Pillow needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes((seed + x) % 256 for x in range(width * 3))
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.url))
    b = Bot(TOKEN, session=session)
    yield b
    await b.session.close()


@pytest.fixture
def ctl(emu: TelegramEmulator) -> EmulatorClient:
    return emu.client


# ---------------------------------------------------------------------- basics


@pytest.mark.asyncio
async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_ID
    assert me.is_bot
    assert me.username


@pytest.mark.asyncio
async def test_auth_and_unknown_method(emu: TelegramEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.url}/botnot-a-token/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.post(f"{emu.url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found: method not found"
        # JSON body and query-string parameters work as well as aiogram's form data.
        await emu.client.inject_private_message(ANN, "hi")
        async with http.post(f"{emu.url}/bot{TOKEN}/sendMessage", json={"chat_id": ANN["id"], "text": "json"}) as r:
            assert (await r.json())["result"]["text"] == "json"
        async with http.get(f"{emu.url}/bot{TOKEN}/sendMessage", params={"chat_id": ANN["id"], "text": "q"}) as r:
            assert (await r.json())["result"]["text"] == "q"


@pytest.mark.asyncio
async def test_injected_message_arrives_via_get_updates(bot: Bot, ctl: EmulatorClient) -> None:
    injected = await ctl.inject_private_message(ANN, "/start")
    await ctl.inject_private_message(ANN, "second")
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["/start", "second"]
    assert updates[0].update_id < updates[1].update_id
    first = updates[0].message
    assert first is not None and first.from_user is not None
    assert first.message_id == injected["message_id"]
    assert first.chat.type == "private" and first.chat.id == ANN["id"]
    assert first.from_user.language_code == "ru"
    assert first.entities is not None and first.entities[0].type == "bot_command"
    # Offset confirms: only the second update stays, then nothing.
    again = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.update_id for u in again] == [updates[1].update_id]
    assert await bot.get_updates(offset=updates[1].update_id + 1, timeout=0) == []


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_update_is_injected(bot: Bot, ctl: EmulatorClient) -> None:
    async def inject_later() -> None:
        await asyncio.sleep(0.3)
        await ctl.inject_private_message(BOB, "late")

    task = asyncio.create_task(inject_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=10)
    assert time.monotonic() - started < 3
    assert updates[0].message is not None and updates[0].message.text == "late"
    await task


@pytest.mark.asyncio
async def test_dispatcher_polling_echo(bot: Bot, ctl: EmulatorClient) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1,
                                                   close_bot_session=False))
    try:
        await ctl.inject_private_message(ANN, "hello")
        items = await ctl.wait_sent(chat_id=ANN["id"], count=1, timeout=5)
        assert items[0]["plain_text"] == "echo: hello"
        assert items[0]["method"] == "sendMessage"
        mark = await ctl.last_seq()
        await ctl.inject_private_message(ANN, "again")
        items = await ctl.wait_sent(chat_id=ANN["id"], since=mark, timeout=5)
        assert [i["plain_text"] for i in items] == ["echo: again"]
    finally:
        await dp.stop_polling()
        await polling


# ---------------------------------------------------------------------- sending and validation


@pytest.mark.asyncio
async def test_send_message_html(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    msg = await bot.send_message(ANN["id"], "<b>Заявка</b> №5 &lt;тест&gt; &amp; <a href=\"https://x.ru\">link</a>",
                                 parse_mode="HTML")
    assert msg.text == "Заявка №5 <тест> & link"
    assert msg.from_user is not None and msg.from_user.is_bot and msg.from_user.id == BOT_ID
    assert msg.entities is not None and {e.type for e in msg.entities} == {"bold", "text_link"}
    second = await bot.send_message(ANN["id"], "next")
    assert second.message_id == msg.message_id + 1
    for broken in ["<b>unclosed", "<br>", "a < b", "x > y", "AT&T", "<b><i>x</b></i>", "</b>"]:
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(ANN["id"], broken, parse_mode="HTML")
    # Without parse_mode the same text is fine.
    assert (await bot.send_message(ANN["id"], "a < b & c")).text == "a < b & c"
    sent = await ctl.sent(chat_id=ANN["id"])
    assert sent[0]["parse_mode"] == "HTML" and sent[0]["text"].startswith("<b>")


@pytest.mark.asyncio
async def test_validation_errors(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(555, "x")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ANN["id"], "   ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ANN["id"], "я" * 4097)
    # The limit applies after entity parsing: 4096 visible characters plus tags is fine.
    await bot.send_message(ANN["id"], "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ANN["id"], BufferedInputFile(make_png(4, 4), "p.png"), caption="c" * 1025)
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ANN["id"], "buttons", reply_markup=markup)
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(ANN["id"], "reply", reply_parameters=ReplyParameters(message_id=999))
    # A user seen only in a group never started the bot.
    await ctl.create_chat(STAFF_CHAT, "Staff")
    await ctl.inject_group_message(STAFF_CHAT, BOB, "hello all")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(BOB["id"], "hi Bob")


@pytest.mark.asyncio
async def test_photo_roundtrip(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    png = make_png(1000, 500)
    msg = await bot.send_photo(ANN["id"], BufferedInputFile(png, "map.png"), caption="<i>карта</i>",
                               parse_mode="HTML")
    assert msg.photo is not None and len(msg.photo) >= 2
    largest = msg.photo[-1]
    assert (largest.width, largest.height) == (1000, 500)
    assert msg.photo[0].width < largest.width
    assert msg.caption == "карта"
    file = await bot.get_file(largest.file_id)
    assert file.file_path
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == png
    assert await ctl.file_bytes(largest.file_id) == png
    # Re-sending by file_id reuses the stored photo.
    again = await bot.send_photo(ANN["id"], largest.file_id)
    assert again.photo is not None and again.photo[-1].file_id == largest.file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(ANN["id"], "no-such-file-id")
    # A photo from the user can be fetched by the bot too.
    user_photo = make_png(8, 6, seed=7)
    incoming = await ctl.inject_private_message(ANN, photo=user_photo, caption="яма на дороге")
    update = (await bot.get_updates(timeout=0))[-1]
    assert update.message is not None and update.message.photo is not None
    assert update.message.photo[-1].file_id == incoming["photo"][-1]["file_id"]
    f = await bot.get_file(update.message.photo[-1].file_id)
    assert f.file_path is not None
    got = await bot.download_file(f.file_path)
    assert got is not None and got.read() == user_photo


@pytest.mark.asyncio
async def test_media_group(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.create_chat(STAFF_CHAT, "Staff")
    media: list[MediaUnion] = [
        InputMediaPhoto(media=BufferedInputFile(make_png(10 + i, 10, seed=i), f"{i}.png"),
                        caption="<b>Фото</b> заявки" if i == 0 else None, parse_mode="HTML")
        for i in range(3)
    ]
    messages = await bot.send_media_group(STAFF_CHAT, media)
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1 and messages[0].media_group_id
    assert messages[0].caption == "Фото заявки"
    assert [m.message_id for m in messages] == sorted(m.message_id for m in messages)
    items = await ctl.sent(chat_id=STAFF_CHAT)
    assert [i["method"] for i in items] == ["sendMediaGroup"] * 3
    assert await ctl.file_bytes(items[2]["photo_file_ids"][-1]) == make_png(12, 10, seed=2)
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(STAFF_CHAT, media[:1])
    assert messages[0].photo is not None
    eleven: list[MediaUnion] = [InputMediaPhoto(media=messages[0].photo[-1].file_id)] * 11
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(STAFF_CHAT, eleven)


@pytest.mark.asyncio
async def test_callback_query(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "/start")
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Да", callback_data="confirm:42")]])
    sent = await bot.send_message(ANN["id"], "Подтвердите", reply_markup=markup)
    assert sent.reply_markup is not None
    callback_id = await ctl.inject_callback_query(ANN, ANN["id"], sent.message_id, "confirm:42")

    dp = Dispatcher()
    seen: list[CallbackQuery] = []

    @dp.callback_query()
    async def on_press(query: CallbackQuery) -> None:
        seen.append(query)
        await query.answer("Принято", show_alert=True)
        assert isinstance(query.message, Message)
        await query.message.edit_text("Подтверждено")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1,
                                                   close_bot_session=False))
    try:
        edits = await ctl.wait_sent(chat_id=ANN["id"], method="editMessageText", timeout=5)
    finally:
        await dp.stop_polling()
        await polling
    assert seen[0].data == "confirm:42" and seen[0].id == callback_id
    assert isinstance(seen[0].message, Message) and seen[0].message.message_id == sent.message_id
    answer = await ctl.callback_answer(callback_id)
    assert answer["answered"] and answer["answer"]["text"] == "Принято" and answer["answer"]["show_alert"]
    # The edit dropped the keyboard, as Telegram does when reply_markup is omitted.
    assert edits[0]["message"]["text"] == "Подтверждено" and "reply_markup" not in edits[0]["message"]
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(callback_id, text="twice")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Подтверждено", chat_id=ANN["id"], message_id=sent.message_id)


# ---------------------------------------------------------------------- faults and limits


@pytest.mark.asyncio
async def test_injected_faults(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    await ctl.fail("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(ANN["id"], "x")
    assert retry.value.retry_after == 7
    await ctl.fail("sendMessage", 500, count=2, chat_id=ANN["id"])
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(ANN["id"], "x")
    assert (await bot.send_message(ANN["id"], "recovered")).text == "recovered"
    # Hang: the answer comes, just late.
    await ctl.hang("getMe", 0.4)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.35
    # Outage of one chat.
    await ctl.set_outage(ANN["id"])
    with pytest.raises(TelegramServerError):
        await bot.send_message(ANN["id"], "down")
    await ctl.set_outage(ANN["id"], enabled=False)
    await bot.send_message(ANN["id"], "up")
    calls = await ctl.calls(method="sendMessage")
    assert [c["status"] for c in calls] == [429, 500, 500, 200, 500, 200]
    assert calls[0]["retry_after"] == 7
    counters = await ctl.counters()
    assert counters["by_status"]["429"] == 1 and counters["by_method"]["sendMessage"]["500"] == 3


@pytest.mark.asyncio
async def test_blocked_user(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    await ctl.block_user(ANN["id"], notify=True)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ANN["id"], "x")
    updates = await bot.get_updates(timeout=0, allowed_updates=["message", "my_chat_member"])
    member = updates[-1].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"
    await ctl.unblock_user(ANN["id"])
    await bot.send_message(ANN["id"], "welcome back")


@pytest.mark.asyncio
async def test_rate_limit_group_burst(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.create_chat(STAFF_CHAT, "Staff")
    await ctl.set_rate_limits(True, factor=0.25)  # 20/min per group -> 5/min
    results: list[str | int] = []
    for i in range(8):
        try:
            await bot.send_message(STAFF_CHAT, f"msg {i}")
            results.append("ok")
        except TelegramRetryAfter as exc:
            results.append(exc.retry_after)
    assert results[:5] == ["ok"] * 5
    assert all(isinstance(r, int) and 1 <= r <= 60 for r in results[5:])
    counters = await ctl.counters()
    assert counters["by_status"]["429"] == 3 and counters["rate_limited"] == 3
    await ctl.set_rate_limits(False)
    await bot.send_message(STAFF_CHAT, "limits off")


@pytest.mark.asyncio
async def test_private_rate_limit_recovers(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    await ctl.set_rate_limits(True)
    await bot.send_message(ANN["id"], "1")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(ANN["id"], "2")
    assert exc.value.retry_after == 1
    await asyncio.sleep(1.05)
    await bot.send_message(ANN["id"], "3")


# ---------------------------------------------------------------------- groups, replies, edits


@pytest.mark.asyncio
async def test_group_reply_resolution(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.create_chat(STAFF_CHAT, "Приёмная: сотрудники")
    card = await bot.send_message(STAFF_CHAT, "Обращение #7 от Ann")
    reply = await ctl.inject_group_message(STAFF_CHAT, BOB, "Ответ заявителю", reply_to_message_id=card.message_id)
    assert reply["reply_to_message"]["message_id"] == card.message_id
    assert reply["reply_to_message"]["from"]["is_bot"] is True
    updates = await bot.get_updates(timeout=0)
    msg = updates[-1].message
    assert msg is not None and msg.chat.type == "supergroup" and msg.chat.title == "Приёмная: сотрудники"
    assert msg.reply_to_message is not None and msg.reply_to_message.text == "Обращение #7 от Ann"
    ack = await bot.send_message(STAFF_CHAT, "Отправлено", reply_parameters=ReplyParameters(message_id=msg.message_id))
    assert ack.reply_to_message is not None and ack.reply_to_message.message_id == msg.message_id
    items = await ctl.sent(chat_id=STAFF_CHAT)
    assert items[-1]["reply_to_message_id"] == msg.message_id
    chat = await bot.get_chat(STAFF_CHAT)
    assert chat.title == "Приёмная: сотрудники"


@pytest.mark.asyncio
async def test_group_migrates_to_supergroup(bot: Bot, ctl: EmulatorClient, emu: TelegramEmulator) -> None:
    await ctl.create_chat(BASIC_GROUP, "Приёмная: сотрудники", chat_type="group")
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Взять", callback_data="take:7")]])
    card = await bot.send_message(BASIC_GROUP, "Обращение #7", reply_markup=markup)
    reply = await ctl.inject_group_message(BASIC_GROUP, BOB, "Беру", reply_to_message_id=card.message_id)
    seen = await bot.get_updates(timeout=0)
    admin = {"id": 1003, "first_name": "Admin"}
    result = await ctl.migrate_chat(BASIC_GROUP, UPGRADED_GROUP, user=admin)
    assert result["chat"] == {"id": UPGRADED_GROUP, "type": "supergroup", "title": "Приёмная: сотрудники"}

    # The two service updates, as Telegram sends them: first in the old group, then in the supergroup.
    updates = await bot.get_updates(offset=seen[-1].update_id + 1, timeout=0)
    assert [u.update_id for u in updates] == result["update_ids"]
    to_msg, from_msg = updates[0].message, updates[1].message
    assert to_msg is not None and from_msg is not None
    assert (to_msg.chat.id, to_msg.chat.type, to_msg.migrate_to_chat_id) == (BASIC_GROUP, "group", UPGRADED_GROUP)
    assert (from_msg.chat.id, from_msg.chat.type, from_msg.migrate_from_chat_id) == (UPGRADED_GROUP, "supergroup",
                                                                                      BASIC_GROUP)
    assert from_msg.chat.title == "Приёмная: сотрудники"
    assert to_msg.from_user is not None and to_msg.from_user.id == admin["id"]

    # Every call naming the old group: 400 with parameters.migrate_to_chat_id -> TelegramMigrateToChat.
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: bot.send_message(BASIC_GROUP, "x"),
        lambda: bot.send_photo(BASIC_GROUP, BufferedInputFile(make_png(4, 4), "p.png")),
        lambda: bot.edit_message_text("y", chat_id=BASIC_GROUP, message_id=card.message_id),
        lambda: bot.edit_message_reply_markup(chat_id=BASIC_GROUP, message_id=card.message_id),
        lambda: bot.delete_message(BASIC_GROUP, card.message_id),
        lambda: bot.get_chat(BASIC_GROUP),
        lambda: bot.get_chat_member(BASIC_GROUP, BOT_ID),
        lambda: bot.copy_message(UPGRADED_GROUP, BASIC_GROUP, reply["message_id"]),
    ]
    for call in calls:
        with pytest.raises(TelegramMigrateToChat) as migrated:
            await call()
        assert migrated.value.migrate_to_chat_id == UPGRADED_GROUP
    async with aiohttp.ClientSession() as http, http.post(
            f"{emu.url}/bot{TOKEN}/sendMessage", json={"chat_id": BASIC_GROUP, "text": "raw"}) as resp:
        assert resp.status == 400
        assert await resp.json() == {"ok": False, "error_code": 400,
                                     "description": "Bad Request: group chat was upgraded to a supergroup chat",
                                     "parameters": {"migrate_to_chat_id": UPGRADED_GROUP}}
    assert {c["status"] for c in await ctl.calls(chat_id=BASIC_GROUP)} == {200, 400}

    # The supergroup holds the group's messages under the same ids (the emulator's choice), so the bot
    # can still edit its card there; new messages follow the migrate_from service message.
    history = await ctl.history(UPGRADED_GROUP)
    assert [m["message_id"] for m in history] == [card.message_id, reply["message_id"], from_msg.message_id]
    assert {m["chat"]["id"] for m in history} == {UPGRADED_GROUP}
    assert history[1]["reply_to_message"]["chat"]["id"] == UPGRADED_GROUP
    edited = await bot.edit_message_text("Обращение #7: в работе", chat_id=UPGRADED_GROUP, message_id=card.message_id)
    assert isinstance(edited, Message) and edited.chat.id == UPGRADED_GROUP
    after = await bot.send_message(UPGRADED_GROUP, "Новое",
                                   reply_parameters=ReplyParameters(message_id=reply["message_id"]))
    assert after.message_id == from_msg.message_id + 1
    assert after.reply_to_message is not None and after.reply_to_message.text == "Беру"
    chat = await bot.get_chat(UPGRADED_GROUP)
    assert (chat.type, chat.title) == ("supergroup", "Приёмная: сотрудники")
    staff_reply = await ctl.inject_group_message(UPGRADED_GROUP, BOB, "Готово", reply_to_message_id=card.message_id)
    assert staff_reply["reply_to_message"]["text"] == "Обращение #7: в работе"

    # The control API refuses what Telegram would not do.
    for chat_id, to_chat_id in [(BASIC_GROUP, -1009), (UPGRADED_GROUP, -1008), (BASIC_GROUP + 1, -1007)]:
        with pytest.raises(EmulatorControlError) as refused:
            await ctl.migrate_chat(chat_id, to_chat_id)
        assert refused.value.status == (404 if chat_id == BASIC_GROUP + 1 else 400)
    await ctl.create_chat(-4000, "Other", chat_type="group")
    for bad_target in (-4001, UPGRADED_GROUP):  # not a -100 id / an existing chat
        with pytest.raises(EmulatorControlError, match=r"-100|already exists"):
            await ctl.migrate_chat(-4000, bad_target)
    with pytest.raises(EmulatorControlError, match="upgraded"):
        await ctl.inject_group_message(BASIC_GROUP, BOB, "too late")


@pytest.mark.asyncio
async def test_kicked_and_unknown_groups_refuse_sends_and_edits(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.create_chat(STAFF_CHAT, "Staff")
    text = await bot.send_message(STAFF_CHAT, "card")
    photo = await bot.send_photo(STAFF_CHAT, BufferedInputFile(make_png(4, 4), "p.png"), caption="photo")
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x")]])

    def attempts(chat_id: int) -> list[Callable[[], Awaitable[Any]]]:
        return [
            lambda: bot.send_message(chat_id, "x"),
            lambda: bot.send_photo(chat_id, BufferedInputFile(make_png(4, 4), "p.png")),
            lambda: bot.edit_message_text("edited", chat_id=chat_id, message_id=text.message_id),
            lambda: bot.edit_message_caption(chat_id=chat_id, message_id=photo.message_id, caption="edited"),
            lambda: bot.edit_message_reply_markup(chat_id=chat_id, message_id=text.message_id, reply_markup=markup),
            lambda: bot.get_chat(chat_id),
            lambda: bot.get_chat_member(chat_id, BOT_ID),
        ]

    await ctl.kick_bot(STAFF_CHAT)
    for attempt in attempts(STAFF_CHAT):
        with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
            await attempt()
    assert not [i for i in await ctl.sent(chat_id=STAFF_CHAT) if i["method"].startswith("edit")]
    await ctl.kick_bot(STAFF_CHAT, kicked=False)
    await bot.edit_message_text("edited", chat_id=STAFF_CHAT, message_id=text.message_id)

    await ctl.create_chat(BASIC_GROUP, "Basic", chat_type="group")
    await ctl.kick_bot(BASIC_GROUP)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the group chat"):
        await bot.send_message(BASIC_GROUP, "x")

    for attempt in attempts(-1009999999999):
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await attempt()


@pytest.mark.asyncio
async def test_get_chat_member(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.create_chat(STAFF_CHAT, "Staff")
    await ctl.create_chat(-1005550001, "Admins", bot_status="administrator", is_forum=True)
    await ctl.inject_private_message(ANN, "hi")
    await ctl.inject_group_message(STAFF_CHAT, BOB, "hello")

    me = await bot.get_chat_member(STAFF_CHAT, BOT_ID)
    assert isinstance(me, ChatMemberMember) and me.user.id == BOT_ID and me.user.is_bot
    admin = await bot.get_chat_member(-1005550001, BOT_ID)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.can_delete_messages and admin.can_manage_topics and not admin.can_promote_members
    assert isinstance(await bot.get_chat_member(STAFF_CHAT, BOB["id"]), ChatMemberMember)
    assert isinstance(await bot.get_chat_member(STAFF_CHAT, ANN["id"]), ChatMemberLeft)
    assert isinstance(await bot.get_chat_member(ANN["id"], ANN["id"]), ChatMemberMember)
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(STAFF_CHAT, 999_999)
    with pytest.raises(EmulatorControlError, match="bot_status"):
        await ctl.create_chat(-1005550002, "x", bot_status="creator")
    # A user who blocked the bot can still be looked up; only writing fails.
    await ctl.block_user(ANN["id"])
    assert (await bot.get_chat(ANN["id"])).id == ANN["id"]


@pytest.mark.asyncio
async def test_edited_message_and_raw_update(bot: Bot, ctl: EmulatorClient) -> None:
    original = await ctl.inject_private_message(ANN, "typo")
    await ctl.inject_edited_message(ANN["id"], original["message_id"], text="fixed")
    await ctl.inject_private_message(ANN, extra={"contact": {"phone_number": "+79990001122", "first_name": "Ann"}})
    await ctl.inject_update({"message": {"message_id": 500, "date": 0, "chat": {"id": 77, "type": "private",
                                                                                  "first_name": "Raw"},
                                         "from": {"id": 77, "is_bot": False, "first_name": "Raw"},
                                         "voice": {"file_id": "voice-1", "file_unique_id": "u1", "duration": 2}}})
    updates = await bot.get_updates(timeout=0)
    assert updates[1].edited_message is not None and updates[1].edited_message.text == "fixed"
    assert updates[2].message is not None and updates[2].message.contact is not None
    assert updates[3].message is not None and updates[3].message.voice is not None
    # The raw update's chat is now known, so the bot can answer it.
    await bot.send_message(77, "got your voice", reply_parameters=ReplyParameters(message_id=500))


@pytest.mark.asyncio
async def test_get_updates_conflict(bot: Bot, emu: TelegramEmulator) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=2))
    await asyncio.sleep(0.2)
    other = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.url)))
    try:
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await other.get_updates(timeout=1)
        await emu.client.inject_private_message(ANN, "wake up")
        assert len(await first) == 1
    finally:
        await other.session.close()


@pytest.mark.asyncio
async def test_standalone_subprocess(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.tg_emulator", "--port", "0", "--print-url",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
        try:
            assert (await bot.get_me()).id == BOT_ID
        finally:
            await bot.session.close()
        async with EmulatorClient(url) as client:
            assert (await client.state())["pending_updates"] == 0
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


@pytest.mark.asyncio
async def test_reset(bot: Bot, ctl: EmulatorClient) -> None:
    await ctl.inject_private_message(ANN, "hi")
    await bot.send_message(ANN["id"], "x")
    await ctl.reset()
    assert await ctl.sent() == []
    assert await ctl.pending_updates() == []
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(ANN["id"], "x")


# ---------------------------------------------------------------------- HTML checker unit tests


@pytest.mark.parametrize(
    ("html", "text", "types"),
    [
        ("<b>a</b><strong>b</strong>", "ab", ["bold", "bold"]),
        ("<i>x</i> <em>y</em> <u>z</u> <ins>w</ins>", "x y z w", ["italic", "italic", "underline", "underline"]),
        ("<s>1</s><strike>2</strike><del>3</del>", "123", ["strikethrough"] * 3),
        ('<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">t</span>', "st", ["spoiler", "spoiler"]),
        ('<pre><code class="language-python">x=1</code></pre>', "x=1", ["pre"]),
        ("<blockquote expandable>q</blockquote><blockquote>r</blockquote>", "qr",
         ["expandable_blockquote", "blockquote"]),
        ("&lt;&gt;&amp;&quot;&#65;&#x42;", "<>&\"AB", []),
        ("😀<b>x</b>", "😀x", ["bold"]),
    ],
)
def test_parse_html_ok(html: str, text: str, types: list[str]) -> None:
    plain, entities = parse_html(html)
    assert plain == text
    assert [e["type"] for e in entities] == types
    if html.startswith("😀"):
        assert entities[0]["offset"] == 2  # UTF-16 code units


@pytest.mark.parametrize(
    ("html", "fragment"),
    [
        ("<br>", 'Unsupported start tag "br"'),
        ("<b>x", "Can't find end tag"),
        ("<b>x</i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("<span>x</span>", 'must have class "tg-spoiler"'),
        ("<b", "Unclosed start tag"),
        ("a & b", "Character '&'"),
        ("a > b", "Character '>'"),
        ("&nbsp;", "Character '&'"),
    ],
)
def test_parse_html_errors(html: str, fragment: str) -> None:
    with pytest.raises(EntityParseError, match=fragment):
        parse_html(html)


def test_parse_html_lenient() -> None:
    assert parse_html("a > b & c", strict=False)[0] == "a > b & c"


# ---------------------------------------------------------------------- webhook delivery


Answer = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


class WebhookReceiver:
    """The bot's side of a webhook for tests: records each POST and answers via ``answer(update)``."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []  # {"update", "secret", "at", "done"}
        self.answer: Answer = self._empty
        self.active = 0
        self.max_active = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    @staticmethod
    async def _empty(update: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        update = await request.json()
        post: dict[str, Any] = {"update": update, "secret": request.headers.get(SECRET_HEADER),
                                "at": time.monotonic(), "done": None, "status": None}
        self.posts.append(post)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            response = await self.answer(update)
        finally:
            self.active -= 1
            post["done"] = time.monotonic()
        post["status"] = response.status
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in self._runner.addresses if isinstance(a, tuple))
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def texts(self, chat_id: int | None = None, status: int | None = None) -> list[str | None]:
        """Texts of the POSTed messages, in arrival order (optionally one chat / one answer status)."""
        return [p["update"]["message"].get("text") for p in self.posts
                if "message" in p["update"]
                and (chat_id is None or p["update"]["message"]["chat"]["id"] == chat_id)
                and (status is None or p["status"] == status)]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver()
    await hook.start()
    yield hook
    await hook.stop()


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


def aiogram_like_multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> MultipartWriter:
    """A webhook answer built the way aiogram's SimpleRequestHandler builds it."""
    writer = MultipartWriter("form-data", boundary=f"webhookBoundary{secrets.token_urlsafe(16)}")
    for name, value in fields.items():
        writer.append(value).set_content_disposition("form-data", name=name)
    for name, (filename, data) in files.items():
        writer.append(data).set_content_disposition("form-data", name=name, filename=filename)
    return writer


async def _body_of(writer: MultipartWriter) -> bytes:
    chunks: list[bytes] = []

    class Sink:
        async def write(self, data: bytes) -> None:
            chunks.append(bytes(data))

    await writer.write(Sink())  # type: ignore[arg-type]
    return b"".join(chunks)


def test_parse_webhook_answer() -> None:
    assert parse_webhook_answer(b"{}", "application/json") is None
    assert parse_webhook_answer(b"", "") is None
    assert parse_webhook_answer(b'{"chat_id": 1}', "application/json; charset=utf-8") is None
    assert parse_webhook_answer(b"method=sendMessage&chat_id=5&text=%D0%BF", "application/x-www-form-urlencoded") \
        == ("sendMessage", {"chat_id": "5", "text": "п"}, {})
    assert parse_webhook_answer(b'{"method": "sendMessage", "chat_id": 5, "text": "x"}', "application/json") \
        == ("sendMessage", {"chat_id": 5, "text": "x"}, {})
    with pytest.raises(ValueError, match="JSON"):
        parse_webhook_answer(b"{nope", "application/json")


async def test_parse_webhook_answer_multipart_binary() -> None:
    blob = bytes(range(256)) * 4 + b"\r\n--webhookBoundary\r\n\r" + b"\n\x00\r"
    writer = aiogram_like_multipart({"method": "sendPhoto", "chat_id": "42", "caption": "фото \"1\""},
                                    {"file1": ("яма.png", blob)})
    parsed = parse_webhook_answer(await _body_of(writer), writer.headers["Content-Type"])
    assert parsed is not None
    method, params, files = parsed
    assert method == "sendPhoto" and params == {"chat_id": "42", "caption": "фото \"1\""}
    assert files["file1"].data == blob and files["file1"].filename == "яма.png"


async def test_webhook_push_delivers_with_secret(bot: Bot, ctl: EmulatorClient,
                                                 receiver: WebhookReceiver) -> None:
    await ctl.inject_private_message(ANN, "queued before setWebhook")
    assert await bot.set_webhook(receiver.url, secret_token="s3cret")
    await ctl.inject_private_message(ANN, "after")
    await eventually(lambda: len(receiver.posts) == 2)
    assert receiver.texts() == ["queued before setWebhook", "after"]
    assert {p["secret"] for p in receiver.posts} == {"s3cret"}
    await eventually(lambda: len(receiver.posts) == 2 and all(p["status"] == 200 for p in receiver.posts))

    async def confirmed() -> bool:
        return await ctl.pending_updates() == []

    await eventually(confirmed)
    info = await bot.get_webhook_info()
    assert info.url == receiver.url and info.pending_update_count == 0 and info.max_connections == 40
    assert info.last_error_date is None


async def test_webhook_answers_are_executed(bot: Bot, ctl: EmulatorClient, receiver: WebhookReceiver) -> None:
    png = make_png(12, 8, seed=3)

    async def answer(update: dict[str, Any]) -> web.StreamResponse:
        chat_id = update["message"]["chat"]["id"]
        if update["message"]["text"] == "json":
            return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "<b>from json</b>",
                                      "parse_mode": "HTML"})
        return web.Response(body=aiogram_like_multipart(
            {"method": "sendPhoto", "chat_id": str(chat_id), "caption": "from multipart", "photo": "attach://f1"},
            {"f1": ("photo.png", png)}))

    receiver.answer = answer
    await ctl.inject_private_message(ANN, "json")
    await ctl.inject_private_message(ANN, "multipart")
    await bot.set_webhook(receiver.url)
    items = await ctl.wait_sent(chat_id=ANN["id"], count=2, timeout=5)
    assert [(i["method"], i["plain_text"]) for i in items] == [("sendMessage", "from json"),
                                                              ("sendPhoto", "from multipart")]
    assert await ctl.file_bytes(items[1]["photo_file_ids"][-1]) == png
    calls = await ctl.calls(method=["sendMessage", "sendPhoto"])
    assert [(c["method"], c["status"], c["bot_id"]) for c in calls] == [("sendMessage", 200, BOT_ID),
                                                                         ("sendPhoto", 200, BOT_ID)]


async def test_webhook_failed_answer_is_logged_not_returned(bot: Bot, ctl: EmulatorClient,
                                                            receiver: WebhookReceiver) -> None:
    async def answer(update: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({"method": "sendMessage", "chat_id": 999, "text": "nobody"})

    receiver.answer = answer
    await ctl.inject_private_message(ANN, "hi")
    await bot.set_webhook(receiver.url)

    async def logged() -> bool:
        return len(await ctl.calls(method="sendMessage")) == 1

    await eventually(logged)
    call = (await ctl.calls(method="sendMessage"))[0]
    assert call["status"] == 400 and "chat not found" in call["description"]
    assert await ctl.pending_updates() == []  # the update itself was delivered fine


async def test_webhook_retries_and_keeps_chat_order(bot: Bot, ctl: EmulatorClient,
                                                    receiver: WebhookReceiver) -> None:
    failures = {"A": 1}

    async def answer(update: dict[str, Any]) -> web.StreamResponse:
        text = update["message"]["text"]
        if failures.get(text, 0) > 0:
            failures[text] -= 1
            return web.Response(status=500, text="boom")
        return web.json_response({})

    receiver.answer = answer
    await ctl.inject_private_message(ANN, "A")
    await ctl.inject_private_message(ANN, "B")
    await ctl.inject_private_message(BOB, "C")
    await bot.set_webhook(receiver.url)
    await eventually(lambda: len(receiver.texts(status=200)) == 3)
    # B waits for A's successful retry; Bob's chat is not held up by Ann's failure.
    assert receiver.texts(ANN["id"]) == ["A", "A", "B"]
    ann = [p for p in receiver.posts if p["update"]["message"]["chat"]["id"] == ANN["id"]]
    assert ann[1]["at"] - ann[0]["done"] >= BACKOFF_START * 0.9
    assert ann[2]["at"] >= ann[1]["done"]
    bob = next(p for p in receiver.posts if p["update"]["message"]["chat"]["id"] == BOB["id"])
    assert bob["done"] < ann[1]["at"]
    info = await bot.get_webhook_info()
    assert info.last_error_message is not None and "500" in info.last_error_message
    assert info.last_error_date is not None and info.pending_update_count == 0


async def test_webhook_max_connections(bot: Bot, ctl: EmulatorClient, receiver: WebhookReceiver) -> None:
    ann_active = 0
    ann_max = 0

    async def answer(update: dict[str, Any]) -> web.StreamResponse:
        nonlocal ann_active, ann_max
        is_ann = update["message"]["chat"]["id"] == ANN["id"]
        ann_active += is_ann
        ann_max = max(ann_max, ann_active)
        await asyncio.sleep(0.1)
        ann_active -= is_ann
        return web.json_response({})

    receiver.answer = answer
    for i in range(3):
        await ctl.inject_private_message(ANN, f"ann {i}")
    for uid in range(2001, 2006):
        await ctl.inject_private_message({"id": uid, "first_name": f"U{uid}"}, "hello")
    await bot.set_webhook(receiver.url, max_connections=3)
    await eventually(lambda: len(receiver.texts(status=200)) == 8)
    assert receiver.max_active == 3
    assert ann_max == 1
    assert receiver.texts(ANN["id"]) == ["ann 0", "ann 1", "ann 2"]
    assert (await bot.get_webhook_info()).max_connections == 3


async def test_webhook_conflicts_with_polling_and_delete_stops_push(bot: Bot, ctl: EmulatorClient,
                                                                    receiver: WebhookReceiver) -> None:
    async def fail(update: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=502)

    receiver.answer = fail
    await bot.set_webhook(receiver.url)
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await ctl.inject_private_message(ANN, "never delivered")
    await eventually(lambda: len(receiver.posts) >= 1)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await ctl.pending_updates() == []
    seen = len(receiver.posts)
    await ctl.inject_private_message(ANN, "for polling")
    # Longer than the first retry backoff: a still-running pusher would have POSTed again.
    await asyncio.sleep(BACKOFF_START + 0.2)
    assert len(receiver.posts) == seen
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["for polling"]
    assert (await bot.get_webhook_info()).url == ""


async def test_webhook_answer_forwarded_by_driver(receiver: WebhookReceiver) -> None:
    png = make_png(6, 6, seed=9)
    dp = Dispatcher()

    @dp.message()
    async def reply(message: Message) -> Any:
        # Returning the method makes aiogram answer the webhook POST with it (multipart/form-data).
        return message.answer_photo(BufferedInputFile(png, "reply.png"), caption=f"re: {message.text}")

    async with TelegramEmulator(push_webhooks=False) as emu:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.url)))
        bot_app = web.Application()
        # Like bot/app.py: answer only after handling, so the answer can carry the reply.
        handler = SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token="s", handle_in_background=False)
        handler.register(bot_app, path="/tg")
        runner = web.AppRunner(bot_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        try:
            await bot.set_webhook(receiver.url, secret_token="s")
            message = await emu.client.inject_private_message(ANN, "hello")
            await asyncio.sleep(0.2)
            assert receiver.posts == []  # push_webhooks=False: the driver delivers, not the emulator
            async with aiohttp.ClientSession() as http, http.post(
                    f"http://127.0.0.1:{port}/tg", json={"update_id": 1, "message": message},
                    headers={SECRET_HEADER: "s"}) as resp:
                assert resp.status == 200
                body, content_type = await resp.read(), resp.headers["Content-Type"]
            assert content_type.startswith("multipart/form-data; boundary=webhookBoundary")
            result = await emu.client.execute_webhook_answer(body, content_type)
            assert result["method"] == "sendPhoto" and result["status"] == 200
            assert result["result"]["caption"] == "re: hello"
            sent = await emu.client.sent(chat_id=ANN["id"])
            assert await emu.client.file_bytes(sent[-1]["photo_file_ids"][-1]) == png
            assert (await emu.client.calls(method="sendPhoto"))[-1]["bot_id"] == BOT_ID
            empty = await emu.client.execute_webhook_answer(b"{}", "application/json", bot_id=BOT_ID)
            assert empty == {"method": None, "status": None, "result": None}
            failed = await emu.client.execute_webhook_answer(
                b'{"method": "sendMessage", "chat_id": 999, "text": "x"}', "application/json")
            assert failed["status"] == 400 and "chat not found" in failed["error"]["description"]
        finally:
            await runner.cleanup()
            await bot.session.close()
