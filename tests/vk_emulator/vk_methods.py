"""Handlers of the VK API methods a community bot uses (`/method/<name>`)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

from . import payloads
from .state import MAX_MESSAGE_LENGTH, EmulatorState, VkApiError, invalid_param

ATTACHMENT_RE = re.compile(
    r"^(photo|video|audio|doc|wall|market|poll|audio_message|graffiti|story|article|podcast|clip)"
    r"(-?\d+)_(\d+)(?:_([A-Za-z0-9]+))?$"
)
MAX_ATTACHMENTS = 10
KEYBOARD_LIMITS = {False: (10, 40), True: (6, 10)}  # inline -> (max rows, max buttons)
MAX_BUTTONS_PER_ROW = 5
MAX_LABEL_LENGTH = 40
MAX_BUTTON_PAYLOAD = 255
BUTTON_TYPES = {
    "text",
    "open_link",
    "location",
    "vkpay",
    "open_app",
    "callback",
    "intent_subscribe",
    "intent_unsubscribe",
    "open_photo",
}


class Params:
    """Request parameters (query + form, strings) with VK-style typed getters."""

    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = raw

    def get(self, name: str) -> str | None:
        """Raw string value or None (empty strings count as absent, as in VK)."""
        value = self.raw.get(name)
        return value if value not in (None, "") else None

    def get_int(self, name: str, required: bool = False) -> int | None:
        """Integer parameter; error 100 when malformed or required and missing."""
        value = self.get(name)
        if value is None:
            if required:
                raise invalid_param(f"{name} is undefined")
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid_param(f"{name} not integer") from None

    def get_ints(self, name: str) -> list[int]:
        """Comma separated integers."""
        value = self.get(name)
        if value is None:
            return []
        try:
            return [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise invalid_param(f"{name} should be a list of integers") from None

    def flag(self, name: str) -> bool:
        """VK boolean (1/0, true/false)."""
        return (self.get(name) or "0").lower() in ("1", "true")

    def peers(self) -> set[int]:
        """Every peer a call is addressed to (used to target injected faults)."""
        found: set[int] = set()
        for name in ("peer_id", "user_id"):
            value = self.get(name)
            if value and value.lstrip("-").isdigit():
                found.add(int(value))
        for name in ("peer_ids", "user_ids"):
            for part in (self.get(name) or "").split(","):
                if part.strip().lstrip("-").isdigit():
                    found.add(int(part))
        return found


Handler = Callable[[Params], Any]


class VkMethods:
    """Dispatch table from VK method name to a handler working on `EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.handlers: dict[str, Handler] = {
            "groups.getById": self.groups_get_by_id,
            "groups.getLongPollServer": self.groups_get_long_poll_server,
            "groups.setLongPollSettings": self.groups_set_long_poll_settings,
            "groups.getLongPollSettings": self.groups_get_long_poll_settings,
            "messages.send": self.messages_send,
            "messages.edit": self.messages_edit,
            "messages.sendMessageEventAnswer": self.messages_send_message_event_answer,
            "messages.getConversationMembers": self.messages_get_conversation_members,
            "messages.getByConversationMessageId": self.messages_get_by_cmid,
            "messages.getById": self.messages_get_by_id,
            "messages.markAsRead": self.messages_mark_as_read,
            "messages.setActivity": self.messages_set_activity,
            "users.get": self.users_get,
            "utils.getServerTime": self.utils_get_server_time,
            "photos.getMessagesUploadServer": self.photos_get_messages_upload_server,
            "photos.saveMessagesPhoto": self.photos_save_messages_photo,
        }

    def call(self, method: str, params: Params) -> Any:
        """Run a method; raises VkApiError for VK errors (error 3 for unknown methods)."""
        handler = self.handlers.get(method)
        if handler is None:
            raise VkApiError(3)
        return handler(params)

    # ------------------------------------------------------------------ groups

    def groups_get_by_id(self, params: Params) -> dict[str, Any]:
        """The community (5.199 shape: {"groups": [...], "profiles": []})."""
        wanted = params.get("group_id") or params.get("group_ids")
        if wanted:
            for part in wanted.split(","):
                if part.strip() not in (str(self.state.group_id), self.state.screen_name):
                    raise invalid_param("group_ids is invalid")
        return {"groups": [self.state.community()], "profiles": []}

    def _check_group(self, params: Params) -> None:
        group_id = params.get_int("group_id", required=True)
        if group_id != self.state.group_id:
            raise VkApiError(15, "Access denied: no access to this group")

    def groups_get_long_poll_server(self, params: Params) -> dict[str, str]:
        """{server, key, ts} of this emulator's Bots Long Poll endpoint."""
        self._check_group(params)
        return self.state.longpoll_server()

    def groups_set_long_poll_settings(self, params: Params) -> int:
        """Record the settings (e.g. message_reply=1 makes sends produce message_reply updates)."""
        self._check_group(params)
        self.state.lp_settings.update({k: v for k, v in params.raw.items() if k not in ("access_token", "v")})
        return 1

    def groups_get_long_poll_settings(self, params: Params) -> dict[str, Any]:
        """The recorded settings."""
        self._check_group(params)
        events = {
            k: v == "1" for k, v in self.state.lp_settings.items() if k not in ("group_id", "enabled", "api_version")
        }
        return {"is_enabled": True, "api_version": payloads.API_VERSION, "events": events}

    # ------------------------------------------------------------------ messages.send

    def messages_send(self, params: Params) -> int | list[dict[str, Any]]:
        """Send to peer_id/user_id (-> message id) or peer_ids/user_ids (-> list of items)."""
        state = self.state
        multi_param = "peer_ids" if params.get("peer_ids") else "user_ids" if params.get("user_ids") else None
        if multi_param:
            peers = params.get_ints(multi_param)
        else:
            single = params.get_int("peer_id")
            if single is None:
                single = params.get_int("user_id")
            if single is None and params.get_int("chat_id") is not None:
                single = payloads.CHAT_PEER_OFFSET + int(params.get_int("chat_id") or 0)
            peers = [single] if single is not None else []
        if not peers:
            raise invalid_param("you should specify peer_id, user_id, domain, chat_id or user_ids param")
        random_id = params.get_int("random_id")
        if random_id is None:
            raise invalid_param("random_id is a required parameter")
        text = params.raw.get("message") or ""
        attachment_raw = params.get("attachment") or ""
        if (
            not text.strip()
            and not attachment_raw
            and not params.get("sticker_id")
            and not (params.get("forward_messages") or params.get("forward"))
        ):
            raise invalid_param("message is empty or invalid")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise VkApiError(914)
        keyboard = self._parse_keyboard(params.get("keyboard"))
        attachments, photos = self._resolve_attachments(attachment_raw)

        results: list[dict[str, Any]] = []
        for peer_id in peers:
            if not state.messages_allowed(peer_id):
                if not multi_param:
                    raise VkApiError(901)
                # With peer_ids VK reports per-peer failures inside the items, not as an API error.
                results.append(
                    {
                        "peer_id": peer_id,
                        "error": {
                            "code": 901,
                            "description": "Can't send messages for users without permission",
                        },
                    }
                )
                continue
            results.append(self._deliver(peer_id, random_id, text, params, keyboard, attachments, photos))
        if multi_param:
            return [
                {k: v for k, v in item.items() if k in ("peer_id", "message_id", "conversation_message_id", "error")}
                for item in results
            ]
        return int(results[0]["message_id"])

    def _deliver(
        self,
        peer_id: int,
        random_id: int,
        text: str,
        params: Params,
        keyboard: dict[str, Any] | None,
        attachments: list[str],
        photos: list[dict[str, Any]],
    ) -> dict[str, Any]:
        state = self.state
        duplicate = state.dedupe_lookup(peer_id, random_id)
        if duplicate is not None:
            state.counters["deduplicated"] += 1
            return {"peer_id": peer_id, "message_id": duplicate[0], "conversation_message_id": duplicate[1]}
        attachment_objects = []
        for ref in attachments:
            photo = state.find_photo(ref) if ref.startswith("photo") else None
            if photo is not None:
                attachment_objects.append({"type": "photo", "photo": photo.to_vk()})
        extra: dict[str, Any] = {}
        if params.get("payload"):
            extra["payload"] = params.get("payload")
        if keyboard is not None:
            extra["keyboard"] = keyboard
        message = state.new_message(
            peer_id=peer_id,
            from_id=-state.group_id,
            text=text,
            out=True,
            attachments=attachment_objects,
            random_id=random_id,
            extra=extra,
        )
        state.remember_random_id(peer_id, random_id, message["id"], message["conversation_message_id"])
        record = {
            "seq": state.next_seq(),
            "peer_id": peer_id,
            "message_id": message["id"],
            "conversation_message_id": message["conversation_message_id"],
            "text": text,
            "random_id": random_id,
            "keyboard": keyboard,
            "keyboard_raw": params.get("keyboard"),
            "attachments": attachments,
            "photos": photos,
            "payload": params.get("payload"),
            "dont_parse_links": params.flag("dont_parse_links"),
            "disable_mentions": params.flag("disable_mentions"),
            "reply_to": params.get_int("reply_to"),
            "forward": _maybe_json(params.get("forward")),
            "lat": params.get("lat"),
            "long": params.get("long"),
            "date": message["date"],
            "params": {k: v for k, v in params.raw.items() if k != "access_token"},
        }
        state.sent.append(record)
        state.counters["sent"] += 1
        if state.lp_settings.get("message_reply") == "1":
            state.push_update(state.event_envelope("message_reply", dict(message)))
        state.changed.notify()
        return {
            "peer_id": peer_id,
            "message_id": message["id"],
            "conversation_message_id": message["conversation_message_id"],
        }

    def _resolve_attachments(self, raw: str) -> tuple[list[str], list[dict[str, Any]]]:
        """Validate an attachment string; photos must exist (and match their access key)."""
        refs = [part.strip() for part in raw.split(",") if part.strip()]
        if len(refs) > MAX_ATTACHMENTS:
            raise invalid_param("too many attachments")
        photos: list[dict[str, Any]] = []
        for ref in refs:
            match = ATTACHMENT_RE.match(ref)
            if match is None:
                raise invalid_param(f"attachment {ref!r} is invalid")
            kind, owner_id, item_id, key = (
                match.group(1),
                int(match.group(2)),
                int(match.group(3)),
                match.group(4),
            )
            if kind != "photo":
                continue  # other media cannot be checked here; accept syntactically valid refs
            photo = self.state.photos.get((owner_id, item_id))
            if photo is None:
                raise invalid_param(f"photo {owner_id}_{item_id} not found")
            foreign = owner_id != -self.state.group_id
            if (key is not None and key != photo.access_key) or (key is None and foreign):
                raise invalid_param(f"access_key for photo{owner_id}_{item_id} is invalid")
            photos.append(
                {
                    "attachment": ref,
                    "owner_id": owner_id,
                    "id": item_id,
                    "access_key": photo.access_key,
                    "url": photo.url,
                    "size": len(photo.file.data),
                    "content_type": photo.file.content_type,
                }
            )
        return refs, photos

    def _parse_keyboard(self, raw: str | None) -> dict[str, Any] | None:
        """Parse and check the keyboard JSON against VK's limits; error 911 when invalid."""
        if raw is None:
            return None

        def bad(detail: str) -> VkApiError:
            return VkApiError(911, f"Keyboard format is invalid: {detail}")

        try:
            keyboard = json.loads(raw)
        except ValueError:
            raise bad("invalid JSON") from None
        if not isinstance(keyboard, dict):
            raise bad("keyboard should be an object")
        buttons = keyboard.get("buttons")
        if not isinstance(buttons, list) or not all(isinstance(row, list) for row in buttons):
            raise bad("buttons should be an array of arrays")
        inline = bool(keyboard.get("inline"))
        max_rows, max_buttons = KEYBOARD_LIMITS[inline]
        if len(buttons) > max_rows:
            raise bad(f"too many rows ({len(buttons)} > {max_rows})")
        if sum(len(row) for row in buttons) > max_buttons:
            raise bad(f"too many buttons (> {max_buttons})")
        for r, row in enumerate(buttons):
            if len(row) > MAX_BUTTONS_PER_ROW:
                raise bad(f"buttons[{r}] has more than {MAX_BUTTONS_PER_ROW} buttons")
            for c, button in enumerate(row):
                action = button.get("action") if isinstance(button, dict) else None
                where = f"buttons[{r}][{c}]"
                if not isinstance(action, dict) or action.get("type") not in BUTTON_TYPES:
                    raise bad(f"{where}.action.type is invalid")
                if action["type"] in ("text", "callback", "open_link") and not action.get("label"):
                    raise bad(f"{where}.action.label is required")
                if len(str(action.get("label", ""))) > MAX_LABEL_LENGTH:
                    raise bad(f"{where}.action.label is too long")
                payload = action.get("payload")
                if payload is not None:
                    size = len(payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False))
                    if size > MAX_BUTTON_PAYLOAD:
                        raise bad(f"{where}.action.payload is too long")
                if action["type"] == "open_link" and not action.get("link"):
                    raise bad(f"{where}.action.link is required")
        return keyboard

    def messages_edit(self, params: Params) -> int:
        """Edit a community message by message_id or conversation_message_id; recorded in edits."""
        state = self.state
        peer_id = params.get_int("peer_id", required=True)
        assert peer_id is not None
        cmid = params.get_int("conversation_message_id")
        message_id = params.get_int("message_id")
        message = (
            state.find_by_cmid(peer_id, cmid)
            if cmid is not None
            else state.messages.get(message_id)
            if message_id is not None
            else None
        )
        if message is None or message["peer_id"] != peer_id or not message["out"]:
            raise invalid_param("message_id is invalid")
        text = params.raw.get("message")
        keyboard = self._parse_keyboard(params.get("keyboard"))
        attachments, photos = self._resolve_attachments(params.get("attachment") or "")
        if text is not None:
            if len(text) > MAX_MESSAGE_LENGTH:
                raise VkApiError(914)
            message["text"] = text
        if keyboard is not None:
            message["keyboard"] = keyboard
        state.edits.append(
            {
                "seq": state.next_seq(),
                "peer_id": peer_id,
                "message_id": message["id"],
                "conversation_message_id": message["conversation_message_id"],
                "text": text,
                "keyboard": keyboard,
                "attachments": attachments,
                "photos": photos,
                "params": {k: v for k, v in params.raw.items() if k != "access_token"},
            }
        )
        state.changed.notify()
        return 1

    # ------------------------------------------------------------------ callbacks, reads

    def messages_send_message_event_answer(self, params: Params) -> int:
        """Record the answer to an injected message_event; unknown event -> error 100."""
        state = self.state
        event_id = params.get("event_id")
        event = state.message_events.get(event_id or "")
        if event is None:
            raise invalid_param("event_id is invalid")
        if (
            params.get_int("user_id", required=True) != event["user_id"]
            or params.get_int("peer_id", required=True) != event["peer_id"]
        ):
            raise invalid_param("user_id or peer_id does not match the event")
        raw_data = params.get("event_data")
        event_data = _maybe_json(raw_data)
        if raw_data is not None and not isinstance(event_data, dict):
            raise invalid_param("event_data is invalid")
        answer = {
            "seq": state.next_seq(),
            "event_id": event_id,
            "user_id": event["user_id"],
            "peer_id": event["peer_id"],
            "event_data": event_data,
        }
        event["answers"].append(answer)
        state.event_answers.append(answer)
        state.counters["event_answers"] += 1
        state.changed.notify()
        return 1

    def messages_get_conversation_members(self, params: Params) -> dict[str, Any]:
        """Members of a dialog (user + community) or of a chat (users seen in it)."""
        state = self.state
        peer_id = params.get_int("peer_id", required=True)
        assert peer_id is not None
        if peer_id >= payloads.CHAT_PEER_OFFSET:
            member_ids = sorted(state.chat_members.get(peer_id, set()))
        else:
            member_ids = [peer_id]
        items = [
            {
                "member_id": uid,
                "invited_by": uid,
                "join_date": payloads.now(),
                "is_admin": False,
                "can_kick": False,
            }
            for uid in member_ids
        ]
        items.append(
            {
                "member_id": -state.group_id,
                "invited_by": 0,
                "join_date": payloads.now(),
                "is_admin": False,
                "can_kick": False,
            }
        )
        profiles = [dict(state.users[uid]) for uid in member_ids if uid in state.users]
        return {"count": len(items), "items": items, "profiles": profiles, "groups": [state.community()]}

    def messages_get_by_cmid(self, params: Params) -> dict[str, Any]:
        """Messages of a peer by conversation_message_ids."""
        peer_id = params.get_int("peer_id", required=True)
        assert peer_id is not None
        items = [
            m
            for cmid in params.get_ints("conversation_message_ids")
            if (m := self.state.find_by_cmid(peer_id, cmid)) is not None
        ]
        return {"count": len(items), "items": items}

    def messages_get_by_id(self, params: Params) -> dict[str, Any]:
        """Messages by community message ids."""
        items = [m for mid in params.get_ints("message_ids") if (m := self.state.messages.get(mid)) is not None]
        return {"count": len(items), "items": items}

    def messages_mark_as_read(self, params: Params) -> int:
        """Accept and record (activities list)."""
        self.state.activities.append({"method": "messages.markAsRead", "peer_id": params.get_int("peer_id")})
        return 1

    def messages_set_activity(self, params: Params) -> int:
        """Accept and record (activities list)."""
        self.state.activities.append(
            {"method": "messages.setActivity", "peer_id": params.get_int("peer_id"), "type": params.get("type")}
        )
        return 1

    def users_get(self, params: Params) -> list[dict[str, Any]]:
        """Known users (injected ones); unknown ids are skipped like deleted pages."""
        result = []
        for part in (params.get("user_ids") or params.get("user_id") or "").split(","):
            part = part.strip()
            if not part:
                continue
            key = part[2:] if part.startswith("id") and part[2:].isdigit() else part
            if not key.lstrip("-").isdigit():
                continue
            user = self.state.users.get(int(key))
            if user is not None:
                result.append(dict(user))
        return result

    def utils_get_server_time(self, params: Params) -> int:
        """Unix time."""
        return payloads.now()

    # ------------------------------------------------------------------ photo upload

    def photos_get_messages_upload_server(self, params: Params) -> dict[str, Any]:
        """An upload URL on this emulator, valid for one or more uploads."""
        upload_id = secrets.token_hex(12)
        state = self.state
        state.upload_servers[upload_id] = {"peer_id": params.get_int("peer_id")}
        return {
            "album_id": payloads.MESSAGES_ALBUM_ID,
            "upload_url": f"{state.base_url}/upload/photo?upload_id={upload_id}&gid={state.group_id}",
            "user_id": 0,
            "group_id": self.state.group_id,
        }

    def photos_save_messages_photo(self, params: Params) -> list[dict[str, Any]]:
        """Turn an upload (server, photo, hash) into a saved photo owned by the community."""
        state = self.state
        server = params.get_int("server", required=True)
        photo_field = params.get("photo")
        hash_ = params.get("hash")
        if photo_field is None or hash_ is None:
            raise invalid_param("photo is undefined")
        if hash_ != state.upload_hash(int(server or 0), photo_field):
            raise VkApiError(121)
        try:
            uploaded = json.loads(photo_field)
            ref = uploaded[0]["photo"]
        except (ValueError, LookupError, TypeError):
            raise invalid_param("photos_list is invalid") from None
        upload = state.uploads.get(ref)
        if upload is None:
            raise invalid_param("photos_list is invalid")
        if upload.get("photo") is None:
            upload["photo"] = state.store_photo(
                upload["data"],
                -state.group_id,
                content_type=upload["content_type"],
                filename=upload["filename"],
            )
        return [upload["photo"].to_vk()]


def _maybe_json(raw: str | None) -> Any:
    """Parse JSON when possible, else return the raw string (None stays None)."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw
