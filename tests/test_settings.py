"""Missing or invalid settings stop the bot with one clear line naming the setting, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"TELEGRAM_TOKEN": "123:abc", "STAFF_CHAT_ID": "-1001", "ADMIN_IDS": "1, 2;3"}


def _run(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "STAFF_", "ADMIN_", "VK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env={**clean, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "TELEGRAM_TOKEN"),
        ({"TELEGRAM_TOKEN": "123:abc"}, "STAFF_CHAT_ID"),
        ({**GOOD, "TELEGRAM_TOKEN": "nonsense"}, "TELEGRAM_TOKEN"),
        ({**GOOD, "STAFF_CHAT_ID": "staff"}, "STAFF_CHAT_ID"),
        ({**GOOD, "ADMIN_IDS": "alice"}, "ADMIN_IDS"),
        ({**GOOD, "TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL"),
        ({**GOOD, "TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({**GOOD, "STAFF_LANGUAGE": "de"}, "STAFF_LANGUAGE"),
        ({**GOOD, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({**GOOD, "VK_TOKEN": "vk1.a.x"}, "VK_GROUP_ID"),
        ({**GOOD, "REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({**GOOD, "BOT_ROLE": "boss"}, "BOT_ROLE"),
        ({**GOOD, "WEBHOOK_SECRET": "has spaces"}, "WEBHOOK_SECRET"),
        ({**GOOD, "TELEGRAM_GROUP_PER_MINUTE": "-1"}, "TELEGRAM_GROUP_PER_MINUTE"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, env: dict[str, str], named: str) -> None:
    result = _run(env, tmp_path)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_rejected_token_is_one_clear_line(tmp_path: Path) -> None:
    # A token the API rejects stops the start with a clear line (see tests/test_startup_errors.py for the rest).
    import asyncio

    from tests.tg_emulator import TelegramEmulator

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with TelegramEmulator() as emulator:
            await emulator.client.fail("getMe", 401, description="Unauthorized", count=None)
            return await asyncio.to_thread(_run, {**GOOD, "TELEGRAM_API_URL": emulator.url}, tmp_path)

    result = asyncio.run(scenario())
    assert result.returncode == 2, result.stderr
    assert "TELEGRAM_TOKEN was rejected" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_parse_lists_and_defaults() -> None:
    settings = Settings(_env_file=None, telegram_token="1:a", staff_chat_id=-5, admin_ids="1, 2;3")  # type: ignore[arg-type]
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.database_path == Path("data/priemnaya.sqlite3")


def test_roles_split_without_redis_on_one_database() -> None:
    # One host: an intake and a worker share the SQLite database (one delivering process, see bot/local_delivery).
    for role in ("intake", "worker"):
        settings = Settings(_env_file=None, telegram_token="1:a", staff_chat_id=-5, bot_role=role)  # type: ignore[call-arg, arg-type]
        assert settings.bot_role == role and settings.redis_url is None
