"""Webhook delivery: push queued updates to the bot's URL like Telegram, and run its webhook answers.

While ``state.webhook["url"]`` is set, :class:`WebhookPusher` POSTs every pending update there as
JSON (the same queue getUpdates reads), at most ``max_connections`` at a time and strictly one at a
time per chat, oldest first.  An update leaves the queue only after a 2xx answer; anything else is
retried with a short exponential backoff.  A 2xx answer may carry a Bot API call (``method`` plus
parameters, see :func:`parse_webhook_answer`), which is executed through the emulator's normal call
path, so it shows up in the call log and the sent log like any other call.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .botapi import WEBHOOK_DEFAULT_CONNECTIONS, WEBHOOK_MAX_CONNECTIONS, Upload
from .errors import ApiError
from .state import EmulatorState, now_ts

log = logging.getLogger("tg_emulator.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram gives a webhook about a minute to answer before it counts the attempt as failed.
WEBHOOK_TIMEOUT = 60.0
# Retry backoff after a failed delivery; far shorter than Telegram's so tests stay fast.
BACKOFF_START = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_MAX = 10.0

# (status, error, result) of one Bot API call, as returned by TelegramEmulator.call.
CallResult = tuple[int, ApiError | None, Any]
Caller = Callable[[int, str, dict[str, Any], dict[str, Upload]], Awaitable[CallResult]]
WebhookAnswer = tuple[str, dict[str, Any], dict[str, Upload]]


# ---------------------------------------------------------------------- parsing webhook answers


def _split_method(params: dict[str, Any], files: dict[str, Upload]) -> WebhookAnswer | None:
    method = params.pop("method", None)
    if method is None or str(method).strip() == "":
        return None
    return str(method).strip(), params, files


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, Upload]]:
    """form-data fields and file parts, via the stdlib MIME parser (binary-safe, CRLF or LF)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("multipart answer without a boundary or parts")
    params: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue  # a part without a field name carries nothing addressable
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            # aiohttp's MultipartWriter percent-encodes non-ASCII filenames.
            files[name] = Upload(data, urllib.parse.unquote(filename), part.get_content_type())
        else:
            params[name] = data.decode(part.get_content_charset() or "utf-8", errors="replace")
    return params, files


def parse_webhook_answer(body: bytes, content_type: str) -> WebhookAnswer | None:
    """Decode a bot's answer to a webhook POST into (method, params, files), or None if it holds no call.

    Telegram accepts a Bot API call in the response body: ``method`` plus the method's
    parameters as ``application/json``, ``application/x-www-form-urlencoded`` or
    ``multipart/form-data`` (aiogram's choice; file parts become :class:`Upload`).  An empty body,
    ``{}`` or a body without ``method`` is None.  Raises ValueError for a body that cannot be parsed.
    """
    mime = content_type.split(";", 1)[0].strip().lower()
    if not body.strip():
        return None
    if mime == "multipart/form-data":
        return _split_method(*_parse_multipart(body, content_type))
    if mime == "application/x-www-form-urlencoded":
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"can't parse form answer: {exc}") from None
        return _split_method(dict(pairs), {})
    if mime in ("application/json", "", "text/plain", "text/json"):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"can't parse JSON answer: {exc}") from None
        return _split_method(dict(data), {}) if isinstance(data, dict) else None
    raise ValueError(f"unsupported answer content type {content_type!r}")


# ---------------------------------------------------------------------- ordering helpers


def update_order_key(update: dict[str, Any]) -> tuple[str, int]:
    """The serialisation key of an update: its chat, else its user, else the update itself.

    Updates with the same key are delivered one after another, oldest first.
    """
    payload = next((v for k, v in update.items() if k != "update_id"), None)
    if isinstance(payload, dict):
        for holder in (payload, payload.get("message")):
            chat = holder.get("chat") if isinstance(holder, dict) else None
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return "chat", chat["id"]
        for field in ("from", "user"):
            user = payload.get(field)
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                return "user", user["id"]
    return "update", int(update.get("update_id", 0))


def max_connections(webhook: dict[str, Any]) -> int:
    """The webhook's max_connections, clamped to Telegram's 1..100 (default 40)."""
    try:
        value = int(webhook.get("max_connections") or WEBHOOK_DEFAULT_CONNECTIONS)
    except (TypeError, ValueError):
        value = WEBHOOK_DEFAULT_CONNECTIONS
    return min(max(value, 1), WEBHOOK_MAX_CONNECTIONS)


# ---------------------------------------------------------------------- the pusher


