"""Long polling that reads each update on its own, so one update the library cannot read is skipped, not retried.

aiogram's own poller validates a whole getUpdates batch at once; a single malformed update fails the batch, the
offset never moves, and every resident waits behind it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp

from handlers.telegram.intake import TelegramIntake, Unreadable
from handlers.telegram.offsets import UpdateOffsets
from handlers.telegram.session import json_session, perform

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
MAX_BACKOFF = 30.0
SHUTDOWN_GRACE = 5.0


class UpdatePoller:
    """getUpdates in a loop; updates are handled concurrently, each validated separately, and confirmed to
    Telegram only once handled (handlers/telegram/offsets.py)."""

    def __init__(self, intake: TelegramIntake, poll_timeout: int = POLL_TIMEOUT) -> None:
        self._intake = intake
        self._bot = intake.bot
        self._timeout = poll_timeout
        self._tasks: set[asyncio.Task[Any]] = set()
        self._offsets = UpdateOffsets()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; handlers already running are awaited, and what they handled is confirmed."""
        poll = asyncio.create_task(self._poll())
        await stop.wait()
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll
        if self._tasks:
            # Handlers under way may finish (their state is saved as they go); a stuck one must not hold shutdown.
            _done, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._offsets.offset is not None:
            # Confirm what was handled since the last poll, or the next process would handle it again.
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                await self._get_updates({"offset": self._offsets.offset, "timeout": 0, "limit": 1}, timeout=5)

    async def _get_updates(self, body: dict[str, Any], timeout: float) -> Any:  # noqa: ASYNC109
        session = json_session(self._bot)
        url = session.api.api_url(self._bot.token, "getUpdates")
        async with session.plain_http().post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return json.loads(await response.read())

    async def _poll(self) -> None:
        allowed = self._intake.allowed_updates()
        failures = 0
        while True:
            body: dict[str, Any] = {"timeout": self._timeout, "allowed_updates": allowed}
            if (offset := self._offsets.offset) is not None:
                body["offset"] = offset
            try:
                answer = await self._get_updates(body, self._timeout + 15)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(min(MAX_BACKOFF, 0.5 * 2**failures))
                continue
            if not isinstance(answer, dict) or not answer.get("ok"):
                failures += 1
                code = answer.get("error_code") if isinstance(answer, dict) else None
                log.error("getUpdates refused (%s); retrying", code)
                await asyncio.sleep(min(MAX_BACKOFF, 0.5 * 2**failures))
                continue
            failures = 0
            updates = answer.get("result") or []
            fresh = 0
            for raw in updates:
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                if isinstance(update_id, int) and self._offsets.start(update_id):
                    self._spawn(raw, update_id)
                    fresh += 1
            if updates and not fresh and self._tasks:
                # Only updates still under way came back: wait for one to end instead of asking again at once.
                await asyncio.wait(self._tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)

    def _spawn(self, raw: dict[str, Any], update_id: int) -> None:
        task = asyncio.create_task(self._handle(raw, update_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, raw: dict[str, Any], update_id: int) -> None:
        # Cancelled (at shutdown) it stays unconfirmed, so Telegram sends it again to the next process.
        await self._answer(raw, update_id)
        self._offsets.finish(update_id)

    async def _answer(self, raw: dict[str, Any], update_id: int) -> None:
        try:
            answer = await self._intake.feed(raw)
        except Unreadable:
            log.warning("update %s could not be read and was skipped", update_id)
            return
        except Exception:
            return  # logged by the intake; handled again it would most likely fail again
        if answer is None:
            return
        try:
            # What a webhook would carry in its HTTP answer goes out as a call of its own here.
            await perform(self._bot, answer)
        except Exception:
            log.exception("the answer to update %s failed", update_id)
