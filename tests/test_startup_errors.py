"""A start that cannot work stops with one line naming the cause and the setting, exit code 2, never a traceback.

`python -m bot` runs as a process, as an administrator runs it, against the emulators, a closed port or Redis down.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.harness import STAFF_CHAT, TOKEN, VK_GROUP, VK_TOKEN, VkResident, free_port, make_settings, running_bot
from tests.tg_emulator import TelegramEmulator
from tests.vk_emulator import VkEmulator

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("TELEGRAM_", "STAFF_", "ADMIN_", "VK_", "WEBHOOK_", "REDIS_", "BOT_ROLE", "DATA_DIR", "LOG_LEVEL")


def start(tmp_path: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m bot` in `tmp_path` (its .env, if any, is read) with these variables; it must end by itself."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def good(url: str, tmp_path: Path) -> dict[str, str]:
    """Settings that would start, against the Telegram emulator at `url`."""
    return {
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": url,
        "STAFF_CHAT_ID": str(STAFF_CHAT),
        "DATA_DIR": str(tmp_path / "data"),
    }


def one_line(result: subprocess.CompletedProcess[str], *named: str) -> str:
    """The process ended with exit code 2 and exactly one line on stderr, naming each of `named`."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert line.startswith("Configuration error: ")
    for name in named:
        assert name in line
    return line


def test_the_example_env_as_it_is_says_to_put_the_real_token(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    line = one_line(start(tmp_path, {}), "TELEGRAM_TOKEN", ".env.example", "@BotFather")
    assert "AAExampleToken" not in line  # the line never repeats a token, not even the example's


def test_the_example_staff_chat_is_refused_too(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    one_line(start(tmp_path, {"TELEGRAM_TOKEN": TOKEN}), "STAFF_CHAT_ID", ".env.example")


async def test_a_token_telegram_rejects(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        await emulator.client.fail("getMe", 401, description="Unauthorized", count=None)
        result = await asyncio.to_thread(start, tmp_path, good(emulator.url, tmp_path))
    one_line(result, "TELEGRAM_TOKEN", "rejected")
    assert TOKEN not in result.stderr


def test_an_unreachable_telegram_api_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    line = one_line(start(tmp_path, good(url, tmp_path)), "TELEGRAM_API_URL", url, "connection refused")
    assert TOKEN not in line


def test_redis_down(tmp_path: Path) -> None:
    redis_url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    # Redis is asked before Telegram: no emulator needed.
    env = {**good("http://127.0.0.1:9", tmp_path), "REDIS_URL": redis_url}
    line = one_line(start(tmp_path, env), "REDIS_URL", "connection refused")
    assert "hunter2" not in line


def test_webhook_intakes_sharing_redis_need_one_secret(tmp_path: Path) -> None:
    env = {
        **good("http://127.0.0.1:9", tmp_path),
        "BOT_ROLE": "intake",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "WEBHOOK_URL": "https://bot.example.city",
    }
    one_line(start(tmp_path, env), "WEBHOOK_SECRET", "REDIS_URL")


async def test_an_unreachable_vk_api_url(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        url = f"http://127.0.0.1:{free_port()}"
        env = {**good(emulator.url, tmp_path), "VK_TOKEN": VK_TOKEN, "VK_GROUP_ID": str(VK_GROUP), "VK_API_URL": url}
        result = await asyncio.to_thread(start, tmp_path, env)
    one_line(result, "VK_API_URL", url, "connection refused")


@pytest.mark.parametrize(
    ("code", "message", "named"),
    [
        (100, "One of the parameters specified was missing or invalid: longpoll for this group is not enabled", "Long"),
        (5, "User authorization failed: invalid access_token (4).", "VK_TOKEN"),
        (15, "Access denied: no access to call this method", "VK_TOKEN"),
    ],
)
async def test_vk_refusing_the_long_poll_stops_the_start(tmp_path: Path, code: int, message: str, named: str) -> None:
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        await vk.client.inject_error("groups.getLongPollServer", code, error_msg=message, count=100)
        env = {**good(emulator.url, tmp_path), "VK_TOKEN": VK_TOKEN, "VK_GROUP_ID": str(VK_GROUP), "VK_API_URL": vk.url}
        result = await asyncio.to_thread(start, tmp_path, env)
        # Asked once, not again and again in the log.
        assert len(await vk.client.calls("groups.getLongPollServer")) == 1
    line = one_line(result, named, f"[{code}]", str(VK_GROUP))
    assert VK_TOKEN not in line


async def test_a_wrong_vk_group_and_a_token_vk_does_not_know(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        base = {**good(emulator.url, tmp_path), "VK_API_URL": vk.url}
        wrong_group = await asyncio.to_thread(
            start, tmp_path, {**base, "VK_TOKEN": VK_TOKEN, "VK_GROUP_ID": str(VK_GROUP + 1)}
        )
        wrong_token = await asyncio.to_thread(
            start, tmp_path, {**base, "VK_TOKEN": "vk1.a.nobody", "VK_GROUP_ID": str(VK_GROUP)}
        )
    one_line(wrong_group, "VK_GROUP_ID", str(VK_GROUP + 1))
    one_line(wrong_token, "VK_TOKEN")


@pytest.mark.parametrize("suffix", ["", "/", "/method", "/method/"])
def test_vk_api_url_is_taken_as_people_write_it(suffix: str) -> None:
    settings = Settings(_env_file=None, telegram_token="1:a", staff_chat_id=-5, vk_api_url="https://api.vk.ru" + suffix)  # type: ignore[call-arg]
    assert settings.vk_api_url == "https://api.vk.ru"


async def test_the_bot_serves_vk_with_the_url_written_with_method(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        settings = make_settings(
            emulator.url, tmp_path / "data", vk_token=VK_TOKEN, vk_group_id=VK_GROUP, vk_api_url=vk.url + "/method/"
        )
        async with running_bot(settings):
            await vk.client.wait_polling()
            assert "Hello!" in (await VkResident(vk.client, 3020, "en").say("Start"))["text"]


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("WORK_HOURS", "18-9", "start must be before the end"),
        ("EXTRA_DAYS_OFF", "02-30", "02-30"),
        ("DAILY_SUMMARY_AT", "25:00", "like 09:00"),
        ("WEEKLY_SUMMARY_AT", "monday 9", "like mon 09:00"),
        ("WEEKLY_SUMMARY_AT", "mon 24:00", "like mon 09:00"),
        ("PROBLEM_RADIUS_M", "0", "greater than or equal to 10"),
        ("REMIND_AT", "1.5", "less than 1"),
        ("REOPEN_DAYS", "0", "greater than or equal to 1"),
    ],
)
def test_terms_settings_that_cannot_work_are_named_in_one_line(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    # Checked before anything is asked of Telegram: no emulator needed.
    line = one_line(start(tmp_path, {**good("http://127.0.0.1:9", tmp_path), name: value}), name, said)
    assert "Traceback" not in line