class WebhookPusher:
    """Delivers pending updates to the webhook URL and executes the bot's answers (one per emulator)."""

    def __init__(self, state: EmulatorState, call: Caller) -> None:
        """``call(bot_id, method, params, files)`` runs one Bot API call exactly like the HTTP route."""
        self.state = state
        self.call = call
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()  # update_ids being POSTed now
        self._busy: set[tuple[str, int]] = set()  # order keys with a POST in flight
        self._retry_at: dict[tuple[str, int], float] = {}  # loop time before which a key must not be retried
        self._backoff: dict[tuple[str, int], float] = {}
        self._url = ""

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._loop_task is not None

    async def start(self) -> None:
        """Start the delivery loop (idempotent)."""
        if self._loop_task is not None:
            return
        # The pusher enforces max_connections itself; the connector only caps Telegram's maximum.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WEBHOOK_MAX_CONNECTIONS))
        self._loop_task = asyncio.create_task(self._run(), name="tg-emulator-webhook-pusher")

    async def stop(self) -> None:
        """Stop the loop, abandon in-flight POSTs (their updates stay queued) and close the HTTP session."""
        tasks = [t for t in (self._loop_task, *self._deliveries) if t is not None]
        self._loop_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._deliveries.clear()
        self._in_flight.clear()
        self._busy.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """Re-check the queue now (setWebhook/deleteWebhook and new updates also wake it via the state)."""
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            updates_event = self.state.updates_changed
            self._wake.clear()
            try:
                delay = self._dispatch(loop.time())
            except Exception:  # an emulator bug must not silently end webhook delivery for the session
                log.exception("webhook dispatch failed")
                delay = BACKOFF_MAX
            waiters = [asyncio.ensure_future(updates_event.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    def _dispatch(self, now: float) -> float | None:
        """Start every POST that may start now; returns seconds until the next backoff expires (or None)."""
        webhook = self.state.webhook
        url = str(webhook.get("url") or "")
        if url != self._url:
            # A new (or removed) webhook starts with a clean slate of retry timers.
            self._url = url
            self._retry_at.clear()
            self._backoff.clear()
        if not url or self._session is None:
            return None
        limit = max_connections(webhook)
        seen: set[tuple[str, int]] = set()
        next_retry: float | None = None
        for update in self.state.pending_updates(max(len(self.state.updates), 1)):
            key = update_order_key(update)
            if key in seen:
                continue  # an older update of this chat is still undelivered
            seen.add(key)
            if key in self._busy:
                continue
            retry_at = self._retry_at.get(key, 0.0)
            if retry_at > now:
                wait = retry_at - now
                next_retry = wait if next_retry is None else min(next_retry, wait)
                continue
            if len(self._in_flight) >= limit:
                break
            self._busy.add(key)
            self._in_flight.add(update["update_id"])
            task = asyncio.create_task(self._deliver(update, key, webhook))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return next_retry

    async def _deliver(self, update: dict[str, Any], key: tuple[str, int], webhook: dict[str, Any]) -> None:
        try:
            await self._post(update, key, webhook)
        except Exception as exc:  # keep the pusher alive; the update stays queued and is retried
            log.exception("webhook delivery of update %s failed", update.get("update_id"))
            self._failed(key, webhook, f"Emulator error: {type(exc).__name__}: {exc}")
        finally:
            self._busy.discard(key)
            self._in_flight.discard(update["update_id"])
            self._wake.set()

    async def _post(self, update: dict[str, Any], key: tuple[str, int], webhook: dict[str, Any]) -> None:
        """One delivery attempt to the webhook as it was when the attempt started (it may be deleted meanwhile)."""
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if webhook.get("secret_token"):
            headers[SECRET_HEADER] = str(webhook["secret_token"])
        data = json.dumps(update, ensure_ascii=False).encode()
        try:
            async with self._session.post(str(webhook["url"]), data=data, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as resp:
                body = await resp.read()
                status, reason = resp.status, resp.reason or ""
                content_type = resp.headers.get("Content-Type", "")
        except TimeoutError:
            self._failed(key, webhook, "Read timeout expired")
            return
        except (aiohttp.ClientError, OSError) as exc:
            self._failed(key, webhook, f"Connection error: {exc}")
            return
        if not 200 <= status < 300:
            self._failed(key, webhook, f"Wrong response from the webhook: {status} {reason}".rstrip())
            return
        self._retry_at.pop(key, None)
        self._backoff.pop(key, None)
        self.state.updates = [u for u in self.state.updates if u["update_id"] != update["update_id"]]
        try:
            answer = parse_webhook_answer(body, content_type)
        except ValueError as exc:
            # Telegram silently ignores an answer it cannot parse; the update still counts as delivered.
            log.warning("ignoring unparsable webhook answer to update %s: %s", update["update_id"], exc)
            return
        bot_id = webhook.get("bot_id")
        if answer is not None:
            if bot_id is None:
                log.warning("webhook answer %s ignored: no bot id known", answer[0])
                return
            await self.call(bot_id, *answer)

    def _failed(self, key: tuple[str, int], webhook: dict[str, Any], message: str) -> None:
        """Record a failed delivery for getWebhookInfo and schedule the key's retry."""
        backoff = min(self._backoff.get(key, BACKOFF_START / BACKOFF_FACTOR) * BACKOFF_FACTOR, BACKOFF_MAX)
        self._backoff[key] = backoff
        self._retry_at[key] = asyncio.get_running_loop().time() + backoff
        # Stats go to the webhook the attempt was made for; a deleted one just keeps them to itself.
        webhook["last_error_date"] = now_ts()
        webhook["last_error_message"] = message
        log.info("webhook delivery failed (%s), retry in %.1fs", message, backoff)


async def execute_webhook_answer(call: Caller, bot_id: int, body: bytes, content_type: str) -> dict[str, Any]:
    """Parse one webhook answer and run it through ``call``; returns {method, status, result | error}.

    ``method`` (and ``status``) are None when the answer held no call.  Raises ValueError for an
    unparsable body.
    """
    answer = parse_webhook_answer(body, content_type)
    if answer is None:
        return {"method": None, "status": None, "result": None}
    method, params, files = answer
    status, error, result = await call(bot_id, method, params, files)
    if error is not None:
        return {"method": method, "status": status, "error": error.to_json()}
    return {"method": method, "status": status, "result": result}


__all__ = [
    "BACKOFF_FACTOR", "BACKOFF_MAX", "BACKOFF_START", "SECRET_HEADER", "WEBHOOK_TIMEOUT", "WebhookPusher",
    "execute_webhook_answer", "max_connections", "parse_webhook_answer", "update_order_key",
]
