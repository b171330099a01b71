"""Async Python client for the emulator's control API (``/_ctl/``): one method per call."""

from __future__ import annotations

import base64
from types import TracebackType
from typing import Any

import aiohttp

User = dict[str, Any]


class EmulatorControlError(RuntimeError):
    """The control API refused a request (bad input, unknown chat/message/file)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class EmulatorClient:
    """Drives a TelegramEmulator from tests or the training sandbox.

    ``base_url`` is the emulator's root URL (the same one given to aiogram's TelegramAPIServer).
    """

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        """Bind to an emulator; a private aiohttp session is created lazily unless one is given."""
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> EmulatorClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the private HTTP session (a session passed in by the caller is left open)."""
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                    http_timeout: float = 30.0) -> Any:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        async with self._http().request(method, f"{self.base_url}/_ctl/{path}", json=json, params=query,
                                        timeout=aiohttp.ClientTimeout(total=http_timeout)) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise EmulatorControlError(resp.status, body.get("error", str(body)) if isinstance(body, dict)
                                           else str(body))
            return body

    # ------------------------------------------------------------------ world setup

    async def reset(self) -> None:
        """Forget all chats, users, messages, updates, files, logs, faults and limit traffic."""
        await self._call("POST", "reset")

    async def state(self) -> dict[str, Any]:
        """A snapshot of the emulator (chats, users, counters, faults, limits, config)."""
        result: dict[str, Any] = await self._call("GET", "state")
        return result

    async def configure(self, *, strict_html: bool | None = None, conflict_mode: str | None = None,
                        bot_first_name: str | None = None, bot_username: str | None = None) -> dict[str, Any]:
        """Change behaviour; conflict_mode is "reject_new" (default) or "terminate_old" (Telegram-like)."""
        result: dict[str, Any] = await self._call("POST", "config", json=_drop_none({
            "strict_html": strict_html, "conflict_mode": conflict_mode,
            "bot_first_name": bot_first_name, "bot_username": bot_username}))
        return result

    async def create_chat(self, chat_id: int, title: str | None = None, chat_type: str = "supergroup",
                          username: str | None = None, is_forum: bool = False,
                          bot_status: str = "member") -> dict[str, Any]:
        """Create a group/supergroup/channel (negative id, e.g. -1001234567890) the bot is in.

        ``bot_status`` ("member" or "administrator") is what getChatMember reports for the bot there.
        """
        result: dict[str, Any] = await self._call("POST", "chats", json=_drop_none({
            "id": chat_id, "type": chat_type, "title": title, "username": username, "is_forum": is_forum,
            "bot_status": bot_status}))
        return result

    async def migrate_chat(self, chat_id: int, to_chat_id: int, user: User | None = None) -> dict[str, Any]:
        """Upgrade the group ``chat_id`` to the supergroup ``to_chat_id`` (-100...), as Telegram does.

        The supergroup gets the group's title and stored messages (same message ids); the two service
        updates are queued (``migrate_to_chat_id`` in the group, ``migrate_from_chat_id`` in the
        supergroup, from ``user``); every call naming the group then answers 400 with migrate_to_chat_id.
        Returns {chat, update_ids, messages}.
        """
        result: dict[str, Any] = await self._call("POST", f"chats/{chat_id}/migrate", json=_drop_none({
            "to_chat_id": to_chat_id, "user": user}))
        return result

    async def chats(self) -> list[dict[str, Any]]:
        """All chats the emulator knows."""
        result: list[dict[str, Any]] = await self._call("GET", "chats")
        return result

    async def kick_bot(self, chat_id: int, kicked: bool = True) -> None:
        """Remove the bot from a group (sends, edits, getChat then fail with 403), or put it back."""
        await self._call("POST", f"chats/{chat_id}/kick", json={"kicked": kicked})

    async def block_user(self, user_id: int, notify: bool = False) -> None:
        """The user blocks the bot; ``notify`` also queues the my_chat_member update Telegram sends."""
        await self._call("POST", f"users/{user_id}/block", json={"notify": notify})

    async def unblock_user(self, user_id: int, notify: bool = False) -> None:
        """The user unblocks the bot."""
        await self._call("POST", f"users/{user_id}/unblock", json={"notify": notify})

    # ------------------------------------------------------------------ injecting updates

    @staticmethod
    def _message_body(text: str | None, photo: bytes | None, photo_file_id: str | None, caption: str | None,
                      media_group_id: str | None, location: tuple[float, float] | dict[str, float] | None,
                      venue: dict[str, Any] | None, file: tuple[str, bytes] | None, file_name: str | None,
                      mime_type: str | None, extra: dict[str, Any] | None,
                      reply_to_message_id: int | None) -> dict[str, Any]:
        if isinstance(location, tuple):
            location = {"latitude": location[0], "longitude": location[1]}
        body: dict[str, Any] = _drop_none({
            "text": text, "photo_file_id": photo_file_id, "caption": caption, "media_group_id": media_group_id,
            "location": location, "venue": venue, "extra": extra, "reply_to_message_id": reply_to_message_id,
        })
        if photo is not None:
            body["photo_base64"] = base64.b64encode(photo).decode()
        if file is not None:
            body["file"] = _drop_none({"kind": file[0], "data_base64": base64.b64encode(file[1]).decode(),
                                       "file_name": file_name, "mime_type": mime_type})
        return body

    async def inject_private_message(
        self, user: User, text: str | None = None, *, photo: bytes | None = None, photo_file_id: str | None = None,
        caption: str | None = None, media_group_id: str | None = None,
        location: tuple[float, float] | dict[str, float] | None = None, venue: dict[str, Any] | None = None,
        file: tuple[str, bytes] | None = None, file_name: str | None = None, mime_type: str | None = None,
        extra: dict[str, Any] | None = None, reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A user writes to the bot privately; returns the created Message.

        ``user`` is {id, first_name, last_name?, username?, language_code?}; ``file`` is
        (kind, bytes) with kind document/voice/video/audio/animation/sticker/video_note;
        ``extra`` is merged into the message (contact, poll, sticker ... of any plausible shape).
        """
        body = self._message_body(text, photo, photo_file_id, caption, media_group_id, location, venue, file,
                                  file_name, mime_type, extra, reply_to_message_id)
        result = await self._call("POST", "messages/private", json={"user": user, **body})
        message: dict[str, Any] = result["message"]
        return message

    async def inject_group_message(
        self, chat_id: int, user: User, text: str | None = None, *, photo: bytes | None = None,
        photo_file_id: str | None = None, caption: str | None = None, media_group_id: str | None = None,
        location: tuple[float, float] | dict[str, float] | None = None, file: tuple[str, bytes] | None = None,
        file_name: str | None = None, extra: dict[str, Any] | None = None, reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A user writes in a group; ``reply_to_message_id`` becomes the full reply_to_message."""
        body = self._message_body(text, photo, photo_file_id, caption, media_group_id, location, None, file,
                                  file_name, None, extra, reply_to_message_id)
        result = await self._call("POST", "messages/group", json=_drop_none({
            "chat_id": chat_id, "user": user, "message_thread_id": message_thread_id, **body}))
        message: dict[str, Any] = result["message"]
        return message

    async def inject_edited_message(self, chat_id: int, message_id: int, text: str | None = None,
                                    caption: str | None = None) -> dict[str, Any]:
        """The author edits an existing message (new text, or new caption for media); returns it."""
        result = await self._call("POST", "messages/edit", json=_drop_none({
            "chat_id": chat_id, "message_id": message_id, "text": text, "caption": caption}))
        message: dict[str, Any] = result["message"]
        return message

    async def inject_callback_query(self, user: User, chat_id: int, message_id: int, data: str | None) -> str:
        """The user presses an inline button under a stored message; returns the callback_query id."""
        result = await self._call("POST", "callback_query", json={
            "user": user, "chat_id": chat_id, "message_id": message_id, "data": data})
        callback_id: str = result["callback_query_id"]
        return callback_id

    async def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any raw update dict; returns it with the assigned update_id."""
        result: dict[str, Any] = (await self._call("POST", "updates", json=update))["update"]
        return result

    async def upload_file(self, data: bytes, kind: str = "document", file_name: str | None = None,
                          mime_type: str | None = None) -> dict[str, Any]:
        """Store bytes as a file and get the Telegram object (PhotoSize list for kind="photo")."""
        result = await self._call("POST", "files", json=_drop_none({
            "kind": kind, "data_base64": base64.b64encode(data).decode(), "file_name": file_name,
            "mime_type": mime_type}))
        obj: dict[str, Any] = result
        return obj

    async def pending_updates(self) -> list[dict[str, Any]]:
        """Updates the bot has not confirmed yet."""
        result: list[dict[str, Any]] = await self._call("GET", "updates")
        return result

    # ------------------------------------------------------------------ reading what the bot did

    async def sent(self, chat_id: int | None = None, since: int = 0,
                   method: str | list[str] | None = None) -> list[dict[str, Any]]:
        """Outgoing log items (seq, chat_id, message_id, method, text, caption, ..., message)."""
        methods = ",".join(method) if isinstance(method, list) else method
        result = await self._call("GET", "sent", params={"chat_id": chat_id, "since": since, "method": methods})
        items: list[dict[str, Any]] = result["items"]
        return items

    async def last_seq(self) -> int:
        """The newest outgoing-log seq; pass it as ``since`` to wait only for what comes next."""
        result = await self._call("GET", "sent", params={"since": 1 << 62})
        return int(result["last_seq"])

    # The timeout is enforced server-side by the long-poll, hence the parameter ASYNC109 dislikes.
    async def wait_sent(
        self, chat_id: int | None = None, count: int = 1, since: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109
        method: str | list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` items with seq > ``since`` (for ``chat_id``) exist; return them.

        Uses the server-side long-poll; raises TimeoutError listing what did arrive.
        """
        methods = ",".join(method) if isinstance(method, list) else method
        result = await self._call("GET", "sent/wait", http_timeout=timeout + 10, params={
            "chat_id": chat_id, "count": count, "since": since, "timeout": timeout, "method": methods})
        items: list[dict[str, Any]] = result["items"]
        if len(items) < count:
            got = [(i["method"], i["chat_id"], i.get("plain_text")) for i in items]
            raise TimeoutError(f"expected {count} sent item(s) for chat {chat_id} since seq {since} "
                               f"within {timeout}s, got {len(items)}: {got}")
        return items

    async def history(self, chat_id: int) -> list[dict[str, Any]]:
        """All stored messages of a chat in both directions, oldest first."""
        result: list[dict[str, Any]] = await self._call("GET", "messages", params={"chat_id": chat_id})
        return result

    async def file_bytes(self, file_id: str) -> bytes:
        """The exact bytes stored for a file_id."""
        async with self._http().get(f"{self.base_url}/_ctl/files/{file_id}") as resp:
            if resp.status >= 400:
                raise EmulatorControlError(resp.status, await resp.text())
            return await resp.read()

    async def calls(self, method: str | list[str] | None = None, since: int = 0,
                    chat_id: int | None = None) -> list[dict[str, Any]]:
        """Bot API call log items (seq, method, chat_id, status, ok, error_code, description, params)."""
        methods = ",".join(method) if isinstance(method, list) else method
        result = await self._call("GET", "calls", params={"method": methods, "since": since, "chat_id": chat_id})
        items: list[dict[str, Any]] = result["items"]
        return items

    async def counters(self) -> dict[str, Any]:
        """{total, by_status: {"200": n, "429": m}, by_method: {...}, rate_limited}."""
        result: dict[str, Any] = (await self._call("GET", "calls", params={"since": 1 << 62}))["counters"]
        return result

    async def callback_answer(self, callback_query_id: str) -> dict[str, Any]:
        """The record of one callback query: {answered, answer: {text, show_alert, url, ...}, ...}."""
        result: dict[str, Any] = await self._call("GET", "callback_answers",
                                                  params={"callback_query_id": callback_query_id})
        return result

    async def callback_answers(self) -> list[dict[str, Any]]:
        """All callback queries injected so far with their answers."""
        result: list[dict[str, Any]] = await self._call("GET", "callback_answers")
        return result

    async def execute_webhook_answer(self, body: bytes, content_type: str,
                                     bot_id: int | None = None) -> dict[str, Any]:
        """Have the emulator execute a bot's webhook answer as Telegram would.

        ``body`` and ``content_type`` are the bot's HTTP answer to a webhook POST, verbatim; the bot id
        defaults to the one that called setWebhook.  Returns {method, status, result | error}
        (method None when the answer held no call).
        """
        query = {"bot_id": str(bot_id)} if bot_id is not None else {}
        async with self._http().post(f"{self.base_url}/_ctl/webhook_answer", data=body, params=query,
                                     headers={"Content-Type": content_type},
                                     timeout=aiohttp.ClientTimeout(total=30.0)) as resp:
            result = await resp.json(content_type=None)
            if resp.status >= 400:
                raise EmulatorControlError(resp.status, result.get("error", str(result)) if isinstance(result, dict)
                                           else str(result))
            answer: dict[str, Any] = result
            return answer

    # ------------------------------------------------------------------ faults and limits

    async def fail(self, method: str, error_code: int = 500, *, count: int | None = 1,
                   description: str | None = None, retry_after: int | None = None, chat_id: int | None = None,
                   delay: float = 0.0) -> dict[str, Any]:
        """The next ``count`` calls of ``method`` ("*" = any; None count = until cleared) fail."""
        result: dict[str, Any] = await self._call("POST", "faults", json={
            "method": method, "error_code": error_code, "count": count, "description": description,
            "retry_after": retry_after, "chat_id": chat_id, "delay": delay})
        return result

    async def hang(self, method: str, seconds: float, *, count: int | None = 1,
                   chat_id: int | None = None) -> dict[str, Any]:
        """The next ``count`` calls of ``method`` answer (normally) only after ``seconds``."""
        result: dict[str, Any] = await self._call("POST", "faults", json={
            "method": method, "count": count, "chat_id": chat_id, "delay": seconds})
        return result

    async def faults(self) -> list[dict[str, Any]]:
        """Active fault rules."""
        result: list[dict[str, Any]] = await self._call("GET", "faults")
        return result

    async def clear_faults(self) -> None:
        """Remove every fault rule."""
        await self._call("DELETE", "faults")

    async def set_outage(self, chat_id: int, enabled: bool = True) -> None:
        """While enabled, every send/edit/delete to ``chat_id`` answers 500 Internal Server Error."""
        await self._call("POST", "outage", json={"chat_id": chat_id, "enabled": enabled})

    async def set_rate_limits(self, enabled: bool = True, *, group_per_minute: int | None = None,
                              private_per_second: int | None = None, global_per_second: int | None = None,
                              factor: float | None = None) -> dict[str, Any]:
        """Turn Telegram-like flood limits on/off (defaults 20/min per group, 1/s per private, 30/s)."""
        result: dict[str, Any] = await self._call("POST", "rate_limits", json=_drop_none({
            "enabled": enabled, "group_per_minute": group_per_minute, "private_per_second": private_per_second,
            "global_per_second": global_per_second, "factor": factor}))
        return result
