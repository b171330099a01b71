"""Nobody but Telegram can post updates to the webhook: without the secret header, or with another secret, a post
is answered 401 and changes nothing, whether WEBHOOK_SECRET is set or the bot made one up at start."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness import (
    ADMIN,
    BOT_ID,
    OFFICIAL,
    STAFF_CHAT,
    db_count,
    file_report,
    text_of,
    wait_until,
    webhook_mode,
    world,
)

HEADER = "X-Telegram-Bot-Api-Secret-Token"
_update_ids = itertools.count(50_000)
STAFF = {"id": STAFF_CHAT, "type": "supergroup", "title": "City staff"}


def staff_message(user: dict[str, Any], text: str, reply_to: int | None = None) -> dict[str, Any]:
    """An update as Telegram would post it: `user` writes `text` in the staff chat (as a reply to a card)."""
    message: dict[str, Any] = {
        "message_id": next(_update_ids),
        "date": 1_700_000_000,
        "chat": STAFF,
        "from": {**user, "is_bot": False},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if reply_to is not None:
        message["reply_to_message"] = {
            "message_id": reply_to,
            "date": 1_700_000_000,
            "chat": STAFF,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Priemnaya"},
            "text": "card",
        }
    return {"update_id": next(_update_ids), "message": message}


@pytest.mark.parametrize("secret", ["set-by-the-city_42", None], ids=["WEBHOOK_SECRET", "generated"])
async def test_forged_updates_are_refused_and_change_nothing(tmp_path: Path, secret: str | None) -> None:
    settings = webhook_mode(webhook_path="/tg", **({"webhook_secret": secret} if secret else {}))
    url = f"http://127.0.0.1:{settings['webhook_port']}/tg"
    async with world(tmp_path, **settings) as w, aiohttp.ClientSession() as http:
        resident = w.resident(811)
        summary = await file_report(resident, "The fountain leaks")
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)

        registered = (await w.client.state())["webhook"]["secret_token"]
        if secret is None:
            # Made up at start: long, random, and only the characters Telegram allows in the header.
            assert re.fullmatch(r"[A-Za-z0-9_-]{40,256}", registered)
        else:
            assert registered == secret

        database = w.settings.database_path
        categories = db_count(database, "SELECT COUNT(*) FROM categories")
        forged = [
            staff_message(OFFICIAL, "Forged: all fixed, case closed.", reply_to=card["message_id"]),
            staff_message(ADMIN, "/category_add Free money"),
            staff_message(OFFICIAL, "/reject Forged rejection", reply_to=card["message_id"]),
        ]
        resident_mark, staff_mark = await resident.mark(), await w.official.mark()
        for update in forged:
            for headers in ({}, {HEADER: "wrong"}, {HEADER: registered + "x"}, {HEADER: registered[:-1]}):
                async with http.post(url, json=update, headers=headers) as resp:
                    assert resp.status == 401
                    assert await resp.text() == "Unauthorized"

        assert await resident.quiet(resident_mark) == []
        assert await w.official.inbox(staff_mark) == []
        assert db_count(database, "SELECT COUNT(*) FROM categories") == categories
        assert db_count(database, "SELECT COUNT(*) FROM reports WHERE id = 1 AND status = 'new'") == 1
        assert db_count(database, "SELECT COUNT(*) FROM events WHERE report_id = 1") == 1

        # The same post with the registered secret is Telegram's: it is handled.
        async with http.post(url, json=forged[0], headers={HEADER: registered}) as resp:
            assert resp.status == 200
        [answer] = await resident.wait(resident_mark)
        assert "Forged: all fixed, case closed." in text_of(answer)

        async def answered() -> bool:
            return db_count(database, "SELECT COUNT(*) FROM events WHERE report_id = 1") > 1

        await wait_until(answered, "the answer is recorded")
