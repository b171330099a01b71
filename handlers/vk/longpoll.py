"""The community's Bots Long Poll, keeping its position under DATA_DIR so a restart picks up the events it missed.

vkbottle's `BotPolling` keeps its position only through hooks it does not document (`skip_old_events`, and a
`ts_state_path` property a subclass had to override to move the file out of the working directory). The protocol
is VK's and short (https://dev.vk.ru/api/bots-long-poll/getting-started): `groups.getLongPollServer` gives a server,
a key and a position (`ts`); each `a_check` request waits up to `wait` seconds and answers the updates after `ts`
with the next `ts`, or `failed`. It runs here on vkbottle's documented `API.request` and HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientTimeout
from vkbottle import API, VKAPIError

from bot.reach import why_unreachable

log = logging.getLogger(__name__)

WAIT_SECONDS = 25
OPEN_TIMEOUT = 15.0


class LongPollRefused(Exception):
    """VK refused the community's long poll at start (a bad token, a wrong community, long poll switched off)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


class VkUnreachable(Exception):
    """The VK API did not answer at all; the argument is why, in a few words."""


class LongPoll:
    """The updates of the community's Bots Long Poll, batch by batch, from where the last process stopped."""

    def __init__(self, api: API, group_id: int, state_dir: Path, wait: int = WAIT_SECONDS) -> None:
        self._api = api
        self._group_id = group_id
        self._wait = wait
        # The same file and format as vkbottle's polling wrote here, so a running deployment keeps its position.
        self.state_path = state_dir / f"vk-longpoll-{group_id}.json"
        self._opened: dict[str, Any] | None = None

    async def open(self) -> None:
        """Ask VK for the long poll once, so a start that cannot work stops instead of retrying in the log.

        Raises `LongPollRefused` with VK's error, or `VkUnreachable`; the first `updates` uses the server got here.
        """
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                self._opened = await self._server()
        except VKAPIError as exc:
            raise LongPollRefused(int(getattr(exc, "code", 0) or 0), str(exc.error_msg)) from exc
        except (ClientError, OSError, TimeoutError) as exc:
            raise VkUnreachable(why_unreachable(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise LongPollRefused(0, f"an answer that is not VK's ({type(exc).__name__})") from exc

    async def updates(self) -> AsyncIterator[list[Any]]:
        """Each non-empty batch of updates in order; the position is saved after the batch was handed over.

        A network or API failure raises: the caller reconnects, and the saved position loses nothing.
        """
        server, self._opened = self._opened or await self._server(), None
        if (ts := self._saved_ts()) is not None:
            server["ts"] = ts
        while True:
            answer = await self._api.http_client.request_json(
                str(server["server"]),
                method="POST",
                params={"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": self._wait},
                timeout=ClientTimeout(total=self._wait + 10),
            )
            failed = answer.get("failed")
            if failed == 1 and "ts" in answer:
                server["ts"] = answer["ts"]  # part of the history is gone: go on from where VK says
                continue
            if failed == 2:
                server = {**await self._server(), "ts": server["ts"]}  # the key expired; the position holds
                continue
            if failed is not None or "ts" not in answer:
                log.warning("VK long poll answered failed=%s; starting from a new server", failed)
                server = await self._server()  # the position is lost (3), or an answer VK does not document
                continue
            server["ts"] = answer["ts"]
            if updates := answer.get("updates"):
                yield list(updates)
                await asyncio.to_thread(self._save_ts, server["ts"])

    async def _server(self) -> dict[str, Any]:
        response = await self._api.request("groups.getLongPollServer", {"group_id": self._group_id})
        return dict(response["response"])

    def _saved_ts(self) -> Any:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8")).get("ts")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("VK long poll position unreadable (%s); starting from VK's", type(exc).__name__)
            return None

    def _save_ts(self, ts: Any) -> None:
        temp = self.state_path.with_suffix(".tmp")
        try:
            temp.write_text(json.dumps({"ts": ts}), encoding="utf-8")
            temp.replace(self.state_path)
        except OSError as exc:
            log.warning("VK long poll position not saved (%s)", type(exc).__name__)
