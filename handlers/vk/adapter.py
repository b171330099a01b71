"""The VK adapter: Bots Long Poll updates into the core, the core's replies back as VK messages."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from vkbottle import API, VKAPIError

from bot.core import dialog
from bot.core.models import Messenger, ResidentProfile, ResidentRef
from bot.core.reception import Reception
from bot.core.replies import Reply
from bot.delivery.budgets import Budgets, sending
from bot.delivery.live import retrying
from bot.text.clean import display_name
from bot.text.i18n import DEFAULT_LANGUAGE
from handlers.vk.keyboards import ClientCaps, keyboard
from handlers.vk.longpoll import LongPoll
from handlers.vk.render import to_plain
from handlers.vk.sender import live_verdict
from handlers.vk.updates import IncomingMessage, IncomingPress, parse_message_event, parse_message_new
from storage.photo_metadata import BadPhoto
from storage.photos import PhotoArchive

log = logging.getLogger(__name__)

# What a live call may end with once given up (anything else is a bug, logged with its trace by `handle`).
LIVE_FAILURES = (VKAPIError, TimeoutError, aiohttp.ClientError)

NAME_CACHE_SIZE = 10_000
SNACKBAR_LIMIT = 90
PHOTO_LIMIT = 20 * 1024 * 1024
SHUTDOWN_GRACE = 5.0


class VkAdapter:
    """Serves residents who write to the city's VK community."""

    def __init__(
        self,
        reception: Reception,
        api: API,
        group_id: int,
        state_dir: Path,
        archive: PhotoArchive,
        budgets: Budgets | None = None,
        reply_timeout: float = 10.0,
    ) -> None:
        self._reception = reception
        self._reply_timeout = reply_timeout
        self._archive = archive
        self._budgets = budgets
        self._api = api
        self._group_id = group_id
        self._state_dir = state_dir
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll: LongPoll | None = None
        # Names and languages seen lately: a cache to spare users.get, never the only copy of anything.
        self._profiles: OrderedDict[int, ResidentProfile] = OrderedDict()

    async def start(self) -> None:
        """Open the long poll once: raises `LongPollRefused` or `VkUnreachable` if VK refuses or does not answer.

        After this, failures are retried by `run` for as long as it runs.
        """
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._poll = LongPoll(self._api, self._group_id, self._state_dir)
        await self._poll.open()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen to the long poll until `stop` is set; each update is handled in its own task."""
        if self._poll is None:
            self._state_dir.mkdir(parents=True, exist_ok=True)
            self._poll = LongPoll(self._api, self._group_id, self._state_dir)
        poll = self._poll
        listener = asyncio.create_task(self._listen(poll))
        # A long poll waits up to 25 s for VK; on stop we cancel it rather than wait it out.
        await stop.wait()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        if self._tasks:
            # Updates under way may finish; a stuck one must not hold shutdown.
            _done, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _listen(self, poll: LongPoll) -> None:
        while True:
            try:
                async for updates in poll.updates():
                    for update in updates:
                        self._spawn(update)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("VK long poll failed (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1)

    def _spawn(self, update: Any) -> None:
        task = asyncio.create_task(self.handle(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, update: Any) -> None:
        """Handle one long-poll update; errors are logged (without content) and never stop the loop."""
        if not isinstance(update, dict):
            return
        try:
            if update.get("type") == "message_new":
                incoming = parse_message_new(update.get("object"))
                if incoming is not None:
                    await self._on_message(incoming)
            elif update.get("type") == "message_event":
                press = parse_message_event(update.get("object"))
                if press is not None:
                    await self._on_press(press)
        except Exception:
            log.exception("VK update %s failed", update.get("event_id"))

    async def _profile(self, user_id: int, language: str | None) -> ResidentProfile:
        cached = self._profiles.get(user_id)
        if cached is None:
            ref = ResidentRef(Messenger.VK, user_id)
            stored = await self._reception.storage.get_resident(ref)
            cached = stored or ResidentProfile(ref, await self._name(user_id), DEFAULT_LANGUAGE)
        if language is not None and language != cached.language:
            cached = ResidentProfile(cached.ref, cached.display_name, language)
        self._profiles[user_id] = cached
        self._profiles.move_to_end(user_id)
        while len(self._profiles) > NAME_CACHE_SIZE:
            self._profiles.popitem(last=False)
        return cached

    async def _name(self, user_id: int) -> str:
        try:
            response = await self._paced("users.get", {"user_ids": user_id})
            user = response["response"][0]
            name = " ".join(str(user.get(k) or "") for k in ("first_name", "last_name"))
        except (VKAPIError, KeyError, IndexError, TypeError, AttributeError):
            name = ""
        # Cleaned: a direction override in a name would flip the card's "From:" line.
        return display_name(name) or f"id{user_id}"

    async def _on_message(self, incoming: IncomingMessage) -> None:
        profile = await self._profile(incoming.user_id, incoming.language)
        # Photos are downloaded only if the resident is admitted (not banned, not flooding).
        event = incoming.event if incoming.event is not None else partial(self._photos, incoming)

        async def show(replies: list[Reply]) -> None:
            await self.send_replies(incoming.user_id, replies, incoming.caps)

        await self._reception.dialog.handle(profile, event, show, replied=incoming.replied)

    async def _photos(self, incoming: IncomingMessage) -> dialog.ResidentInput:
        try:
            blobs = await asyncio.gather(*(self._api.http_client.request_content(u) for u in incoming.photo_urls))
            if any(len(b) > PHOTO_LIMIT for b in blobs):
                return dialog.Failed()
            digests = tuple([await self._archive.put(b) for b in blobs])
        except BadPhoto as exc:
            log.info("VK photo refused: %s", exc)
            return dialog.BadPhoto()
        except Exception as exc:
            log.warning("VK photo download failed: %s", type(exc).__name__)
            return dialog.Failed()
        return dialog.Photos(digests, incoming.caption)

    async def _on_press(self, press: IncomingPress) -> None:
        profile = await self._profile(press.user_id, None)

        async def show(replies: list[Reply]) -> None:
            alerts = [r for r in replies if r.alert]
            answer: dict[str, Any] = {"event_id": press.event_id, "user_id": press.user_id, "peer_id": press.user_id}
            if alerts:
                snackbar = {"type": "show_snackbar", "text": to_plain(alerts[0].text, SNACKBAR_LIMIT)}
                answer["event_data"] = json.dumps(snackbar, ensure_ascii=False)
            try:
                await self._live("messages.sendMessageEventAnswer", answer)
            except LIVE_FAILURES as exc:
                log.info("VK event answer failed: %s", _code(exc))
            await self.send_replies(press.user_id, [r for r in replies if not r.alert], ClientCaps(True, True))

        await self._reception.dialog.handle(profile, dialog.Press(press.action), show)

    async def send_replies(self, peer_id: int, replies: Sequence[Reply], caps: ClientCaps) -> None:
        """Show the core's replies, each tried again on VK's or the network's failure (bot/delivery/live.py).

        A reply given up is logged and the rest are dropped (shown out of order they would not make sense).
        """
        for reply in replies:
            params: dict[str, Any] = {
                "peer_id": peer_id,
                "random_id": secrets.randbits(31) or 1,
                "message": to_plain(reply.text),
            }
            markup = keyboard(reply.buttons, caps)
            if markup is not None:
                params["keyboard"] = markup
            try:
                # Every attempt carries the same random_id: one that timed out but arrived is not shown twice.
                await self._live("messages.send", params)
            except LIVE_FAILURES as exc:
                log.warning("VK reply failed: %s", _code(exc))
                return

    async def _live(self, method: str, params: dict[str, Any]) -> Any:
        """A live call, tried again on VK's or the network's failure; each attempt within the budget and timeout."""

        async def attempt() -> Any:
            if self._budgets is None:
                async with asyncio.timeout(self._reply_timeout):
                    return await self._api.request(method, params)
            async with sending(self._budgets, Messenger.VK, 0), asyncio.timeout(self._reply_timeout):
                return await self._api.request(method, params)

        return await retrying(attempt, live_verdict, method)

    async def _paced(self, method: str, params: dict[str, Any]) -> Any:
        """An API call within the community's per-second budget, which VK counts for every call of its token."""
        if self._budgets is None:
            return await self._api.request(method, params)
        async with sending(self._budgets, Messenger.VK, 0):  # VK has no per-chat limit
            return await self._api.request(method, params)


def _code(exc: Exception) -> str:
    """What a failure is, for the log: VK's error code, or the kind of network failure."""
    return str(exc.code) if isinstance(exc, VKAPIError) else type(exc).__name__
