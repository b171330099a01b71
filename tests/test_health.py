"""`python -m bot check` says, a line each, whether storage, the queue and each messenger answer; the webhook
server answers `GET /healthz`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.harness import STAFF_CHAT, TOKEN, VK_GROUP, VK_TOKEN, free_port, wait_until, webhook_mode, world
from tests.tg_emulator import TelegramEmulator
from tests.vk_emulator import VkEmulator

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("TELEGRAM_", "STAFF_", "ADMIN_", "VK_", "WEBHOOK_", "REDIS_", "BOT_ROLE", "DATA_DIR", "LOG_LEVEL")


def check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m bot check` with these settings (no .env)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The check's lines by what they are about."""
    assert "Traceback" not in result.stderr, result.stderr
    found = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert not any(secret in result.stdout for secret in (TOKEN, VK_TOKEN, "hunter2"))
    return found


async def test_everything_answers(tmp_path: Path, namespace: str) -> None:
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk:
        await emulator.client.create_chat(STAFF_CHAT, "City staff", "supergroup")
        env = {
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.url,
            "STAFF_CHAT_ID": str(STAFF_CHAT),
            "VK_TOKEN": VK_TOKEN,
            "VK_GROUP_ID": str(VK_GROUP),
            "VK_API_URL": vk.url,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_NAMESPACE": namespace,
        }
        result = await asyncio.to_thread(check, tmp_path, env)
        sqlite = await asyncio.to_thread(check, tmp_path, {k: v for k, v in env.items() if k != "REDIS_URL"})
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert list(found) == ["storage", "queue", "telegram", "vk"]
    assert found["storage"].startswith("ok (") and "priemnaya.sqlite3, 0 reports, 0 queued" in found["storage"]
    assert found["queue"] == "ok (redis://127.0.0.1:6379/0, 0 queued)"
    assert found["telegram"].startswith("ok (@") and "'City staff'" in found["telegram"]
    assert found["vk"] == f"ok (community {VK_GROUP})"
    assert sqlite.returncode == 0 and lines(sqlite)["queue"] == "ok (SQLite outbox)"


async def test_what_does_not_answer_is_the_failing_line(tmp_path: Path) -> None:
    async with TelegramEmulator() as emulator, VkEmulator(group_id=VK_GROUP, token=VK_TOKEN) as vk:
        # No staff chat: the bot is in no such group.
        await vk.client.inject_error(
            "groups.getLongPollServer", 100, error_msg="longpoll for this group is not enabled", count=10
        )
        env = {
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.url,
            "STAFF_CHAT_ID": str(STAFF_CHAT),
            "VK_TOKEN": VK_TOKEN,
            "VK_GROUP_ID": str(VK_GROUP),
            "VK_API_URL": vk.url,
            "REDIS_URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0",
        }
        result = await asyncio.to_thread(check, tmp_path, env)
    assert result.returncode == 1
    found = lines(result)
    assert found["storage"].startswith("ok (")
    assert found["queue"].startswith("failed: cannot connect to REDIS_URL (redis://***@127.0.0.1:")
    assert found["queue"].endswith("connection refused")
    assert found["telegram"].startswith("failed: ") and f"STAFF_CHAT_ID {STAFF_CHAT}" in found["telegram"]
    assert found["vk"].startswith("failed: [100] longpoll for this group is not enabled (VK_TOKEN, VK_GROUP_ID)")


async def test_an_unreachable_telegram_and_a_rejected_token(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_URL": url, "STAFF_CHAT_ID": str(STAFF_CHAT)}
    unreachable = await asyncio.to_thread(check, tmp_path, env)
    async with TelegramEmulator() as emulator:
        await emulator.client.fail("getMe", 401, description="Unauthorized", count=None)
        rejected = await asyncio.to_thread(check, tmp_path, {**env, "TELEGRAM_API_URL": emulator.url})
    assert unreachable.returncode == 1 and rejected.returncode == 1
    assert lines(unreachable)["telegram"] == f"failed: cannot reach TELEGRAM_API_URL ({url}): connection refused"
    assert lines(rejected)["telegram"] == "failed: TELEGRAM_TOKEN was rejected by the Telegram API"


async def test_the_webhook_server_answers_healthz(tmp_path: Path) -> None:
    settings = webhook_mode(webhook_path="/tg", webhook_secret="s3cret-value")
    async with world(tmp_path, **settings) as w, aiohttp.ClientSession() as http:

        async def webhook_set() -> bool:
            return bool((await w.client.state())["webhook"]["url"])

        await wait_until(webhook_set, "the bot sets its webhook")
        # No secret header needed, and nothing secret in the answer.
        async with http.get(f"http://127.0.0.1:{settings['webhook_port']}/healthz") as resp:
            assert resp.status == 200
            body = await resp.text()
        assert body == '{"status": "ok"}'
