"""The real bot running against the Telegram emulator, and the people who talk to it.

Tests speak as residents, officials and administrators and assert what those people see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import run
from bot.settings import Settings
from tests.tg_emulator import EmulatorClient, TelegramEmulator
from tests.vk_emulator import VkEmulator, VkEmulatorClient, make_png

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-TOKEN"
BOT_ID = 123456
STAFF_CHAT = -1001000000001
ADMIN = {"id": 900, "first_name": "Anna", "last_name": "Admin", "language_code": "en"}
OFFICIAL = {"id": 800, "first_name": "Oleg", "last_name": "Official", "language_code": "ru"}
WAIT = 10.0
VK_GROUP = 7001
VK_TOKEN = "vk-test-token"
SENDS = ["sendMessage", "sendPhoto", "sendMediaGroup"]
SEND_LABELS = frozenset({"Send", "Отправить"})
AGREE_LABELS = frozenset({"I agree", "Даю согласие"})


def photo_bytes(seed: int) -> bytes:
    """A small valid PNG whose bytes differ per seed."""
    return make_png(3 + seed % 7, 2 + seed // 7 % 5, (seed * 37 % 256, seed * 91 % 256, 77))


def buttons(item: dict[str, Any]) -> dict[str, str]:
    """The inline buttons of a sent message: label -> callback data."""
    markup = item.get("reply_markup") or {}
    return {b["text"]: b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row}


def text_of(item: dict[str, Any]) -> str:
    """What the person sees: the text or caption without markup."""
    return str(item.get("plain_text") or "")


class Person:
    """Someone writing to the bot in one chat."""

    def __init__(self, client: EmulatorClient, user: dict[str, Any], chat_id: int | None = None) -> None:
        self.client = client
        self.user = user
        self.chat_id = chat_id if chat_id is not None else user["id"]
        self.patience = WAIT  # seconds `wait` waits; longer where faults slow the bot down on purpose

    @property
    def id(self) -> int:
        return int(self.user["id"])

    async def mark(self) -> int:
        """A point in the sent log; `wait` returns what came after it."""
        return await self.client.last_seq()

    async def wait(self, since: int, count: int = 1, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent to this chat (or `chat_id`) after `since`."""
        return await self.client.wait_sent(
            chat_id=self.chat_id if chat_id is None else chat_id,
            count=count,
            since=since,
            timeout=self.patience,
            method=SENDS,
        )

    async def inbox(self, since: int = 0) -> list[dict[str, Any]]:
        """Everything the bot sent to this chat after `since`, without waiting."""
        return await self.client.sent(chat_id=self.chat_id, since=since, method=SENDS)

    async def quiet(self, since: int, seconds: float = 0.6) -> list[dict[str, Any]]:
        """Let the bot work a moment, then return what it sent here (used to check it said nothing more)."""
        await asyncio.sleep(seconds)
        return await self.inbox(since)


