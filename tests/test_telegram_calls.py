"""Plain JSON calls (handlers/telegram/calls.py) against the emulator: what Telegram gets, what we believe of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)

from bot.app import make_bot
from bot.core.models import Button
from handlers.telegram.calls import (
    answer_callback,
    file_path_of,
    get_file,
    message_id_of,
    message_ids_of,
    send_media_group,
    send_message,
)
from handlers.telegram.session import JsonSession, perform
from tests.harness import STAFF_CHAT, make_settings, photo_bytes
from tests.tg_emulator import TelegramEmulator

RESIDENT = {"id": 5001, "first_name": "Anna", "language_code": "ru"}


async def test_calls_reach_telegram_as_documented_and_refusals_raise_aiogram_errors(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        await client.inject_private_message(RESIDENT, "hi")
        bot = make_bot(make_settings(emulator.url, tmp_path / "data"))
        try:
            buttons = ((Button("Да", "r.send"), Button("Нет", "r.cancel")),)
            sent = await perform(bot, send_message(RESIDENT["id"], "<b>Заявка</b> №1 &lt;ok&gt;", buttons))
            [item] = await client.sent(chat_id=RESIDENT["id"])
            assert message_id_of(sent) == item["message_id"]
            assert item["plain_text"] == "Заявка №1 <ok>"  # parsed as HTML, the escaped text shown as typed
            [call] = await client.calls("sendMessage")
            assert call["params"]["link_preview_options"] == {"is_disabled": True}
            assert call["params"]["reply_markup"]["inline_keyboard"][0][1] == {
                "text": "Нет",
                "callback_data": "r.cancel",
            }

            photos = [(await client.upload_file(photo_bytes(i), kind="photo"))["photo"][-1] for i in (1, 2)]
            album = await perform(bot, send_media_group(STAFF_CHAT, [p["file_id"] for p in photos], "<i>Card</i>"))
            ids = message_ids_of(album)
            assert len(ids) == 2
            [first] = [m for m in await client.history(STAFF_CHAT) if m["message_id"] == ids[0]]
            assert first["caption"] == "Card"

            # A live call waits out a short 429 and goes; one longer than LIVE_PATIENCE_SECONDS is raised.
            await client.fail("sendMessage", 429, retry_after=1, description="Too Many Requests: retry after 1")
            message_id_of(await perform(bot, send_message(RESIDENT["id"], "x")))
            await client.fail("sendMessage", 429, retry_after=60, description="Too Many Requests: retry after 60")
            with pytest.raises(TelegramRetryAfter) as retry:
                await perform(bot, send_message(RESIDENT["id"], "x"))
            assert retry.value.retry_after == 60
            await client.fail("sendMessage", 403, description="Forbidden: bot was blocked by the user")
            with pytest.raises(TelegramForbiddenError):
                await perform(bot, send_message(RESIDENT["id"], "x"))
            with pytest.raises(TelegramBadRequest):
                await perform(bot, answer_callback("no-such-callback", "gone"))
        finally:
            await bot.session.close()


async def test_get_file_and_download_keep_to_the_limit(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        bot = make_bot(make_settings(emulator.url, tmp_path / "data"))
        session = bot.session
        assert isinstance(session, JsonSession)
        data = photo_bytes(3)
        file_id = (await client.upload_file(data, kind="photo"))["photo"][-1]["file_id"]
        try:
            path = file_path_of(await perform(bot, get_file(file_id)))
            assert path is not None
            assert await session.download(bot, file_id, path, len(data)) == data
            with pytest.raises(TelegramNetworkError):
                await session.download(bot, file_id, path, len(data) - 1)
            with pytest.raises(TelegramNetworkError):
                await session.download(bot, file_id, "photos/no-such-file.jpg", len(data))
        finally:
            await bot.session.close()


@pytest.mark.parametrize(
    "result",
    [None, [], {}, {"message_id": "7"}, {"message_id": True}, {"message_id": 1.5}],
)
def test_a_sent_message_without_a_real_id_is_not_believed(result: Any) -> None:
    with pytest.raises(ClientDecodeError):
        message_id_of(result)


def test_an_album_answer_must_be_a_list_of_messages() -> None:
    assert message_ids_of([{"message_id": 3}, {"message_id": 4}]) == [3, 4]
    for result in ({"message_id": 3}, [{"message_id": 3}, {}]):
        with pytest.raises(ClientDecodeError):
            message_ids_of(result)


def test_a_file_path_is_checked() -> None:
    assert file_path_of({"file_id": "x", "file_path": "photos/file_1.jpg"}) == "photos/file_1.jpg"
    assert file_path_of({"file_id": "x"}) is None  # too large for the Bot API to hand over
    for result in ([], {"file_path": 5}, {"file_path": ""}, {"file_path": "../../etc/passwd"}):
        with pytest.raises(ClientDecodeError):
            file_path_of(result)


def test_a_callback_alert_is_cut_to_telegrams_limit() -> None:
    call = answer_callback("cb1", "x" * 500)
    assert call.params == {"callback_query_id": "cb1", "text": "x" * 200, "show_alert": True}
    assert answer_callback("cb1").params == {"callback_query_id": "cb1"}
    assert send_message(5, "hi", reply_to=9).as_webhook_answer()["method"] == "sendMessage"
