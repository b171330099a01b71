"""The control API (`/_ctl/...`): tests inject events and read what the bot did."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import time
from typing import Any

from aiohttp import web

from . import payloads
from .state import DEFAULT_LP_HISTORY, EmulatorState, Fault


def _since(request: web.Request) -> int:
    return int(request.query.get("since") or 0)


def _peer(request: web.Request) -> int | None:
    value = request.query.get("peer_id")
    return int(value) if value not in (None, "") else None


def _filter(items: list[dict[str, Any]], peer_id: int | None, since: int) -> list[dict[str, Any]]:
    """Items after seq `since`, optionally only for one peer."""
    return [i for i in items if i["seq"] > since and (peer_id is None or i.get("peer_id") == peer_id)]


def _decode_bytes(value: Any) -> bytes:
    """Photo bytes arrive base64-encoded in JSON."""
    if not isinstance(value, str):
        msg = "photo data must be a base64 string"
        raise web.HTTPBadRequest(text=json.dumps({"error": msg}), content_type="application/json")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise web.HTTPBadRequest(
            text='{"error": "photo data is not valid base64"}', content_type="application/json"
        ) from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}', content_type="application/json")
    return body


class ControlApi:
    """Route handlers bound to one EmulatorState."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[web.AbstractRouteDef]:
        """All control routes under /_ctl/."""
        return [
            web.get("/_ctl/state", self.get_state),
            web.post("/_ctl/reset", self.reset),
            web.post("/_ctl/community", self.set_community),
            web.post("/_ctl/settings", self.set_settings),
            web.post("/_ctl/users", self.add_user),
            web.post("/_ctl/permissions", self.set_permission),
            web.post("/_ctl/message_new", self.inject_message),
            web.post("/_ctl/message_event", self.inject_message_event),
            web.post("/_ctl/update", self.inject_update),
            web.get("/_ctl/event_answers", self.event_answers),
            web.get("/_ctl/sent", self.sent),
            web.get("/_ctl/sent/wait", self.wait_sent),
            web.get("/_ctl/edits", self.edits),
            web.get("/_ctl/messages", self.conversation),
            web.get("/_ctl/photo", self.photo_bytes),
            web.get("/_ctl/calls", self.calls),
            web.get("/_ctl/counters", self.counters),
            web.get("/_ctl/activities", self.activities),
            web.get("/_ctl/faults", self.list_faults),
            web.post("/_ctl/faults", self.add_fault),
            web.delete("/_ctl/faults", self.clear_faults),
            web.post("/_ctl/longpoll/fail", self.force_longpoll_failure),
            web.get("/_ctl/longpoll/wait", self.wait_longpoll),
        ]

    # ------------------------------------------------------------------ setup

    def _state_view(self) -> dict[str, Any]:
        state = self.state
        return {
            "url": state.base_url,
            "api_url": f"{state.base_url}/method/",
            "group_id": state.group_id,
            "group_name": state.group_name,
            "screen_name": state.screen_name,
            "tokens": sorted(state.tokens),
            "seq": state.seq,
            "longpoll": {
                **state.longpoll_server(),
                "waiting": state.lp.waiting,
                "requests": state.lp.requests,
            },
            "lp_settings": state.lp_settings,
            "settings": {
                "rate_limit_per_second": state.rate_limit_per_second,
                "default_allowed": state.default_allowed,
                "strict_images": state.strict_images,
                "lp_history": state.lp.max_history,
            },
        }

    async def get_state(self, request: web.Request) -> web.Response:
        """Community, tokens, long poll server and settings."""
        return web.json_response(self._state_view())

    async def reset(self, request: web.Request) -> web.Response:
        """Forget everything but the community, tokens and settings."""
        self.state.reset()
        return web.json_response({"ok": True})

    async def set_community(self, request: web.Request) -> web.Response:
        """Change group id / name / screen_name; replace (`tokens`) or extend (`add_token`) tokens."""
        body = await _json_body(request)
        state = self.state
        if "group_id" in body:
            state.group_id = int(body["group_id"])
            state.screen_name = body.get("screen_name") or f"club{state.group_id}"
        if body.get("name"):
            state.group_name = str(body["name"])
        if body.get("screen_name"):
            state.screen_name = str(body["screen_name"])
        if body.get("tokens"):
            state.tokens = {str(t) for t in body["tokens"]}
        if body.get("add_token"):
            state.tokens.add(str(body["add_token"]))
        return web.json_response(self._state_view())

    async def set_settings(self, request: web.Request) -> web.Response:
        """rate_limit_per_second (null/0 = off), default_allowed, strict_images, lp_history."""
        body = await _json_body(request)
        state = self.state
        if "rate_limit_per_second" in body:
            state.rate_limit_per_second = int(body["rate_limit_per_second"] or 0) or None
            state.rate_windows.clear()
        if "default_allowed" in body:
            state.default_allowed = bool(body["default_allowed"])
        if "strict_images" in body:
            state.strict_images = bool(body["strict_images"])
        if "lp_history" in body:
            state.lp.max_history = int(body["lp_history"] or DEFAULT_LP_HISTORY)
        return web.json_response(self._state_view())

    async def add_user(self, request: web.Request) -> web.Response:
        """Make a user known (users.get); optional `allowed` sets message permission."""
        body = await _json_body(request)
        allowed = body.pop("allowed", None)
        user = self.state.add_user(body)
        if allowed is not None:
            self.state.permissions[user["id"]] = bool(allowed)
        return web.json_response(user)

    async def set_permission(self, request: web.Request) -> web.Response:
        """Allow/deny messages from the community to a user (denied -> error 901)."""
        body = await _json_body(request)
        user_id = int(body["user_id"])
        self.state.permissions[user_id] = bool(body.get("allowed", True))
        return web.json_response({"user_id": user_id, "allowed": self.state.permissions[user_id]})

    # ------------------------------------------------------------------ injection

    def _user_from(self, body: dict[str, Any]) -> dict[str, Any]:
        user = body.get("user") or {"id": body.get("user_id") or body.get("from_id")}
        if not isinstance(user, dict) or user.get("id") is None:
            raise web.HTTPBadRequest(text='{"error": "user or user_id is required"}', content_type="application/json")
        return self.state.add_user(user)

    def _reply_message(self, body: dict[str, Any], peer_id: int) -> dict[str, Any] | None:
        """`reply_message` for `reply_to`: the stored message with that id in this conversation, as VK embeds it."""
        reply_to = body.get("reply_to")
        if reply_to is None:
            return None
        if body.get("reply_message") is not None:
            raise web.HTTPBadRequest(
                text='{"error": "give reply_to or reply_message, not both"}', content_type="application/json"
            )
        try:
            message_id = int(reply_to)
        except (TypeError, ValueError):
            raise web.HTTPBadRequest(
                text='{"error": "reply_to must be a message id"}', content_type="application/json"
            ) from None
        original = self.state.messages.get(message_id)
        if original is None or original["peer_id"] != peer_id:
            msg = f"no message {message_id} in the conversation with peer {peer_id}"
            raise web.HTTPBadRequest(text=json.dumps({"error": msg}), content_type="application/json")
        return payloads.reply_message(original)

    async def inject_message(self, request: web.Request) -> web.Response:
        """Inject message_new from a user: text, photos (base64), geo, payload, attachments, client_info, reply_to."""
        body = await _json_body(request)
        state = self.state
        user = self._user_from(body)
        user_id = user["id"]
        peer_id = int(body.get("peer_id") or user_id)
        reply_message = self._reply_message(body, peer_id)
        if peer_id >= payloads.CHAT_PEER_OFFSET:
            state.chat_members.setdefault(peer_id, set()).add(user_id)
        attachments: list[dict[str, Any]] = []
        for item in body.get("photos") or []:
            spec = item if isinstance(item, dict) else {"data": item}
            photo = state.store_photo(
                _decode_bytes(spec.get("data")),
                user_id,
                width=spec.get("width"),
                height=spec.get("height"),
                content_type=spec.get("content_type"),
            )
            attachments.append({"type": "photo", "photo": photo.to_vk()})
        for item in body.get("attachments") or []:
            if isinstance(item, str):
                # A kind name ("sticker", "doc", ...) expands to a plausible sample object.
                state.next_photo_id += 1
                attachments.append(payloads.sample_attachment(item, user_id, state.next_photo_id, state.base_url))
            else:
                attachments.append(item)
        extra: dict[str, Any] = dict(body.get("extra") or {})
        geo = body.get("geo")
        if geo:
            extra["geo"] = payloads.geo_object(geo["lat"], geo["lon"], geo.get("place"))
        payload = body.get("payload")
        if payload is not None:
            extra["payload"] = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        for key in ("reply_message", "fwd_messages"):
            if body.get(key) is not None:
                extra[key] = body[key]
        if reply_message is not None:
            extra["reply_message"] = reply_message
        message = state.new_message(
            peer_id=peer_id,
            from_id=user_id,
            text=str(body.get("text") or ""),
            out=False,
            attachments=attachments,
            extra=extra,
        )
        client_info = payloads.default_client_info(**(body.get("client_info") or {}))
        update = state.event_envelope("message_new", {"message": message, "client_info": client_info})
        ts = state.push_update(update)
        return web.json_response({"message": message, "update": update, "ts": ts})

    async def inject_message_event(self, request: web.Request) -> web.Response:
        """Inject a callback-button press (message_event)."""
        body = await _json_body(request)
        state = self.state
        user = self._user_from(body)
        peer_id = int(body.get("peer_id") or user["id"])
        cmid = body.get("conversation_message_id")
        if cmid is None:
            # Default to the community's last message in this dialog (the one carrying the keyboard).
            outgoing = [m for m in state.conversations.get(peer_id, []) if m["out"]]
            cmid = outgoing[-1]["conversation_message_id"] if outgoing else None
        payload = body.get("payload")
        if isinstance(payload, str):
            payload = json.loads(payload)
        event_id = body.get("event_id") or secrets.token_hex(6)
        obj: dict[str, Any] = {
            "user_id": user["id"],
            "peer_id": peer_id,
            "event_id": event_id,
            "payload": payload,
            "conversation_message_id": cmid,
        }
        state.message_events[event_id] = {**obj, "answers": []}
        update = state.event_envelope("message_event", obj)
        ts = state.push_update(update)
        return web.json_response({"event_id": event_id, "update": update, "ts": ts})

    async def inject_update(self, request: web.Request) -> web.Response:
        """Inject a raw update; `{"type", "object"}` gets group_id/event_id/v filled in."""
        body = await _json_body(request)
        update = body.get("update", body)
        if "type" not in update or "object" not in update:
            raise web.HTTPBadRequest(text='{"error": "update needs type and object"}', content_type="application/json")
        full = {**self.state.event_envelope(update["type"], update["object"]), **update}
        ts = self.state.push_update(full)
        return web.json_response({"ts": ts, "update": full})

    # ------------------------------------------------------------------ reading

    async def sent(self, request: web.Request) -> web.Response:
        """Messages the bot sent (deduplicated sends are not repeated)."""
        return web.json_response({"items": _filter(self.state.sent, _peer(request), _since(request))})

    async def wait_sent(self, request: web.Request) -> web.Response:
        """Wait until `count` messages (after `since`, for `peer_id`) were sent; 408 on timeout."""
        peer_id, since = _peer(request), _since(request)
        count = int(request.query.get("count") or 1)
        deadline = time.monotonic() + float(request.query.get("timeout") or 10)
        while True:
            items = _filter(self.state.sent, peer_id, since)
            remaining = deadline - time.monotonic()
            if len(items) >= count or remaining <= 0 or self.state.changed.closed:
                break
            await self.state.changed.wait(remaining)
        status = 200 if len(items) >= count else 408
        return web.json_response({"items": items}, status=status)

    async def edits(self, request: web.Request) -> web.Response:
        """messages.edit calls that succeeded."""
        return web.json_response({"items": _filter(self.state.edits, _peer(request), _since(request))})

    async def event_answers(self, request: web.Request) -> web.Response:
        """sendMessageEventAnswer calls, optionally for one event_id."""
        event_id = request.query.get("event_id")
        items = [
            a
            for a in _filter(self.state.event_answers, _peer(request), _since(request))
            if event_id in (None, "", a["event_id"])
        ]
        return web.json_response({"items": items})

    async def conversation(self, request: web.Request) -> web.Response:
        """Every message (in and out) of a peer, oldest first."""
        peer_id = _peer(request)
        if peer_id is None:
            raise web.HTTPBadRequest(text='{"error": "peer_id is required"}', content_type="application/json")
        return web.json_response({"items": self.state.conversations.get(peer_id, [])})

    async def photo_bytes(self, request: web.Request) -> web.Response:
        """Exact stored bytes of `photo<owner>_<id>[_key]`."""
        photo = self.state.find_photo(request.query.get("attachment", ""))
        if photo is None:
            raise web.HTTPNotFound(text='{"error": "no such photo"}', content_type="application/json")
        return web.Response(body=photo.file.data, content_type=photo.file.content_type)

    async def calls(self, request: web.Request) -> web.Response:
        """API call log: seq, method, params, error_code, http_status."""
        method = request.query.get("method")
        items = [c for c in self.state.calls if c["seq"] > _since(request) and method in (None, "", c["method"])]
        return web.json_response({"items": items})

    async def counters(self, request: web.Request) -> web.Response:
        """Aggregate counters."""
        return web.json_response(
            {
                **self.state.counters,
                "longpoll_waiting": self.state.lp.waiting,
                "faults_pending": len(self.state.faults),
            }
        )

    async def activities(self, request: web.Request) -> web.Response:
        """markAsRead / setActivity calls."""
        return web.json_response({"items": self.state.activities})

    # ------------------------------------------------------------------ faults

    async def list_faults(self, request: web.Request) -> web.Response:
        """Pending injected faults."""
        return web.json_response({"items": [f.to_dict() for f in self.state.faults]})

    async def add_fault(self, request: web.Request) -> web.Response:
        """Fail the next `count` calls of `method` ("*" = any, "longpoll" = the LP endpoint)."""
        body = await _json_body(request)
        fault = Fault(
            method=str(body.get("method") or "*"),
            count=int(body.get("count") or 1),
            peer_id=int(body["peer_id"]) if body.get("peer_id") is not None else None,
            error_code=int(body["error_code"]) if body.get("error_code") is not None else None,
            error_msg=body.get("error_msg"),
            error_extra=dict(body.get("error_extra") or {}),
            http_status=int(body["http_status"]) if body.get("http_status") is not None else None,
            hang_seconds=float(body["hang_seconds"]) if body.get("hang_seconds") is not None else None,
        )
        if fault.error_code is None and fault.http_status is None and fault.hang_seconds is None:
            raise web.HTTPBadRequest(
                text='{"error": "need error_code, http_status or hang_seconds"}',
                content_type="application/json",
            )
        self.state.faults.append(fault)
        return web.json_response(fault.to_dict())

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Drop all pending faults."""
        self.state.faults.clear()
        return web.json_response({"ok": True})

    async def force_longpoll_failure(self, request: web.Request) -> web.Response:
        """Answer the next long poll request with {"failed": 1|2|3}."""
        body = await _json_body(request)
        failed = int(body.get("failed") or 2)
        if failed not in (1, 2, 3, 4):
            raise web.HTTPBadRequest(text='{"error": "failed must be 1, 2, 3 or 4"}', content_type="application/json")
        self.state.lp.forced_failures.append(failed)
        # Wake a long poll that is already waiting so the failure is delivered now.
        self.state.changed.notify()
        return web.json_response({"queued": list(self.state.lp.forced_failures)})

    async def wait_longpoll(self, request: web.Request) -> web.Response:
        """Wait until a bot is blocked in a long poll request (so injected events reach it)."""
        deadline = time.monotonic() + float(request.query.get("timeout") or 10)
        min_requests = int(request.query.get("min_requests") or 0)
        lp = self.state.lp
        while not (lp.waiting > 0 and lp.requests >= min_requests):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.state.changed.closed:
                return web.json_response({"waiting": lp.waiting, "requests": lp.requests}, status=408)
            await self.state.changed.wait(min(remaining, 0.5))
        await asyncio.sleep(0)
        return web.json_response({"waiting": lp.waiting, "requests": lp.requests})
