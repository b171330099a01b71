"""The aiohttp application: VK API (`/method/`), Bots Long Poll (`/lp/`), uploads and files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import payloads
from .control import ControlApi
from .state import EmulatorState, VkApiError
from .vk_methods import Params, VkMethods

if TYPE_CHECKING:
    from .client import VkEmulatorClient

DEFAULT_TOKEN = "vk-emulator-token"
DEFAULT_GROUP_ID = 1
DEFAULT_GROUP_NAME = "Priemnaya test community"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # VK's photo size limit


def _json(data: Any, status: int = 200) -> web.Response:
    # ensure_ascii=False keeps Cyrillic readable in logs, as VK does.
    return web.Response(
        text=json.dumps(data, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


async def _merged_params(request: web.Request) -> dict[str, str]:
    """Query string plus urlencoded/multipart form fields (form wins), strings only."""
    params: dict[str, str] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


class VkEmulator:
    """A VK API + Bots Long Poll emulator served over HTTP, with a control API under /_ctl/."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        group_id: int = DEFAULT_GROUP_ID,
        token: str = DEFAULT_TOKEN,
        group_name: str = DEFAULT_GROUP_NAME,
        screen_name: str | None = None,
        public_url: str | None = None,
    ) -> None:
        """Configure (nothing listens until `start()`); port 0 picks a free port."""
        self.host = host
        self.port = port
        self.public_url = public_url
        self.state = EmulatorState(group_id=group_id, token=token, group_name=group_name, screen_name=screen_name)
        self.methods = VkMethods(self.state)
        self.control = ControlApi(self.state)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._client: VkEmulatorClient | None = None
        self._url = ""

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (the VK API URL is `url + "/method/"`)."""
        if not self._url:
            msg = "VkEmulator is not started"
            raise RuntimeError(msg)
        return self._url

    @property
    def api_url(self) -> str:
        """Value for vkbottle's `API.API_URL`."""
        return f"{self.url}/method/"

    @property
    def token(self) -> str:
        """One valid community token."""
        return sorted(self.state.tokens)[0]

    @property
    def group_id(self) -> int:
        """The emulated community id."""
        return self.state.group_id

    @property
    def client(self) -> VkEmulatorClient:
        """A control client bound to this emulator (closed by `stop()`)."""
        if self._client is None:
            from .client import VkEmulatorClient

            self._client = VkEmulatorClient(self.url)
        return self._client

    def build_app(self) -> web.Application:
        """The aiohttp application (usable with aiohttp's test utilities too)."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.add_routes(
            [
                web.route("*", "/method/{name}", self.handle_method),
                web.route("*", "/lp/{group_id}", self.handle_longpoll),
                web.post("/upload/photo", self.handle_upload),
                web.get("/files/{name}", self.handle_file),
                *self.control.routes(),
            ]
        )
        return app

    async def start(self) -> VkEmulator:
        """Bind and serve; afterwards `.url` is known."""
        self._closing.clear()
        # handler_cancellation: a poller that disconnects stops counting as "waiting".
        self._runner = web.AppRunner(self.build_app(), shutdown_timeout=2.0, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.port = bound_port
        url_host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in url_host and not url_host.startswith("["):
            url_host = f"[{url_host}]"
        self._url = (self.public_url or f"http://{url_host}:{bound_port}").rstrip("/")
        self.state.base_url = self._url
        if self.state.changed.closed:
            self.state.changed = type(self.state.changed)()
        return self

    async def stop(self) -> None:
        """Release waiters (long polls, hangs, wait_sent) and shut the server down."""
        self._closing.set()
        self.state.changed.close()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> VkEmulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the emulator stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # ------------------------------------------------------------------ VK API

    async def handle_method(self, request: web.Request) -> web.StreamResponse:
        """`/method/<name>`: token, version, rate limit, injected faults, then the handler."""
        state = self.state
        name = request.match_info["name"]
        raw = await _merged_params(request)
        token = raw.get("access_token") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        params = Params(raw)
        peers = params.peers()
        call: dict[str, Any] = {
            "seq": state.next_seq(),
            "time": time.time(),
            "method": name,
            "params": {k: v for k, v in raw.items() if k != "access_token"},
            "peer_ids": sorted(peers),
            "error_code": None,
            "http_status": 200,
        }
        state.calls.append(call)
        state.counters["calls"] += 1
        by_method = state.counters["calls_by_method"]
        by_method[name] = by_method.get(name, 0) + 1
        try:
            if not token or token not in state.tokens:
                raise VkApiError(5)
            if not raw.get("v"):
                raise VkApiError(8)
            if not state.check_rate_limit(token):
                raise VkApiError(6)
            fault = state.take_fault(name, peers)
            if fault is not None:
                call["fault"] = fault.to_dict()
                if fault.hang_seconds:
                    await self._sleep(fault.hang_seconds)
                if fault.http_status:
                    call["http_status"] = fault.http_status
                    return web.Response(status=fault.http_status, text=f"{fault.http_status} emulated failure")
                if fault.error_code is not None:
                    raise VkApiError(fault.error_code, fault.error_msg, **fault.error_extra)
            result = self.methods.call(name, params)
        except VkApiError as error:
            call["error_code"] = error.code
            call["error_msg"] = error.message
            state.count_error(error.code)
            return _json({"error": self._error_body(name, raw, error)})
        return _json({"response": result})

    @staticmethod
    def _error_body(method: str, raw: dict[str, str], error: VkApiError) -> dict[str, Any]:
        request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
        request_params += [{"key": k, "value": v} for k, v in raw.items() if k != "access_token"]
        body: dict[str, Any] = {
            "error_code": error.code,
            "error_msg": error.message,
            "request_params": request_params,
        }
        if error.code == 14:
            # vkbottle's CaptchaError requires these two fields.
            body.setdefault("captcha_sid", secrets.token_hex(6))
            body.setdefault("captcha_img", "https://api.vk.ru/captcha.php?sid=emulated")
        body.update(error.extra)
        return body

    # ------------------------------------------------------------------ long poll

    def _lp_failure(self, code: int) -> web.Response:
        state = self.state
        failed = state.counters["longpoll_failed"]
        failed[str(code)] = failed.get(str(code), 0) + 1
        if code == 1:
            return _json({"failed": 1, "ts": str(state.lp.next_ts)})
        if code in (2, 3):
            state.lp.rotate_key()
            return _json({"failed": code})
        return _json({"failed": code, "min_version": 0, "max_version": 3})

    async def handle_longpoll(self, request: web.Request) -> web.StreamResponse:
        """Bots Long Poll `a_check`: returns as soon as updates exist, else after `wait` seconds."""
        state, lp = self.state, self.state.lp
        lp.requests += 1
        state.counters["longpoll_requests"] += 1
        raw = await _merged_params(request)
        fault = state.take_fault("longpoll", set())
        if fault is not None:
            if fault.hang_seconds:
                await self._sleep(fault.hang_seconds)
            if fault.http_status:
                return web.Response(status=fault.http_status, text=f"{fault.http_status} emulated failure")
        if lp.forced_failures:
            return self._lp_failure(lp.forced_failures.popleft())
        if (
            request.match_info["group_id"] != str(state.group_id)
            or raw.get("act") != "a_check"
            or raw.get("key") != lp.key
        ):
            return self._lp_failure(2)
        try:
            ts = int(raw.get("ts", ""))
        except ValueError:
            return self._lp_failure(1)
        if ts < lp.first_kept_ts:
            return self._lp_failure(1)
        try:
            wait = max(0.0, min(float(raw.get("wait") or 25), 90.0))
        except ValueError:
            wait = 25.0
        deadline = time.monotonic() + wait
        lp.waiting += 1
        state.changed.notify()  # lets wait_longpoll() observers see the new waiter
        try:
            while True:
                if lp.forced_failures:
                    return self._lp_failure(lp.forced_failures.popleft())
                if raw.get("key") != lp.key:
                    return self._lp_failure(2)
                updates = lp.updates_since(ts)
                remaining = deadline - time.monotonic()
                if updates or remaining <= 0 or state.changed.closed:
                    break
                await state.changed.wait(remaining)
        finally:
            lp.waiting -= 1
        return _json({"ts": str(max(ts, lp.next_ts)), "updates": updates})

    # ------------------------------------------------------------------ uploads & files

    async def handle_upload(self, request: web.Request) -> web.Response:
        """Photo upload server: multipart field `photo` (or `file`, `file1`)."""
        state = self.state
        upload_id = request.query.get("upload_id", "")
        server_info = state.upload_servers.get(upload_id)
        if server_info is None:
            return _json({"error": "ERR_UPLOAD_INVALID: upload_id is invalid or expired"})
        form = await request.post()
        field = next((form[name] for name in ("photo", "file", "file1") if name in form), None)
        server = 800_000 + len(state.uploads)
        photo_field = "[]"
        data = getattr(field, "file", None)
        if data is not None:
            content = data.read()
            if content and (not state.strict_images or payloads.image_size(content) is not None):
                ref = secrets.token_hex(16)
                filename = getattr(field, "filename", None)
                state.uploads[ref] = {
                    "data": content,
                    "content_type": payloads.image_content_type(content, filename),
                    "filename": filename,
                    "peer_id": server_info.get("peer_id"),
                    "photo": None,
                }
                state.counters["uploads"] += 1
                photo_field = json.dumps(
                    [
                        {
                            "markers_restarted": True,
                            "photo": ref,
                            "sizes": [],
                            "latitude": 0,
                            "longitude": 0,
                            "kid": secrets.token_hex(16),
                        }
                    ]
                )
        return _json({"server": server, "photo": photo_field, "hash": state.upload_hash(server, photo_field)})

    async def handle_file(self, request: web.Request) -> web.Response:
        """Stored bytes, exactly as received (any `?size=` is the same file)."""
        name = request.match_info["name"]
        stored = self.state.files.get(name)
        if stored is None:
            if name.endswith(".png"):
                # Avatars/sticker images referenced by sample objects: a tiny real PNG.
                return web.Response(body=payloads.make_png(), content_type="image/png")
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.content_type)
