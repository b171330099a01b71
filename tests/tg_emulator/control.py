"""The control API under ``/_ctl/``: set up the world, inject updates, read what the bot did.

Plain JSON in and out (no Telegram envelope).  Errors come back as ``{"error": "..."}`` with
HTTP 400 (bad input) or 404 (unknown chat/message/file).  ``GET /_ctl/`` lists every route.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from aiohttp import web

from .media import StoredFile
from .state import FILE_FIELDS, ChatState, EmulatorState, command_entities, now_ts
from .webhook import Caller, execute_webhook_answer


class ControlError(Exception):
    """A control-API failure with the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ControlError(400, f"{what} is not valid base64") from None


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(400, f"{what} must be an integer") from None


def _opt_int(value: Any, what: str) -> int | None:
    return None if value in (None, "") else _int(value, what)


class Control:
    """Control-API handlers bound to one EmulatorState."""

    def __init__(self, state: EmulatorState, call: Caller | None = None) -> None:
        """Bind to ``state``; ``call`` runs Bot API calls (needed by /_ctl/webhook_answer)."""
        self.state = state
        self.call = call

    # ------------------------------------------------------------------ routing

    def routes(self) -> list[web.RouteDef]:
        """All control routes, mounted by the server under /_ctl/."""
        r = [
            ("GET", "/_ctl/", self.index),
            ("POST", "/_ctl/reset", self.reset),
            ("GET", "/_ctl/state", self.summary),
            ("POST", "/_ctl/config", self.config),
            ("GET", "/_ctl/chats", self.list_chats),
            ("POST", "/_ctl/chats", self.create_chat),
            ("POST", "/_ctl/chats/{chat_id}/kick", self.kick_bot),
            ("POST", "/_ctl/chats/{chat_id}/migrate", self.migrate_chat),
            ("POST", "/_ctl/users/{user_id}/block", self.block_user),
            ("POST", "/_ctl/users/{user_id}/unblock", self.unblock_user),
            ("POST", "/_ctl/messages/private", self.private_message),
            ("POST", "/_ctl/messages/group", self.group_message),
            ("POST", "/_ctl/messages/edit", self.edited_message),
            ("GET", "/_ctl/messages", self.history),
            ("POST", "/_ctl/callback_query", self.callback_query),
            ("GET", "/_ctl/callback_answers", self.callback_answers),
            ("POST", "/_ctl/updates", self.raw_update),
            ("GET", "/_ctl/updates", self.pending_updates),
            ("GET", "/_ctl/sent", self.sent),
            ("GET", "/_ctl/sent/wait", self.wait_sent),
            ("POST", "/_ctl/files", self.upload_file),
            ("GET", "/_ctl/files/{file_id}", self.file_bytes),
            ("GET", "/_ctl/calls", self.calls),
            ("GET", "/_ctl/faults", self.list_faults),
            ("POST", "/_ctl/faults", self.add_fault),
            ("DELETE", "/_ctl/faults", self.clear_faults),
            ("DELETE", "/_ctl/faults/{fault_id}", self.remove_fault),
            ("POST", "/_ctl/outage", self.outage),
            ("POST", "/_ctl/webhook_answer", self.webhook_answer),
            ("GET", "/_ctl/rate_limits", self.get_rate_limits),
            ("POST", "/_ctl/rate_limits", self.set_rate_limits),
        ]
        return [web.route(method, path, self._wrap(handler)) for method, path, handler in r]

    @staticmethod
    def _wrap(handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                result = await handler(request)
            except ControlError as exc:
                return web.json_response({"error": exc.message}, status=exc.status)
            except (ValueError, KeyError, TypeError) as exc:
                return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))

        return wrapped

    @staticmethod
    async def _payload(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        """JSON body, or multipart with a "payload" JSON field plus file parts."""
        if request.content_type == "multipart/form-data":
            form = await request.post()
            files: dict[str, bytes] = {}
            payload: dict[str, Any] = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                elif key == "payload":
                    payload.update(json.loads(str(value)))
                else:
                    payload[key] = value
            return payload, files
        if not request.can_read_body:
            return {}, {}
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ControlError(400, "body must be JSON") from None
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object")
        return body, {}

    # ------------------------------------------------------------------ general

    async def index(self, request: web.Request) -> Any:
        """List the control routes."""
        return {"routes": sorted(f"{r.method} {r.resource.canonical}" for r in request.app.router.routes()
                                 if r.resource is not None and r.resource.canonical.startswith("/_ctl"))}

    async def reset(self, request: web.Request) -> Any:
        """Forget all state."""
        self.state.reset()
        return {"ok": True}

    async def summary(self, request: web.Request) -> Any:
        """A snapshot of the emulator's state for debugging and dashboards."""
        s = self.state
        return {
            "chats": [c.to_api() | {"bot_kicked": c.bot_kicked, "bot_status": c.bot_status,
                                    "migrated_to": c.migrated_to} for c in s.chats.values()],
            "users": list(s.users.values()),
            "blocked": sorted(s.blocked),
            "outages": sorted(s.outages),
            "pending_updates": len(s.updates),
            "next_update_id": s.next_update_id,
            "sent_seq": s.sent_seq,
            "calls": s.call_counters(),
            "faults": [f.to_json() for f in s.faults],
            "rate_limits": s.limiter.config.to_json(),
            "webhook": s.webhook,
            "commands": [{"key": json.loads(k), "commands": v} for k, v in s.commands.items()],
            "config": {"strict_html": s.strict_html, "conflict_mode": s.conflict_mode,
                       "bot_first_name": s.bot_first_name, "bot_username": s.bot_username},
        }

    async def config(self, request: web.Request) -> Any:
        """Change emulator behaviour: strict_html, conflict_mode, bot_first_name, bot_username."""
        body, _ = await self._payload(request)
        s = self.state
        if "strict_html" in body:
            s.strict_html = bool(body["strict_html"])
        if "conflict_mode" in body:
            if body["conflict_mode"] not in ("reject_new", "terminate_old"):
                raise ControlError(400, "conflict_mode must be reject_new or terminate_old")
            s.conflict_mode = body["conflict_mode"]
        for key in ("bot_first_name", "bot_username"):
            if key in body:
                setattr(s, key, body[key])
        return (await self.summary(request))["config"]

    # ------------------------------------------------------------------ chats and users

    async def list_chats(self, request: web.Request) -> Any:
        """All chats the emulator knows."""
        return [c.to_api() for c in self.state.chats.values()]

    async def create_chat(self, request: web.Request) -> Any:
        """Create a group/supergroup/channel: {id, type, title, username?, is_forum?, bot_status?}."""
        body, _ = await self._payload(request)
        chat = self.state.create_chat(_int(body.get("id"), "id"), str(body.get("type", "supergroup")),
                                      body.get("title"), body.get("username"), bool(body.get("is_forum")),
                                      str(body.get("bot_status") or "member"))
        return chat.to_api()

    async def kick_bot(self, request: web.Request) -> Any:
        """Mark the bot as removed from a group ({kicked: bool}); sends, edits, getChat then fail with 403."""
        body, _ = await self._payload(request)
        chat = self._chat(request.match_info["chat_id"])
        chat.bot_kicked = bool(body.get("kicked", True))
        return chat.to_api() | {"bot_kicked": chat.bot_kicked}

    async def migrate_chat(self, request: web.Request) -> Any:
        """Upgrade a group to a supergroup: {to_chat_id, user?} -> {chat, update_ids, messages}.

        The supergroup gets the group's messages (same ids); the two service updates Telegram sends are
        queued; every Bot API call naming the group then answers 400 with ``migrate_to_chat_id``.
        """
        body, _ = await self._payload(request)
        old = self._chat(request.match_info["chat_id"])
        to_chat_id = _int(body.get("to_chat_id"), "to_chat_id")
        user = body.get("user")
        if user is not None and (not isinstance(user, dict) or "id" not in user):
            raise ControlError(400, "user must be an object with an id")
        before = self.state.next_update_id
        to_message, from_message = self.state.migrate_chat(old.id, to_chat_id, user)
        return {"chat": self.state.chats[to_chat_id].to_api(),
                "update_ids": list(range(before, self.state.next_update_id)),
                "messages": [to_message, from_message]}

    async def block_user(self, request: web.Request) -> Any:
        """The user blocks the bot: sends to their private chat fail with 403."""
        return await self._set_blocked(request, True)

    async def unblock_user(self, request: web.Request) -> Any:
        """The user unblocks the bot."""
        return await self._set_blocked(request, False)

    async def _set_blocked(self, request: web.Request, blocked: bool) -> Any:
        body, _ = await self._payload(request)
        user_id = _int(request.match_info["user_id"], "user_id")
        (self.state.blocked.add if blocked else self.state.blocked.discard)(user_id)
        update = None
        chat = self.state.chats.get(user_id)
        if body.get("notify") and chat is not None:
            # What Telegram sends: a my_chat_member update with the bot kicked / back as member.
            bot = self.state.bot_user(self.state.last_bot_id or 1)
            user = self.state.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
            old, new = ("member", "kicked") if blocked else ("kicked", "member")
            new_member: dict[str, Any] = {"status": new, "user": bot}
            if new == "kicked":
                new_member["until_date"] = 0
            old_member: dict[str, Any] = {"status": old, "user": bot}
            if old == "kicked":
                old_member["until_date"] = 0
            update = self.state.add_update("my_chat_member", {
                "chat": chat.to_api(), "from": user, "date": now_ts(),
                "old_chat_member": old_member, "new_chat_member": new_member,
            })
        return {"user_id": user_id, "blocked": blocked, "update": update}

    def _chat(self, chat_ref: Any) -> ChatState:
        chat = self.state.lookup_chat(chat_ref)
        if chat is None:
            raise ControlError(404, f"chat {chat_ref} not found (create it first)")
        return chat

    # ------------------------------------------------------------------ incoming messages

    def _content(self, body: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        """Build message content from a control payload (text/photo/caption/location/venue/file/extra)."""
        store = self.state.files
        content: dict[str, Any] = {}
        if body.get("text") is not None:
            text = str(body["text"])
            content["text"] = text
            entities = body.get("entities") or command_entities(text)
            if entities:
                content["entities"] = entities
        photo: bytes | None = files.get("photo")
        if body.get("photo_base64"):
            photo = _b64(body["photo_base64"], "photo_base64")
        if photo is not None:
            content["photo"] = store.make_photo(photo)
        elif body.get("photo_file_id"):
            sizes = store.photo_sets.get(str(body["photo_file_id"]))
            if sizes is None:
                raise ControlError(404, "photo_file_id is not a known photo")
            content["photo"] = copy.deepcopy(sizes)
        if body.get("file"):
            spec = body["file"]
            kind = str(spec.get("kind", "document"))
            if kind not in FILE_FIELDS:
                raise ControlError(400, f"file kind must be one of {', '.join(FILE_FIELDS)}")
            data = files.get("file") if "file" in files else _b64(spec.get("data_base64", ""), "file.data_base64")
            content[kind] = store.make_media(kind, data or b"", spec.get("file_name"), spec.get("mime_type"))
        if body.get("caption") is not None:
            content["caption"] = str(body["caption"])
            if body.get("caption_entities"):
                content["caption_entities"] = body["caption_entities"]
        if body.get("media_group_id") is not None:
            content["media_group_id"] = str(body["media_group_id"])
        if body.get("location") is not None:
            loc = body["location"]
            content["location"] = {"latitude": float(loc["latitude"]), "longitude": float(loc["longitude"])}
        if body.get("venue") is not None:
            venue = dict(body["venue"])
            venue.setdefault("title", "Venue")
            venue.setdefault("address", "")
            content["venue"] = venue
            content.setdefault("location", venue["location"])
        extra = body.get("extra") or {}
        if not isinstance(extra, dict):
            raise ControlError(400, "extra must be an object")
        for kind in FILE_FIELDS:
            if isinstance(extra.get(kind), dict):
                store.register_object(kind, extra[kind])
        content.update(copy.deepcopy(extra))
        if "text" in content and ({"photo", "caption"} | set(FILE_FIELDS)) & content.keys():
            raise ControlError(400, "a message has either text or media with a caption, not both")
        if not content:
            raise ControlError(400, "the message needs some content (text, photo, location, file, extra ...)")
        return content

    def _reply_target(self, chat: ChatState, body: dict[str, Any]) -> dict[str, Any] | None:
        reply_id = _opt_int(body.get("reply_to_message_id"), "reply_to_message_id")
        if reply_id is None:
            return None
        target = self.state.find_message(chat.id, reply_id)
        if target is None:
            raise ControlError(404, f"message {reply_id} not found in chat {chat.id}")
        return target

    def _user(self, body: dict[str, Any]) -> dict[str, Any]:
        user = body.get("user")
        if not isinstance(user, dict) or "id" not in user:
            raise ControlError(400, "user must be an object with an id")
        return self.state.ensure_user(user)

    async def private_message(self, request: web.Request) -> Any:
        """A user writes to the bot in private: {user, text|photo_base64|..., ...} -> Message."""
        body, files = await self._payload(request)
        user = self._user(body)
        content = self._content(body, files)
        chat = self.state.ensure_private_chat(user)
        message = self.state.store_message(chat, user, content, self._reply_target(chat, body))
        update = self.state.add_update("message", message)
        return {"update_id": update["update_id"], "message": message}

    async def group_message(self, request: web.Request) -> Any:
        """A user writes in a group: {chat_id, user, text|photo..., reply_to_message_id?} -> Message."""
        body, files = await self._payload(request)
        chat = self._chat(body.get("chat_id"))
        if chat.type == "private":
            raise ControlError(400, "chat_id is a private chat; use /_ctl/messages/private")
        if chat.migrated_to is not None:
            raise ControlError(400, f"chat {chat.id} was upgraded to the supergroup {chat.migrated_to}; write there")
        user = self._user(body)
        content = self._content(body, files)
        message = self.state.store_message(chat, user, content, self._reply_target(chat, body),
                                           _opt_int(body.get("message_thread_id"), "message_thread_id"))
        kind = "channel_post" if chat.type == "channel" else "message"
        update = self.state.add_update(kind, message)
        return {"update_id": update["update_id"], "message": message}

    async def edited_message(self, request: web.Request) -> Any:
        """A user edits an earlier message: {chat_id, message_id, text|caption} -> edited Message."""
        body, _ = await self._payload(request)
        chat = self._chat(body.get("chat_id"))
        message_id = _int(body.get("message_id"), "message_id")
        message = self.state.find_message(chat.id, message_id)
        if message is None:
            raise ControlError(404, f"message {message_id} not found in chat {chat.id}")
        if "text" in message:
            if body.get("text") is None:
                raise ControlError(400, "this message has text; pass new text")
            message["text"] = str(body["text"])
            message.pop("entities", None)
            if entities := (body.get("entities") or command_entities(message["text"])):
                message["entities"] = entities
        else:
            if body.get("caption") is None:
                raise ControlError(400, "this message has no text; pass a new caption")
            message["caption"] = str(body["caption"])
            message.pop("caption_entities", None)
        message["edit_date"] = now_ts()
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        update = self.state.add_update(kind, copy.deepcopy(message))
        return {"update_id": update["update_id"], "message": message}

    async def history(self, request: web.Request) -> Any:
        """Every stored message of a chat (both directions), oldest first."""
        chat = self._chat(request.query.get("chat_id"))
        return self.state.chat_history(chat.id)

    # ------------------------------------------------------------------ callbacks and raw updates

    async def callback_query(self, request: web.Request) -> Any:
        """A user presses an inline button: {user, chat_id, message_id, data} -> callback id."""
        body, _ = await self._payload(request)
        user = self._user(body)
        chat = self._chat(body.get("chat_id"))
        message_id = _int(body.get("message_id"), "message_id")
        message = self.state.find_message(chat.id, message_id)
        if message is None:
            raise ControlError(404, f"message {message_id} not found in chat {chat.id}")
        data = body.get("data")
        query = self.state.new_callback(user, message, None if data is None else str(data),
                                        body.get("chat_instance"))
        update = self.state.add_update("callback_query", query)
        return {"callback_query_id": query["id"], "update_id": update["update_id"], "callback_query": query}

    async def callback_answers(self, request: web.Request) -> Any:
        """Recorded callback queries and the bot's answers (?callback_query_id= for one)."""
        wanted = request.query.get("callback_query_id")
        if wanted is not None:
            record = self.state.callbacks.get(wanted)
            if record is None:
                raise ControlError(404, f"unknown callback_query_id {wanted}")
            return record
        return list(self.state.callbacks.values())

    async def raw_update(self, request: web.Request) -> Any:
        """Queue any update dict (update_id assigned by the emulator)."""
        body, _ = await self._payload(request)
        if len([k for k in body if k != "update_id"]) != 1:
            raise ControlError(400, "an update has exactly one field besides update_id")
        return {"update": self.state.add_raw_update(body)}

    async def pending_updates(self, request: web.Request) -> Any:
        """Updates not yet confirmed by the bot."""
        return list(self.state.updates)

    # ------------------------------------------------------------------ what the bot did

    @staticmethod
    def _methods(request: web.Request) -> list[str] | None:
        raw = request.query.get("method")
        return [m for m in raw.split(",") if m] if raw else None

    async def sent(self, request: web.Request) -> Any:
        """Outgoing log: ?chat_id=&since=&method=a,b -> {items, last_seq}."""
        q = request.query
        items = self.state.sent_items(_opt_int(q.get("chat_id"), "chat_id"), _opt_int(q.get("since"), "since") or 0,
                                      self._methods(request))
        return {"items": items, "last_seq": self.state.sent_seq}

    async def wait_sent(self, request: web.Request) -> Any:
        """Long-poll: return once ``count`` matching items newer than ``since`` exist or ``timeout`` passes."""
        q = request.query
        count = _opt_int(q.get("count"), "count") or 1
        timeout = min(float(q.get("timeout", "10")), 300.0)
        items = await self.state.wait_sent(_opt_int(q.get("chat_id"), "chat_id"), count,
                                           _opt_int(q.get("since"), "since") or 0, timeout, self._methods(request))
        return {"items": items, "last_seq": self.state.sent_seq, "complete": len(items) >= count}

    async def upload_file(self, request: web.Request) -> Any:
        """Store bytes as a file ({kind, data_base64, file_name?, mime_type?} or multipart "file")."""
        body, files = await self._payload(request)
        data = files.get("file") if "file" in files else _b64(body.get("data_base64", ""), "data_base64")
        kind = str(body.get("kind", "document"))
        if kind == "photo":
            return {"photo": self.state.files.make_photo(data or b"")}
        if kind not in FILE_FIELDS:
            raise ControlError(400, f"kind must be photo or one of {', '.join(FILE_FIELDS)}")
        return {kind: self.state.files.make_media(kind, data or b"", body.get("file_name"), body.get("mime_type"))}

    async def file_bytes(self, request: web.Request) -> Any:
        """Raw bytes of a file by file_id."""
        stored: StoredFile | None = self.state.files.get(request.match_info["file_id"])
        if stored is None:
            raise ControlError(404, "unknown file_id")
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def calls(self, request: web.Request) -> Any:
        """Bot API call log: ?method=&since=&chat_id= -> {items, counters}."""
        q = request.query
        since = _opt_int(q.get("since"), "since") or 0
        chat_id = _opt_int(q.get("chat_id"), "chat_id")
        methods = {m.lower() for m in self._methods(request) or []}
        items = [c for c in self.state.calls
                 if c["seq"] > since and (not methods or c["method"].lower() in methods)
                 and (chat_id is None or c["chat_id"] == chat_id)]
        return {"items": items, "counters": self.state.call_counters()}

    # ------------------------------------------------------------------ faults and limits

    async def list_faults(self, request: web.Request) -> Any:
        """Active fault rules."""
        return [f.to_json() for f in self.state.faults]

    async def add_fault(self, request: web.Request) -> Any:
        """{method, count?, error_code?, description?, retry_after?, chat_id?, delay?} -> rule."""
        body, _ = await self._payload(request)
        rule = self.state.add_fault(
            str(body.get("method", "*")),
            count=None if body.get("count", 1) is None else _int(body.get("count", 1), "count"),
            error_code=_opt_int(body.get("error_code"), "error_code"),
            description=body.get("description"),
            retry_after=_opt_int(body.get("retry_after"), "retry_after"),
            chat_id=_opt_int(body.get("chat_id"), "chat_id"),
            delay=float(body.get("delay") or 0.0),
        )
        return rule.to_json()

    async def clear_faults(self, request: web.Request) -> Any:
        """Remove every fault rule."""
        self.state.faults.clear()
        return {"ok": True}

    async def remove_fault(self, request: web.Request) -> Any:
        """Remove one fault rule by id."""
        fault_id = _int(request.match_info["fault_id"], "fault_id")
        self.state.faults = [f for f in self.state.faults if f.id != fault_id]
        return {"ok": True}

    async def outage(self, request: web.Request) -> Any:
        """{chat_id, enabled}: while enabled every send/edit/delete to the chat answers 500."""
        body, _ = await self._payload(request)
        chat_id = _int(body.get("chat_id"), "chat_id")
        if body.get("enabled", True):
            self.state.outages.add(chat_id)
        else:
            self.state.outages.discard(chat_id)
        return {"outages": sorted(self.state.outages)}

    async def get_rate_limits(self, request: web.Request) -> Any:
        """Current flood-limit settings plus how many calls they refused."""
        return self.state.limiter.config.to_json() | {"refused": self.state.limiter.refused}

    async def set_rate_limits(self, request: web.Request) -> Any:
        """{enabled?, group_per_minute?, private_per_second?, global_per_second?, factor?}."""
        body, _ = await self._payload(request)
        self.state.limiter.configure(**body)
        return self.state.limiter.config.to_json() | {"refused": self.state.limiter.refused}

    # ------------------------------------------------------------------ webhook answers

    async def webhook_answer(self, request: web.Request) -> Any:
        """Execute a webhook answer forwarded verbatim (body + Content-Type) -> {method, status, result|error}.

        The bot id is ``?bot_id=`` or the one that called setWebhook.
        """
        if self.call is None:
            raise ControlError(400, "this emulator cannot execute calls")
        bot_id = _opt_int(request.query.get("bot_id"), "bot_id") or self.state.webhook.get("bot_id")
        if bot_id is None:
            raise ControlError(400, "no bot_id: pass ?bot_id= or let the bot call setWebhook first")
        body = await request.read()
        try:
            return await execute_webhook_answer(self.call, int(bot_id), body, request.headers.get("Content-Type", ""))
        except ValueError as exc:
            raise ControlError(400, f"bad webhook answer: {exc}") from None
