"""Async Python client for the emulator's control API (one method per `/_ctl/` call)."""

from __future__ import annotations

import base64
import json
from types import TracebackType
from typing import Any

import aiohttp


class VkEmulatorError(RuntimeError):
    """A control API call failed (bad request, timeout waiting, ...)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"control API answered {status}: {body!r}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class VkEmulatorClient:
    """Drives a running VkEmulator: inject events, read what the bot sent, inject faults."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        """`base_url` is the emulator's base URL (its `.url`, or the line printed by `--print-url`)."""
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> VkEmulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Created lazily so the client can be constructed outside a running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        http_timeout: float = 30.0,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        async with self._http().request(
            method,
            f"{self.base_url}/_ctl/{path}",
            json=body,
            params=query,
            timeout=aiohttp.ClientTimeout(total=http_timeout),
        ) as response:
            raw = await response.read()
            if response.status not in ok:
                try:
                    detail: Any = json.loads(raw)
                except ValueError:
                    detail = raw.decode(errors="replace")
                raise VkEmulatorError(response.status, detail)
            if response.content_type == "application/json":
                return json.loads(raw)
            return raw

    # ------------------------------------------------------------------ setup

    async def state(self) -> dict[str, Any]:
        """Community, tokens, long poll server info and settings."""
        return await self._request("GET", "state")  # type: ignore[no-any-return]

    async def reset(self) -> None:
        """Forget messages, users, photos, events, faults and logs (keeps community/tokens)."""
        await self._request("POST", "reset")

    async def set_community(
        self,
        group_id: int | None = None,
        name: str | None = None,
        screen_name: str | None = None,
        tokens: list[str] | None = None,
        add_token: str | None = None,
    ) -> dict[str, Any]:
        """Change the community and replace (`tokens`) or extend (`add_token`) valid tokens."""
        body = {
            "group_id": group_id,
            "name": name,
            "screen_name": screen_name,
            "tokens": tokens,
            "add_token": add_token,
        }
        return await self._request("POST", "community", {k: v for k, v in body.items() if v is not None})  # type: ignore[no-any-return]

    async def set_settings(
        self,
        rate_limit_per_second: int | None = None,
        default_allowed: bool | None = None,
        strict_images: bool | None = None,
        lp_history: int | None = None,
    ) -> dict[str, Any]:
        """Rate limit (0 = off), default message permission, image validation, LP history size."""
        body = {
            "rate_limit_per_second": rate_limit_per_second,
            "default_allowed": default_allowed,
            "strict_images": strict_images,
            "lp_history": lp_history,
        }
        return await self._request("POST", "settings", {k: v for k, v in body.items() if v is not None})  # type: ignore[no-any-return]

    async def set_rate_limit(self, per_second: int | None) -> dict[str, Any]:
        """Per-token calls/second (VK: 20 for a community); None or 0 turns it off."""
        return await self._request("POST", "settings", {"rate_limit_per_second": per_second or 0})  # type: ignore[no-any-return]

    async def add_user(
        self,
        user_id: int,
        first_name: str = "Ivan",
        last_name: str = "Petrov",
        allowed: bool | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Make a user known to users.get; `allowed` sets permission to message them."""
        body = {"id": user_id, "first_name": first_name, "last_name": last_name, "allowed": allowed, **fields}
        return await self._request("POST", "users", body)  # type: ignore[no-any-return]

    async def set_messages_allowed(self, user_id: int, allowed: bool = True) -> None:
        """Allow/deny messages from the community to `user_id` (denied -> error 901)."""
        await self._request("POST", "permissions", {"user_id": user_id, "allowed": allowed})

    # ------------------------------------------------------------------ injection

    async def send_message(
        self,
        user: dict[str, Any] | int,
        text: str = "",
        *,
        peer_id: int | None = None,
        photos: list[bytes] | None = None,
        geo: tuple[float, float] | dict[str, Any] | None = None,
        payload: str | dict[str, Any] | None = None,
        attachments: list[dict[str, Any] | str] | None = None,
        client_info: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """Inject message_new from a user; returns {"message", "update", "ts"}.

        `user` is an id or {"id", "first_name", "last_name"}; `geo` is (lat, lon) or
        {"lat", "lon", "place"}; `attachments` items are raw attachment dicts or kind names
        ("sticker", "audio", "audio_message", "video", "doc", "wall", "poll", "link", "graffiti");
        `client_info` overrides e.g. {"lang_id": 3, "button_actions": ["text"]}; `reply_to` is the
        message_id (as messages.send returned it) of a message in this conversation the user answers:
        the update then carries it as `reply_message` (VkEmulatorError 400 when there is no such message).
        """
        user_obj = user if isinstance(user, dict) else {"id": user}
        geo_obj = {"lat": geo[0], "lon": geo[1]} if isinstance(geo, tuple) else geo
        body = {
            "user": user_obj,
            "text": text,
            "peer_id": peer_id,
            "photos": [_b64(p) for p in photos or []],
            "geo": geo_obj,
            "payload": payload,
            "attachments": attachments,
            "client_info": client_info,
            "extra": extra,
            "reply_to": reply_to,
        }
        return await self._request("POST", "message_new", body)  # type: ignore[no-any-return]

    async def press_callback(
        self,
        user: dict[str, Any] | int,
        payload: dict[str, Any] | None,
        *,
        peer_id: int | None = None,
        conversation_message_id: int | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """Inject message_event (callback button press); returns {"event_id", "update", "ts"}.

        Without `conversation_message_id` the community's last message to the peer is used.
        """
        body = {
            "user": user if isinstance(user, dict) else {"id": user},
            "payload": payload,
            "peer_id": peer_id,
            "conversation_message_id": conversation_message_id,
            "event_id": event_id,
        }
        return await self._request("POST", "message_event", {k: v for k, v in body.items() if v is not None})  # type: ignore[no-any-return]

    async def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Inject a raw Bots Long Poll update (group_id/event_id/v are filled if absent)."""
        return await self._request("POST", "update", {"update": update})  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ reading

    async def sent(self, peer_id: int | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Messages the bot sent, oldest first (each has seq, peer_id, message_id, text, keyboard, ...)."""
        data = await self._request("GET", "sent", params={"peer_id": peer_id, "since": since})
        return data["items"]  # type: ignore[no-any-return]

    async def wait_sent(
        self,
        peer_id: int | None = None,
        count: int = 1,
        since: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109 - the wait happens server-side
    ) -> list[dict[str, Any]]:
        """Wait until at least `count` messages were sent after `since`; raises VkEmulatorError(408)."""
        data = await self._request(
            "GET",
            "sent/wait",
            params={"peer_id": peer_id, "count": count, "since": since, "timeout": timeout},
            http_timeout=timeout + 10,
        )
        return data["items"]  # type: ignore[no-any-return]

    async def last_seq(self) -> int:
        """The current sequence number (use as `since` to read only what happens next)."""
        return int((await self.state())["seq"])

    async def edits(self, peer_id: int | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Successful messages.edit calls."""
        data = await self._request("GET", "edits", params={"peer_id": peer_id, "since": since})
        return data["items"]  # type: ignore[no-any-return]

    async def event_answers(self, event_id: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """sendMessageEventAnswer calls (event_data parsed)."""
        data = await self._request("GET", "event_answers", params={"event_id": event_id, "since": since})
        return data["items"]  # type: ignore[no-any-return]

    async def conversation(self, peer_id: int) -> list[dict[str, Any]]:
        """All messages of a peer (user's and the community's)."""
        data = await self._request("GET", "messages", params={"peer_id": peer_id})
        return data["items"]  # type: ignore[no-any-return]

    async def get_photo_bytes(self, attachment: str) -> bytes:
        """Exact bytes of a stored photo, e.g. get_photo_bytes("photo-1_457239017_key")."""
        return await self._request("GET", "photo", params={"attachment": attachment})  # type: ignore[no-any-return]

    async def calls(self, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """API call log: seq, method, params, peer_ids, error_code, http_status."""
        data = await self._request("GET", "calls", params={"method": method, "since": since})
        return data["items"]  # type: ignore[no-any-return]

    async def counters(self) -> dict[str, Any]:
        """calls, calls_by_method, errors_by_code, sent, deduplicated, rate_limited, longpoll_*..."""
        return await self._request("GET", "counters")  # type: ignore[no-any-return]

    async def activities(self) -> list[dict[str, Any]]:
        """messages.markAsRead / messages.setActivity calls."""
        data = await self._request("GET", "activities")
        return data["items"]  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ faults

    async def inject_error(
        self,
        method: str,
        error_code: int,
        *,
        count: int = 1,
        peer_id: int | None = None,
        error_msg: str | None = None,
        error_extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Next `count` calls of `method` ("*" = any) fail with VK error `error_code` (6, 9, 10, 901...)."""
        body = {
            "method": method,
            "error_code": error_code,
            "count": count,
            "peer_id": peer_id,
            "error_msg": error_msg,
            "error_extra": error_extra,
        }
        return await self._request("POST", "faults", body)  # type: ignore[no-any-return]

    async def inject_http_error(
        self, method: str, status: int = 500, *, count: int = 1, peer_id: int | None = None
    ) -> dict[str, Any]:
        """Next calls of `method` ("longpoll" = the LP endpoint) answer HTTP `status` with a text body."""
        body = {"method": method, "http_status": status, "count": count, "peer_id": peer_id}
        return await self._request("POST", "faults", body)  # type: ignore[no-any-return]

    async def inject_hang(
        self,
        method: str,
        seconds: float,
        *,
        count: int = 1,
        peer_id: int | None = None,
        error_code: int | None = None,
    ) -> dict[str, Any]:
        """Next calls of `method` stall `seconds` before answering (normally, or with `error_code`)."""
        body = {
            "method": method,
            "hang_seconds": seconds,
            "count": count,
            "peer_id": peer_id,
            "error_code": error_code,
        }
        return await self._request("POST", "faults", body)  # type: ignore[no-any-return]

    async def faults(self) -> list[dict[str, Any]]:
        """Pending injected faults."""
        data = await self._request("GET", "faults")
        return data["items"]  # type: ignore[no-any-return]

    async def clear_faults(self) -> None:
        """Drop pending faults."""
        await self._request("DELETE", "faults")

    async def force_longpoll_failure(self, failed: int = 2) -> None:
        """The next long poll answer is {"failed": 1|2|3} (2 and 3 also rotate the key)."""
        await self._request("POST", "longpoll/fail", {"failed": failed})

    async def wait_polling(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - the wait happens server-side
        min_requests: int = 0,
    ) -> dict[str, Any]:
        """Wait until a bot is blocked in a long poll request (inject events after this)."""
        return await self._request(  # type: ignore[no-any-return]
            "GET",
            "longpoll/wait",
            params={"timeout": timeout, "min_requests": min_requests},
            http_timeout=timeout + 10,
        )
