"""Logs never carry residents' texts, names or ids, whatever the level and whatever goes wrong."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.logs import PrivateFormatter, configure_logging
from tests.harness import VkResident, buttons, photo_bytes, text_of, world

NAME, SURNAME = "Zyxwvut", "Qqqq"
RESIDENT_ID = 987654321
VK_ID = 876543219
DESCRIPTION = "Quokkaflux pothole swallowed the kerb"
ADDRESS = "Wombatstrasse 17"
FOLLOW_UP = "Numbatglow: it got deeper overnight"
VK_TEXT = "Bilbyshade lamp flickers on the corner"
SECRETS = [NAME, SURNAME, "Quokkaflux", "Wombatstrasse", "Numbatglow", "Bilbyshade", str(RESIDENT_ID), str(VK_ID)]


class Collected(logging.Handler):
    """Every record of every logger, formatted as production formats it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(PrivateFormatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def production_logging(level: str = "DEBUG") -> Iterator[Collected]:
    """The root logger configured as `python -m bot` does at LOG_LEVEL=DEBUG, its lines collected."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in ("vkbottle", "aiogram.event")}
    collected = Collected()
    configure_logging(level)
    added = [h for h in root.handlers if h not in saved[1]]
    root.addHandler(collected)
    try:
        yield collected
    finally:
        for handler in [*added, collected]:
            root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level_ in saved[2].items():
            logging.getLogger(name).setLevel(level_)


def leaks(lines: list[str]) -> list[str]:
    return [line for line in lines if any(secret in line for secret in SECRETS)]


async def test_a_full_loop_at_debug_logs_nobody(tmp_path: Path) -> None:
    with production_logging() as logs:
        async with world(tmp_path, vk=True) as w:
            assert w.vk is not None
            resident = w.resident(RESIDENT_ID, first_name=NAME)
            resident.user["last_name"] = SURNAME
            question = await resident.say("/new")
            [question] = await resident.press(question, "Roads")
            await resident.say(DESCRIPTION)
            await resident.say(ADDRESS)
            summary = await resident.say(photo=photo_bytes(3))
            since = await w.official.mark()
            [confirmation] = await resident.press(summary, "Send")
            [card] = await w.official.wait(since)
            assert NAME in text_of(card) and DESCRIPTION in text_of(card)

            # The official answers; the first delivery of the answer fails, and is retried.
            await w.client.fail("sendMessage", 500, chat_id=RESIDENT_ID, description=f"{NAME} {RESIDENT_ID} gone")
            since = await resident.mark()
            await w.official.reply(card, "Crew is on the way", count=0)
            [answer] = await resident.wait(since)
            assert "Crew is on the way" in text_of(answer)
            # The resident writes more, as a reply to the bot's message about the report.
            since = await w.official.mark()
            await resident.send(FOLLOW_UP, reply_to_message_id=confirmation["message_id"])
            [post] = await w.official.wait(since)
            assert FOLLOW_UP in text_of(post)

            # Bad inputs: invisible text, too long, forged buttons, an update nobody can read.
            assert "empty" in text_of(await resident.say("\u200b" * 5))
            question = await resident.say(f"{NAME} " * 1000)
            assert "Is this about your report #1" in text_of(question)
            assert "too long" in text_of((await resident.press(question, "About #1"))[-1])
            await resident.press_data(summary, f"r.cat.{RESIDENT_ID}{NAME}", count=0)
            chat = {"id": RESIDENT_ID, "type": "private", "first_name": NAME}
            author = {"id": RESIDENT_ID, "is_bot": False, "first_name": NAME}
            bad = {"message_id": 1, "date": 0, "chat": chat, "from": author, "text": 5, "caption": [DESCRIPTION]}
            await w.client.inject_update({"message": bad})
            await w.client.inject_update(
                {"callback_query": {"id": NAME, "from": {"id": RESIDENT_ID, "first_name": NAME}, "data": DESCRIPTION}}
            )
            assert "Hello!" in text_of(await resident.say("/start"))

            # A VK resident too (vkbottle logs request bodies at DEBUG unless held back).
            vk = VkResident(w.vk.client, VK_ID, "en")
            vk.user = {"id": VK_ID, "first_name": NAME, "last_name": SURNAME}
            await vk.say(VK_TEXT)
            reply = await vk.say("x" * 5000)
            assert "too long" in reply["text"]
            await vk.say("hi", payload=f"[{VK_ID}, {NAME!r}]")
            assert "Send" in buttons(summary)
    assert logs.lines, "nothing was logged at DEBUG: the capture is broken"
    assert leaks(logs.lines) == []


def test_a_logged_exception_quotes_nobody() -> None:
    """A traceback keeps where and what failed, never the message (which may quote a resident's text)."""
    with production_logging("INFO") as logs:
        log = logging.getLogger("bot.test")
        try:
            try:
                raise KeyError(DESCRIPTION)
            except KeyError as exc:
                raise ValueError(f"could not read {NAME} {SURNAME} ({RESIDENT_ID})") from exc
        except ValueError:
            log.exception("update %s failed", 42)
    [line] = [line for line in logs.lines if "update 42 failed" in line]
    assert "builtins.ValueError" in line and "builtins.KeyError" in line and "test_log_privacy.py" in line
    assert leaks(logs.lines) == []
