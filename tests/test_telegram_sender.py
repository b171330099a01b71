"""Photos to Telegram: by the file_id Telegram gave them when it can, uploaded from the archive when it must."""

from __future__ import annotations

from pathlib import Path

from bot.app import make_bot
from bot.core.models import Messenger
from bot.core.outbox import OutboxKind, OutboxMessage
from handlers.telegram.files import alias_key
from handlers.telegram.sender import TelegramSender
from storage.photos import PhotoArchive
from tests.harness import STAFF_CHAT, make_settings, photo_bytes
from tests.tg_emulator import TelegramEmulator
from tests.tg_emulator.client import EmulatorClient


async def calls_mark(client: EmulatorClient) -> int:
    """The call log's last sequence number (its own counter, not the sent log's)."""
    return max((c["seq"] for c in await client.calls()), default=0)


async def test_photo_goes_by_file_id_and_a_stale_id_falls_back_to_an_upload(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "Staff", "supergroup")
        bot = make_bot(make_settings(emulator.url, tmp_path / "data"))
        archive = PhotoArchive(tmp_path / "photos")
        sender = TelegramSender(bot, archive)
        data = photo_bytes(7)
        known = (await client.upload_file(data, kind="photo"))["photo"][-1]["file_id"]
        digest = await archive.put(data, {alias_key(bot): known})
        card = OutboxMessage(Messenger.TELEGRAM, STAFF_CHAT, OutboxKind.PHOTO, text="Report #1", photos=(digest,))
        try:
            since = await calls_mark(client)
            await sender.send(card)
            [call] = await client.calls("sendPhoto", since=since)
            assert call["params"]["photo"] == known and call["status"] == 200

            # Telegram no longer knows the id (say, the bot's token changed): the bytes are uploaded instead.
            await archive.remember(digest, alias_key(bot), "AgACstale")
            since = await calls_mark(client)
            [message_id] = await sender.send(card)
            stale, upload = await client.calls("sendPhoto", since=since)
            assert stale["params"]["photo"] == "AgACstale" and stale["status"] == 400
            assert str(upload["params"]["photo"]).startswith("attach://") and upload["status"] == 200
            [sent] = [m for m in await client.history(STAFF_CHAT) if m["message_id"] == message_id]
            assert await client.file_bytes(sent["photo"][-1]["file_id"]) == data

            # The id Telegram gave the upload is remembered for the next time.
            assert await archive.alias(digest, alias_key(bot)) == sent["photo"][-1]["file_id"]
            since = await calls_mark(client)
            await sender.send(card)
            [call] = await client.calls("sendPhoto", since=since)
            assert call["params"]["photo"] == sent["photo"][-1]["file_id"]
        finally:
            await bot.session.close()