class Resident(Person):
    """A resident in a private chat with the bot."""

    async def send(self, text: str | None = None, count: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
        """Send a message and return the bot's `count` replies."""
        since = await self.mark()
        await self.client.inject_private_message(self.user, text, **kwargs)
        return await self.wait(since, count)

    async def say(self, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Send a message and return the bot's (last) reply."""
        return (await self.send(text, **kwargs))[-1]

    async def album(self, photos: list[bytes], caption: str | None = None) -> dict[str, Any]:
        """Send several photos as one album."""
        since = await self.mark()
        group = f"album-{self.id}-{since}"
        for i, data in enumerate(photos):
            await self.client.inject_private_message(
                self.user, photo=data, caption=caption if i == 0 else None, media_group_id=group
            )
        return (await self.wait(since))[-1]

    async def press(self, item: dict[str, Any], label: str, count: int = 1) -> list[dict[str, Any]]:
        """Press the button with `label` under a bot message.

        "Send" answered with the personal-data notice (a resident's first report) is agreed to, as most tests are
        about what comes after; tests/test_personal_data.py drives the notice itself.
        """
        data = buttons(item)[label]
        replies = await self.press_data(item, data, count)
        if label in SEND_LABELS and replies and (agree := AGREE_LABELS & buttons(replies[0]).keys()):
            return await self.press_data(replies[0], buttons(replies[0])[next(iter(agree))], count)
        return replies

    async def press_data(self, item: dict[str, Any], data: str | None, count: int = 1) -> list[dict[str, Any]]:
        """Press a button with any data, even forged."""
        since = await self.mark()
        await self.client.inject_callback_query(self.user, self.chat_id, item["message_id"], data)
        return await self.wait(since, count) if count else []


async def file_report(resident: Resident, description: str, photo_seed: int = 7) -> dict[str, Any]:
    """Go through the dialog up to the summary (roads, a description, an address, a photo); returns the summary."""
    question = await resident.say("/new")
    [question] = await resident.press(question, "Roads")
    await resident.say(description)
    await resident.say("Sadovaya 12")
    return await resident.say(photo=photo_bytes(photo_seed))


def db_count(database: Path, query: str, params: tuple[Any, ...] = ()) -> int:
    """A COUNT read straight from the bot's database."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute(query, params).fetchone()[0])


async def wait_for_count(database: Path, query: str, value: int, params: tuple[Any, ...] = ()) -> None:
    """Wait (up to 10 s) until `query` counts `value` in the bot's database."""
    for _ in range(200):
        if await asyncio.to_thread(db_count, database, query, params) == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{query} never gave {value}")


class StaffMember(Person):
    """An official or administrator in a staff chat (the default one unless another is given)."""

    def __init__(self, client: EmulatorClient, user: dict[str, Any], chat_id: int = STAFF_CHAT) -> None:
        super().__init__(client, user, chat_id)

    def elsewhere(self, chat_id: int) -> StaffMember:
        """The same person in another chat (a department chat, or a group that is none)."""
        return StaffMember(self.client, self.user, chat_id)

    async def reply(
        self, to: dict[str, Any], text: str | None = None, count: int = 1, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Reply (Telegram reply) to a message in the chat; return the bot's replies there."""
        since = await self.mark()
        await self.client.inject_group_message(
            self.chat_id, self.user, text, reply_to_message_id=to["message_id"], **kwargs
        )
        return await self.wait(since, count) if count else []

    async def write(self, text: str | None = None, count: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
        """Write in the chat (not a reply)."""
        since = await self.mark()
        await self.client.inject_group_message(self.chat_id, self.user, text, **kwargs)
        return await self.wait(since, count) if count else []

    async def press(self, item: dict[str, Any], label: str, count: int = 1) -> list[dict[str, Any]]:
        """Press a button under a message in the chat; returns the bot's messages (not the popup)."""
        return await self.press_data(item, buttons(item)[label], count)

    async def press_data(self, item: dict[str, Any], data: str | None, count: int = 1) -> list[dict[str, Any]]:
        """Press a button with any data under a message, even forged."""
        since = await self.mark()
        self.last_callback = await self.client.inject_callback_query(self.user, self.chat_id, item["message_id"], data)
        return await self.wait(since, count) if count else []

    async def popup(self) -> str:
        """The text of the popup the bot answered the last press with (waits for the answer)."""
        for _ in range(200):
            answer = await self.client.callback_answer(self.last_callback)
            if answer.get("answered"):
                return str((answer.get("answer") or {}).get("text") or "")
            await asyncio.sleep(0.05)
        raise AssertionError("the press was never answered")

    async def card(self, message_id: int) -> dict[str, Any]:
        """A message of the chat as it is now (a card after its edits)."""
        return await current(self.client, self.chat_id, message_id)

    async def card_shows(self, card: dict[str, Any], *texts: str) -> dict[str, Any]:
        """Wait until the card (edited in place) shows every text; return it as it is then."""
        now: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal now
            now = await self.card(card["message_id"])
            return all(t in shown(now) for t in texts)

        await wait_until(check, f"the card shows {texts}")
        return now


async def current(client: EmulatorClient, chat_id: int, message_id: int) -> dict[str, Any]:
    """A stored message as it is now (after edits), from the emulator's chat history."""
    for message in await client.history(chat_id):
        if message["message_id"] == message_id:
            return message
    raise AssertionError(f"message {message_id} is not in chat {chat_id}")


def shown(message: dict[str, Any]) -> str:
    """The text or caption of a stored message, as the reader sees it."""
    return str(message.get("text") or message.get("caption") or "")


async def wait_until(check: Any, what: str, seconds: float = WAIT) -> None:
    """Wait until the coroutine function `check` returns true."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhook_mode(**overrides: Any) -> dict[str, Any]:
    """Settings for webhook mode on a free loopback port (the emulator posts the updates there)."""
    port = free_port()
    return {"webhook_url": f"http://127.0.0.1:{port}", "webhook_host": "127.0.0.1", "webhook_port": port, **overrides}


def make_settings(url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a bot under test (no .env, fast album wait)."""
    values: dict[str, Any] = {
        "telegram_token": TOKEN,
        "telegram_api_url": url,
        "staff_chat_id": STAFF_CHAT,
        "admin_ids": frozenset({ADMIN["id"]}),
        "data_dir": data_dir,
        "album_wait_seconds": 0.3,
        "staff_language": "en",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


class VkResident:
    """A resident writing to the city's VK community."""

    def __init__(self, client: VkEmulatorClient, user_id: int, language: str = "en", callbacks: bool = True) -> None:
        self.client = client
        self.id = user_id
        self.user = {"id": user_id, "first_name": "Vasily", "last_name": "Sidorov"}
        self.patience = WAIT  # seconds `wait` waits; longer where faults slow the bot down on purpose
        actions = ["text", "location", "open_link"] + (["callback"] if callbacks else [])
        self.client_info = {
            "button_actions": actions,
            "keyboard": True,
            "inline_keyboard": callbacks,
            "lang_id": 3 if language == "en" else 0,
        }

    async def mark(self) -> int:
        return await self.client.last_seq()

    async def wait(self, since: int, count: int = 1) -> list[dict[str, Any]]:
        return await self.client.wait_sent(peer_id=self.id, count=count, since=since, timeout=self.patience)

    async def inbox(self, since: int = 0) -> list[dict[str, Any]]:
        return await self.client.sent(peer_id=self.id, since=since)

    async def send(self, text: str = "", count: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
        """Write to the community and return the bot's `count` replies."""
        since = await self.mark()
        await self.client.send_message(self.user, text, client_info=self.client_info, **kwargs)
        return await self.wait(since, count) if count else []

    async def say(self, text: str = "", **kwargs: Any) -> dict[str, Any]:
        return (await self.send(text, **kwargs))[-1]

    async def press(self, item: dict[str, Any], label: str, count: int = 1) -> list[dict[str, Any]]:
        """Press a keyboard button: a callback button sends message_event, a text button a message."""
        for row in (item.get("keyboard") or {}).get("buttons", []):
            for button in row:
                action = button["action"]
                if action.get("label") != label:
                    continue
                since = await self.mark()
                if action["type"] == "callback":
                    await self.client.press_callback(self.user, json.loads(action["payload"]))
                else:
                    await self.client.send_message(
                        self.user, label, payload=action["payload"], client_info=self.client_info
                    )
                replies = await self.wait(since, count) if count else []
                if label in SEND_LABELS and replies and (agree := AGREE_LABELS & set(vk_labels(replies[0]))):
                    return await self.press(replies[0], next(iter(agree)), count)
                return replies
        raise KeyError(f"no button {label!r} in {item.get('keyboard')}")


def vk_labels(item: dict[str, Any]) -> list[str]:
    """The labels of a VK message's keyboard."""
    return [b["action"]["label"] for row in (item.get("keyboard") or {}).get("buttons", []) for b in row]


@dataclass
class World:
    """The emulators, the bot and the people."""

    emulator: TelegramEmulator
    client: EmulatorClient
    settings: Settings
    official: StaffMember
    admin: StaffMember
    vk: VkEmulator | None = None

    def resident(self, user_id: int, language: str = "en", first_name: str = "Ivan") -> Resident:
        """A new resident with this id and language."""
        user = {"id": user_id, "first_name": first_name, "last_name": "Petrov", "language_code": language}
        return Resident(self.client, user)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[None]:
    """The real bot (polling and delivery) in this event loop until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def world(tmp_path: Path, vk: bool = False, **overrides: Any) -> AsyncIterator[World]:
    """An emulator with the staff chat (and a VK community if asked), and the bot running against them."""
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk_emulator:
        client = emulator.client
        await client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        if vk:
            overrides = {"vk_token": VK_TOKEN, "vk_group_id": VK_GROUP, "vk_api_url": vk_emulator.url, **overrides}
        settings = make_settings(emulator.url, tmp_path / "data", **overrides)
        async with running_bot(settings):
            if vk:
                await vk_emulator.client.wait_polling()
            yield World(
                emulator,
                client,
                settings,
                StaffMember(client, OFFICIAL),
                StaffMember(client, ADMIN),
                vk_emulator if vk else None,
            )


class BotProcess:
    """The bot as a separate `python -m bot` process, to be killed and restarted."""

    def __init__(self, settings: Settings, role: str = "all") -> None:
        self.role = role
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "STAFF_", "ADMIN_"))},
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_API_URL": settings.telegram_api_url,
            "STAFF_CHAT_ID": str(settings.staff_chat_id),
            "ADMIN_IDS": ",".join(str(i) for i in settings.admin_ids),
            "DATA_DIR": str(settings.data_dir),
            "STAFF_LANGUAGE": settings.staff_language,
            "ALBUM_WAIT_SECONDS": str(settings.album_wait_seconds),
            "BOT_ROLE": role,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_mark: int | None = None

    def start(self) -> None:
        # Logs go to a file: a pipe nobody reads fills up and blocks the bot mid-log.
        self.log_path = Path(self.env["DATA_DIR"]).parent / (
            "bot.log" if self.role == "all" else f"bot-{self.role}.log"
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Only this run's lines count for ready(): the log is appended to across restarts.
        self._log_mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log
            )

    async def ready(self, within: float = 60.0) -> None:
        """Wait until the process says it started (its start-up, imports included, may be slow on a busy machine)."""
        assert self.proc is not None and self._log_mark is not None
        started = f"started as {self.role}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while started not in self.log_path.read_bytes()[self._log_mark :].decode(errors="replace"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"bot ({self.role}) exited with {self.proc.returncode} before it started")
            if loop.time() > deadline:
                raise TimeoutError(f"bot ({self.role}) did not start within {within}s")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    async def stop(self) -> int:
        """SIGTERM and wait for a clean exit, while this event loop (and the emulator in it) keeps serving."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, 15)


async def linked(w: World, chat_id: int, message: dict[str, Any], messenger: str = "tg") -> None:
    """Wait until the bot recorded which report its message shows (a reply a moment later finds it)."""
    await wait_for_count(
        w.settings.database_path,
        "SELECT COUNT(*) FROM message_links WHERE messenger = ? AND chat_id = ? AND message_id = ?",
        1,
        (messenger, chat_id, message["message_id"]),
    )


async def sent(w: World, resident: Resident, description: str, seed: int = 7) -> tuple[dict[str, Any], dict[str, Any]]:
    """File and send a report (agreeing to the notice if asked); the confirmation and the card."""
    summary = await file_report(resident, description, seed)
    since = await w.client.last_seq()
    [confirmation] = await resident.press(summary, "Send")
    assert "is sent to the officials" in text_of(confirmation)
    [card] = await w.official.wait(since)
    await linked(w, STAFF_CHAT, card)
    await linked(w, resident.chat_id, confirmation)
    return confirmation, card


async def agree(resident: Resident | VkResident) -> None:
    """The resident agrees to the personal-data notice beforehand (/privacy, then "I agree")."""
    notice = await resident.say("/privacy")
    await resident.press(notice, "I agree")
