"""The HTTP server: Bot API routes, file downloads, the control API, and TelegramEmulator."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from .botapi import BotApi, CallContext, Upload
from .client import EmulatorClient
from .control import Control
from .errors import ApiError
from .limits import RateLimitConfig
from .state import EmulatorState
from .webhook import WebhookPusher

log = logging.getLogger("tg_emulator")

TOKEN_RE = re.compile(r"^(\d+):(\S+)$")
# Telegram accepts uploads of up to 50 MB; aiohttp's 1 MB default would reject real photos.
MAX_REQUEST_BYTES = 60 * 1024 * 1024


def _json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


def _loggable(params: dict[str, Any], files: dict[str, Upload]) -> dict[str, Any]:
    """Call parameters for the call log, with uploads summarised instead of stored twice."""
    out = dict(params)
    for name, upload in files.items():
        out[name] = f"<file {upload.filename or name}: {len(upload.data)} bytes>"
    return out


async def parse_bot_request(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Merge query string and body (JSON, urlencoded or multipart) into params and file parts."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.method != "POST" or not request.can_read_body:
        return params, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ApiError(400, "Bad Request: can't parse JSON request body") from None
        if isinstance(body, dict):
            params.update(body)
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = Upload(value.file.read(), value.filename, value.content_type)
        else:
            params[key] = value
    return params, files


class TelegramEmulator:
    """A fake Telegram Bot API server plus a control API, runnable in-process or standalone.

    >>> async with TelegramEmulator() as emu:
    ...     bot = Bot("123:abc", session=AiohttpSession(api=TelegramAPIServer.from_base(emu.url)))
    ...     await emu.client.inject_private_message({"id": 1, "first_name": "Ann"}, "/start")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bot_first_name: str = "Emulator Bot",
        bot_username: str | None = None,
        strict_html: bool = True,
        conflict_mode: str = "reject_new",
        rate_limits: RateLimitConfig | None = None,
        push_webhooks: bool = True,
    ) -> None:
        """Create (not start) the emulator; ``port=0`` picks a free port, see ``.url`` after start().

        ``push_webhooks=False`` only records setWebhook (nothing is POSTed to the bot), for drivers that
        feed the bot's webhook themselves and forward its answers to ``/_ctl/webhook_answer``.
        """
        self.host = host
        self.port = port
        self.state = EmulatorState(bot_first_name=bot_first_name, bot_username=bot_username,
                                   strict_html=strict_html, conflict_mode=conflict_mode, rate_limits=rate_limits)
        self.api = BotApi(self.state)
        # Calls made from the bot's webhook answers are logged as such (via="webhook_answer").
        answer_call = functools.partial(self.call, via="webhook_answer")
        self.control = Control(self.state, answer_call)
        self.pusher: WebhookPusher | None = WebhookPusher(self.state, answer_call) if push_webhooks else None
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._client: EmulatorClient | None = None

    # ------------------------------------------------------------------ app

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        app.add_routes(self.control.routes())
        return app

    async def _handle_bot_api(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        match = TOKEN_RE.match(token)
        if match is None:
            return _json_response(ApiError(401, "Unauthorized").to_json(), 401)
        bot_id = int(match.group(1))
        try:
            params, files = await parse_bot_request(request)
        except asyncio.CancelledError:
            self.state.log_call(self._name(method), None, 499, None, {}, bot_id)
            raise
        except Exception as exc:
            failure = self._as_api_error(self._name(method), exc)
            self.state.log_call(self._name(method), None, failure.error_code, failure, {}, bot_id)
            return _json_response(failure.to_json(), failure.error_code)
        status, error, result = await self.call(
            bot_id, method, params, files,
            is_stale=lambda: request.transport is None or request.transport.is_closing())
        if error is not None:
            return _json_response(error.to_json(), status)
        return _json_response({"ok": True, "result": result})

    def _name(self, method: str) -> str:
        """The canonical spelling of a method name for the logs ("sendmessage" -> "sendMessage")."""
        return self.api.names.get(method.lower(), method)

    @staticmethod
    def _as_api_error(name: str, exc: Exception) -> ApiError:
        if isinstance(exc, ApiError):
            return exc
        # A bug in the emulator must not look like a network failure.
        log.error("emulator failure in %s", name, exc_info=exc)
        return ApiError(500, f"Internal Server Error: emulator bug: {type(exc).__name__}: {exc}")

    async def call(self, bot_id: int, method: str, params: dict[str, Any], files: dict[str, Upload] | None = None,
                   *, is_stale: Callable[[], bool] | None = None, via: str = "http",
                   ) -> tuple[int, ApiError | None, Any]:
        """Run one Bot API call as ``/bot<token>/<method>`` would: faults, outages, handler, call log.

        Used by the HTTP route, the webhook pusher (answers to webhook POSTs) and the control API.
        Returns (HTTP status, error or None, result); the call is logged whatever its outcome, with ``via``:
        "http" for the bot's own request, "webhook_answer" for a call it put in a webhook answer.
        """
        key = method.lower()
        name = self._name(method)
        files = files or {}
        error: ApiError | None = None
        result: Any = None
        try:
            handler = self.api.handlers.get(key)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            raw_chat = params.get("chat_id")
            chat_id = int(raw_chat) if isinstance(raw_chat, (int, str)) and str(raw_chat).lstrip("-").isdigit() \
                else None
            fault = self.state.take_fault(key, chat_id)
            if fault is not None:
                if fault.delay > 0:
                    # "Hang": the call answers only after the delay (clients may time out first).
                    await asyncio.sleep(fault.delay)
                if (fault_error := fault.to_error()) is not None:
                    raise fault_error
            self.state.check_outage(key, chat_id)
            ctx = CallContext(bot_id=bot_id, method=key, params=params, files=files,
                              is_stale=is_stale or (lambda: False))
            result = await handler(ctx)
        except asyncio.CancelledError:
            # The client went away mid-call (e.g. a cancelled long poll); log and let aiohttp finish.
            self.state.log_call(name, params.get("chat_id"), 499, None, _loggable(params, files), bot_id, via)
            raise
        except Exception as exc:
            error = self._as_api_error(name, exc)
        status = error.error_code if error else 200
        self.state.log_call(name, params.get("chat_id"), status, error, _loggable(params, files), bot_id, via)
        return status, error, result

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if TOKEN_RE.match(request.match_info["token"]) is None:
            return _json_response(ApiError(401, "Unauthorized").to_json(), 401)
        stored = self.state.files.by_path.get(request.match_info["path"])
        if stored is None:
            return _json_response(ApiError(404, "Not Found").to_json(), 404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:8081" (valid after start())."""
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> EmulatorClient:
        """A control-API client bound to this emulator (closed by stop())."""
        if self._client is None:
            if self._runner is None:
                raise RuntimeError("start() the emulator before using its client")
            self._client = EmulatorClient(self.url)
        return self._client

    async def start(self) -> TelegramEmulator:
        """Bind and serve; fills in the real port when constructed with port=0."""
        if self._runner is not None:
            return self
        # handler_cancellation: a long poll whose client disconnected stops holding the poll slot.
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break
        if self.pusher is not None:
            await self.pusher.start()
        log.info("Telegram Bot API emulator listening on %s", self.url)
        return self

    async def stop(self) -> None:
        """Stop webhook delivery, close the control client and the server."""
        if self.pusher is not None:
            await self.pusher.stop()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            if self.state.poller is not None:
                self.state.poller.terminated.set()
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramEmulator:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
