"""The emulator's world: users, chats, messages, the update queue, files and the logs tests read.

Everything here is plain in-memory data plus the operations both the Bot API handlers
(``server.py``) and the control API (``control.py``) need.  No HTTP here.

One world is shared by every bot token: the emulator is meant to host one bot at a time, and a
single update queue keeps offsets simple.  The bot's user id is taken from the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import DEFAULT_DESCRIPTIONS, ApiError, bad_request, forbidden, migrated
from .html_check import utf16_len
from .limits import RateLimitConfig, RateLimiter
from .media import FileStore

# Update kinds a bot receives when it passes an empty/no allowed_updates list.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Objects inside a message that carry a file the bot may getFile or re-send.
FILE_FIELDS = ("document", "video", "voice", "audio", "animation", "sticker", "video_note")
# Methods an "outage" of a chat breaks: everything that sends or changes messages there.
OUTAGE_PREFIXES = ("send", "edit", "copy", "forward", "delete")
CONFLICT_DESCRIPTION = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
# The bot's status in a group: plain member (Telegram's default when added) or administrator.
BOT_STATUSES = ("member", "administrator")
# Rights getChatMember reports for the bot when it is an administrator (a generous, typical set).
BOT_ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True, "can_delete_messages": True,
    "can_manage_video_chats": True, "can_restrict_members": True, "can_promote_members": False,
    "can_change_info": True, "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
    "can_delete_stories": False, "can_send_welcome_messages": False, "can_pin_messages": True,
}
# Who upgrades a group to a supergroup when a test does not say (not registered as a user).
DEFAULT_MIGRATING_ADMIN: dict[str, Any] = {"id": 100_000, "is_bot": False, "first_name": "Group admin"}
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def now_ts() -> int:
    """Unix time in whole seconds, the unit Telegram uses for ``date``."""
    return int(time.time())


def command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command entities Telegram adds to incoming text such as "/start" or "/help@bot"."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))}
        for m in _COMMAND_RE.finditer(text)
    ]


@dataclass
class ChatState:
    """A chat as the emulator tracks it."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    bot_kicked: bool = False
    bot_status: str = "member"  # in groups: "member" or "administrator" (see getChatMember)
    migrated_to: int | None = None  # a group upgraded to this supergroup: every call answers 400
    next_message_id: int = 1

    def to_api(self) -> dict[str, Any]:
        """The ``Chat`` object embedded in messages."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.is_forum:
            out["is_forum"] = True
        return out

    def to_full_info(self) -> dict[str, Any]:
        """The ``ChatFullInfo`` object returned by getChat (required fields filled with defaults)."""
        return {
            **self.to_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }


@dataclass
class FaultRule:
    """An injected failure: the next ``remaining`` matching calls fail and/or are delayed."""

    id: int
    method: str  # lower-case Bot API method name, or "*" for any method
    chat_id: int | None = None
    remaining: int | None = 1  # None: until removed
    error_code: int | None = None  # None with a delay: answer normally after the delay
    description: str | None = None
    retry_after: int | None = None
    delay: float = 0.0

    def matches(self, method: str, chat_id: int | None) -> bool:
        """Does this rule apply to a call of ``method`` aimed at ``chat_id``?"""
        if self.method not in ("*", method.lower()):
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def to_json(self) -> dict[str, Any]:
        """Plain-dict form for the control API."""
        return {
            "id": self.id, "method": self.method, "chat_id": self.chat_id, "remaining": self.remaining,
            "error_code": self.error_code, "description": self.description,
            "retry_after": self.retry_after, "delay": self.delay,
        }

    def to_error(self) -> ApiError | None:
        """The ApiError this rule produces (None for a pure delay)."""
        if self.error_code is None:
            return None
        retry_after = self.retry_after
        if self.error_code == 429 and retry_after is None:
            retry_after = 1  # Telegram always tells a flood-limited client how long to wait
        description = self.description
        if description is None:
            if self.error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = DEFAULT_DESCRIPTIONS.get(self.error_code, "Error")
        return ApiError(self.error_code, description, retry_after)


@dataclass
class Poller:
    """The getUpdates request currently being served (at most one at a time)."""

    is_stale: Any  # () -> bool: True when the HTTP client already went away
    terminated: asyncio.Event = field(default_factory=asyncio.Event)


class EmulatorState:
    """All mutable emulator data, plus the domain operations on it."""

    def __init__(
        self,
        *,
        bot_first_name: str = "Emulator Bot",
        bot_username: str | None = None,
        strict_html: bool = True,
        conflict_mode: str = "reject_new",
        rate_limits: RateLimitConfig | None = None,
    ) -> None:
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.strict_html = strict_html
        self.conflict_mode = conflict_mode
        self.limiter = RateLimiter(rate_limits)
        self._init_data()

    # ------------------------------------------------------------------ lifecycle

    def _init_data(self) -> None:
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, ChatState] = {}
        self.blocked: set[int] = set()
        self.outages: set[int] = set()
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 1
        self.allowed_updates: list[str] | None = None
        self.webhook: dict[str, Any] = {"url": ""}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.files = FileStore()
        self.sent: list[dict[str, Any]] = []
        self.sent_seq = 0
        self.calls: list[dict[str, Any]] = []
        self.call_seq = 0
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.faults: list[FaultRule] = []
        self.fault_seq = 0
        self.poller: Poller | None = None
        self.last_bot_id: int | None = None
        self.media_group_seq = 0
        # Waiters grab the current Event and are woken by replacing it (see _notify).
        self.updates_changed = asyncio.Event()
        self.sent_changed = asyncio.Event()

    def reset(self) -> None:
        """Forget everything: chats, users, messages, updates, files, logs, faults, limits' traffic.

        Counters stay monotonic (update_id, seq numbers) so a bot that keeps polling across a
        reset does not skip new updates because of its remembered offset, and "since" marks
        taken before the reset stay valid.  A running long poll is kept and simply woken.
        """
        keep = (self.next_update_id, self.sent_seq, self.call_seq, self.fault_seq, self.media_group_seq,
                self.poller)
        updates_event, sent_event = self.updates_changed, self.sent_changed
        self._init_data()
        (self.next_update_id, self.sent_seq, self.call_seq, self.fault_seq, self.media_group_seq,
         self.poller) = keep
        # Wake anyone waiting so they re-check against the empty state.
        updates_event.set()
        sent_event.set()
        self.limiter.reset()

    def _notify_updates(self) -> None:
        event, self.updates_changed = self.updates_changed, asyncio.Event()
        event.set()

    def _notify_sent(self) -> None:
        event, self.sent_changed = self.sent_changed, asyncio.Event()
        event.set()

    # ------------------------------------------------------------------ identity

    def bot_user(self, bot_id: int) -> dict[str, Any]:
        """The bot's ``User`` object (used as ``from`` of everything the bot sends)."""
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username or f"emulator_{bot_id}_bot",
        }

    def get_me(self, bot_id: int) -> dict[str, Any]:
        """The answer to getMe."""
        return {
            **self.bot_user(bot_id),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # ------------------------------------------------------------------ users and chats

    def ensure_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """Register (or refresh) a human user from a test-supplied dict and return its User object."""
        if "id" not in user:
            raise ValueError("user needs an 'id'")
        uid = int(user["id"])
        normalized: dict[str, Any] = {"id": uid, "is_bot": bool(user.get("is_bot", False)),
                                      "first_name": str(user.get("first_name") or f"User{uid}")}
        for key in ("last_name", "username", "language_code", "is_premium"):
            if user.get(key) is not None:
                normalized[key] = user[key]
        self.users[uid] = normalized
        return normalized

    def ensure_private_chat(self, user: dict[str, Any]) -> ChatState:
        """The private chat between the bot and ``user``, created the first time the user writes."""
        uid = user["id"]
        chat = self.chats.get(uid)
        if chat is None:
            chat = self.chats[uid] = ChatState(id=uid, type="private")
        chat.first_name = user.get("first_name")
        chat.last_name = user.get("last_name")
        chat.username = user.get("username")
        return chat

    def create_chat(self, chat_id: int, chat_type: str = "supergroup", title: str | None = None,
                    username: str | None = None, is_forum: bool = False, bot_status: str = "member") -> ChatState:
        """Create (or update) a group, supergroup or channel the bot is a member (or administrator) of."""
        if chat_type not in ("group", "supergroup", "channel"):
            raise ValueError("chat type must be group, supergroup or channel (private chats appear by themselves)")
        if chat_id >= 0:
            raise ValueError("group/supergroup/channel ids are negative (supergroups look like -100...)")
        if bot_status not in BOT_STATUSES:
            raise ValueError(f"bot_status must be one of {', '.join(BOT_STATUSES)}")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = ChatState(id=chat_id, type=chat_type)
        chat.type = chat_type
        chat.title = title or f"Chat {chat_id}"
        chat.username = username
        chat.is_forum = is_forum
        chat.bot_status = bot_status
        return chat

    def migrate_chat(self, chat_id: int, to_chat_id: int,
                     user: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Upgrade a basic group to a new supergroup the way Telegram does; returns the two service messages.

        The supergroup gets the group's title and the bot's status there; the group's stored messages are
        copied into it with the same message ids (the emulator's choice: Telegram starts the supergroup's
        ids afresh, so a bot could not edit its old cards there).  The group then answers every call with
        400 "group chat was upgraded to a supergroup chat" + ``migrate_to_chat_id``.  Queued, in this order:
        a message in the group with ``migrate_to_chat_id`` and one in the supergroup with
        ``migrate_from_chat_id``, both from ``user`` (the admin who upgraded).
        """
        old = self.chats.get(chat_id)
        if old is None:
            raise KeyError(f"chat {chat_id} not found")
        if old.migrated_to is not None:
            raise ValueError(f"chat {chat_id} was already upgraded to {old.migrated_to}")
        if old.type != "group":
            raise ValueError(f"only a basic group (type group) is upgraded to a supergroup; {chat_id} is a {old.type}")
        if not str(to_chat_id).startswith("-100"):
            raise ValueError("a supergroup id looks like -100...")
        if to_chat_id in self.chats:
            raise ValueError(f"chat {to_chat_id} already exists")
        new = self.chats[to_chat_id] = ChatState(id=to_chat_id, type="supergroup", title=old.title,
                                                 bot_kicked=old.bot_kicked, bot_status=old.bot_status)
        for message in self.chat_history(old.id):
            copied = copy.deepcopy(message)
            copied["chat"] = new.to_api()
            reply = copied.get("reply_to_message")
            if isinstance(reply, dict) and (reply.get("chat") or {}).get("id") == old.id:
                reply["chat"] = new.to_api()
            self.messages[(new.id, copied["message_id"])] = copied
        new.next_message_id = old.next_message_id
        sender = self.ensure_user(user) if user else dict(DEFAULT_MIGRATING_ADMIN)
        old.migrated_to = new.id
        to_message = self.store_message(old, sender, {"migrate_to_chat_id": new.id})
        from_message = self.store_message(new, sender, {"migrate_from_chat_id": old.id})
        self.add_update("message", to_message)
        self.add_update("message", from_message)
        return to_message, from_message

    def lookup_chat(self, chat_ref: Any) -> ChatState | None:
        """A chat by numeric id or "@username"."""
        if isinstance(chat_ref, str) and chat_ref.startswith("@"):
            name = chat_ref[1:].lower()
            return next((c for c in self.chats.values() if (c.username or "").lower() == name), None)
        try:
            return self.chats.get(int(chat_ref))
        except (TypeError, ValueError):
            return None

    @staticmethod
    def check_migrated(chat: ChatState) -> None:
        """A group upgraded to a supergroup answers every call with 400 + ``migrate_to_chat_id``."""
        if chat.migrated_to is not None:
            raise migrated(chat.migrated_to)

    @staticmethod
    def check_kicked(chat: ChatState) -> None:
        """A group the bot was removed from answers 403 "bot was kicked from the <type> chat"."""
        if chat.bot_kicked:
            kind = "channel chat" if chat.type == "channel" else f"{chat.type} chat"
            raise forbidden(f"bot was kicked from the {kind}")

    def readable_chat(self, chat_ref: Any) -> ChatState:
        """Resolve the chat of getChat / getChatMember: 400 unknown or upgraded, 403 kicked (blocking is fine)."""
        if chat_ref is None or chat_ref == "":
            raise bad_request("chat_id is empty")
        chat = self.lookup_chat(chat_ref)
        if chat is None:
            raise bad_request("chat not found")
        self.check_migrated(chat)
        self.check_kicked(chat)
        return chat

    def target_chat(self, chat_ref: Any) -> ChatState:
        """Resolve the chat a bot wants to write to, with Telegram's 400/403 answers."""
        if chat_ref is None or chat_ref == "":
            raise bad_request("chat_id is empty")
        chat = self.lookup_chat(chat_ref)
        if chat is None:
            try:
                uid = int(chat_ref)
            except (TypeError, ValueError):
                uid = None
            if uid is not None and uid in self.users:
                # Known from a group, but never opened a private chat with the bot.
                raise forbidden("bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        self.check_migrated(chat)
        if chat.type == "private" and chat.id in self.blocked:
            raise forbidden("bot was blocked by the user")
        self.check_kicked(chat)
        return chat

    def chat_member(self, chat: ChatState, user_id: int, bot_id: int) -> dict[str, Any]:
        """getChatMember: the bot is a member or administrator (its chat's ``bot_status``); a known user is a
        member where they wrote (or in their private chat), "left" elsewhere; an unknown user is a 400."""
        if user_id == bot_id:
            user = self.bot_user(bot_id)
            if chat.type != "private" and chat.bot_status == "administrator":
                rights = dict(BOT_ADMIN_RIGHTS)
                if chat.type == "supergroup" and chat.is_forum:
                    rights["can_manage_topics"] = True
                if chat.type == "channel":
                    rights |= {"can_post_messages": True, "can_edit_messages": True}
                return {"status": "administrator", "user": user, **rights}
            return {"status": "member", "user": user}
        known = self.users.get(user_id)
        if known is None:
            raise bad_request("user not found")
        wrote = chat.id == user_id or any((m.get("from") or {}).get("id") == user_id
                                          for m in self.chat_history(chat.id))
        return {"status": "member" if wrote else "left", "user": known}

    # ------------------------------------------------------------------ messages

    def find_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A stored message (incoming or sent by the bot), or None."""
        return self.messages.get((chat_id, message_id))

    def store_message(self, chat: ChatState, sender: dict[str, Any] | None, content: dict[str, Any],
                      reply_to: dict[str, Any] | None = None, thread_id: int | None = None,
                      message_id: int | None = None) -> dict[str, Any]:
        """Create a Message in ``chat`` with the next message_id and keep it for later lookups."""
        if message_id is None:
            message_id = chat.next_message_id
        chat.next_message_id = max(chat.next_message_id, message_id + 1)
        msg: dict[str, Any] = {"message_id": message_id, "date": now_ts(), "chat": chat.to_api()}
        if sender is not None:
            msg["from"] = sender
        if thread_id:
            msg["message_thread_id"] = thread_id
            if chat.is_forum:
                msg["is_topic_message"] = True
        if reply_to is not None:
            # Telegram embeds the replied message one level deep only.
            msg["reply_to_message"] = {k: v for k, v in copy.deepcopy(reply_to).items() if k != "reply_to_message"}
        msg.update(content)
        self.messages[(chat.id, message_id)] = msg
        return msg

    def chat_history(self, chat_id: int) -> list[dict[str, Any]]:
        """All stored messages of a chat, oldest first (both directions)."""
        found = [m for (cid, _), m in self.messages.items() if cid == chat_id]
        return sorted(found, key=lambda m: m["message_id"])

    def new_media_group_id(self) -> str:
        """A fresh media_group_id (Telegram's are long numeric strings)."""
        self.media_group_seq += 1
        return str(13_000_000_000_000_000 + self.media_group_seq)

    # ------------------------------------------------------------------ updates

    def add_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of ``kind`` (message, callback_query, ...) and wake the long-poller."""
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        self.updates.append(update)
        self._notify_updates()
        return update

    def add_raw_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a test-built update; update_id is assigned unless the test gave a higher one."""
        update = copy.deepcopy(update)
        wanted = update.get("update_id")
        if not isinstance(wanted, int) or wanted < self.next_update_id:
            update["update_id"] = self.next_update_id
        self.next_update_id = update["update_id"] + 1
        # Remember messages carried by the update so the bot can reply to / edit them.
        for key in ("message", "edited_message", "channel_post", "business_message"):
            msg = update.get(key)
            if isinstance(msg, dict) and isinstance(msg.get("chat"), dict) and "message_id" in msg:
                self._adopt_message(msg)
        self.updates.append(update)
        self._notify_updates()
        return update

    def _adopt_message(self, msg: dict[str, Any]) -> None:
        chat_json = msg["chat"]
        chat = self.chats.get(int(chat_json["id"]))
        if chat is None:
            chat = ChatState(id=int(chat_json["id"]), type=str(chat_json.get("type", "private")),
                             title=chat_json.get("title"), username=chat_json.get("username"),
                             first_name=chat_json.get("first_name"), last_name=chat_json.get("last_name"))
            self.chats[chat.id] = chat
        if isinstance(msg.get("from"), dict) and not msg["from"].get("is_bot"):
            self.ensure_user(msg["from"])
        chat.next_message_id = max(chat.next_message_id, int(msg["message_id"]) + 1)
        self.messages[(chat.id, int(msg["message_id"]))] = copy.deepcopy(msg)

    def confirm_updates(self, offset: int | None) -> None:
        """Apply getUpdates' ``offset``: forget confirmed updates (negative: keep only the last -offset)."""
        if offset is None or offset == 0:
            return
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def pending_updates(self, limit: int = 100) -> list[dict[str, Any]]:
        """Unconfirmed updates the bot asked for, oldest first."""
        out = []
        for update in self.updates:
            kind = next((k for k in update if k != "update_id"), "")
            if self.allowed_updates:
                if kind not in self.allowed_updates:
                    continue
            elif kind in DEFAULT_EXCLUDED_UPDATES:
                continue
            out.append(update)
            if len(out) >= limit:
                break
        return out

    # ------------------------------------------------------------------ outgoing log

    def record_sent(self, method: str, chat_id: int, message: dict[str, Any] | None,
                    details: dict[str, Any]) -> dict[str, Any]:
        """Append one outgoing action (send, edit, delete) to the log tests read."""
        self.sent_seq += 1
        item: dict[str, Any] = {
            "seq": self.sent_seq,
            "ts": time.time(),
            "method": method,
            "chat_id": chat_id,
            "message_id": message.get("message_id") if message else details.get("message_id"),
            "text": None,
            "caption": None,
            "plain_text": None,
            "parse_mode": None,
            "reply_markup": None,
            "reply_to_message_id": None,
            "message_thread_id": None,
            "media_group_id": None,
            "photo_file_ids": [],
            "message": copy.deepcopy(message) if message is not None else None,
        }
        item.update(details)
        if message is not None:
            item["plain_text"] = message.get("text", message.get("caption"))
            item["media_group_id"] = message.get("media_group_id")
            item["photo_file_ids"] = [p["file_id"] for p in message.get("photo", [])]
            if "reply_to_message" in message:
                item["reply_to_message_id"] = message["reply_to_message"]["message_id"]
        self.sent.append(item)
        self._notify_sent()
        return item

    def sent_items(self, chat_id: int | None = None, since: int = 0,
                   methods: list[str] | None = None) -> list[dict[str, Any]]:
        """Outgoing log entries with seq > ``since``, optionally only for one chat / some methods."""
        wanted = {m.lower() for m in methods} if methods else None
        return [
            item for item in self.sent
            if item["seq"] > since
            and (chat_id is None or item["chat_id"] == chat_id)
            and (wanted is None or item["method"].lower() in wanted)
        ]

    async def wait_sent(self, chat_id: int | None, count: int, since: int, seconds: float,
                        methods: list[str] | None = None) -> list[dict[str, Any]]:
        """Wait until at least ``count`` matching entries newer than ``since`` exist; return them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            event = self.sent_changed
            items = self.sent_items(chat_id, since, methods)
            remaining = deadline - loop.time()
            if len(items) >= count or remaining <= 0:
                return items
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # ------------------------------------------------------------------ call log and faults

    def log_call(self, method: str, chat_id: Any, status: int, error: ApiError | None,
                 params: dict[str, Any], bot_id: int | None, via: str = "http") -> dict[str, Any]:
        """Record one Bot API call (whatever its outcome)."""
        self.call_seq += 1
        try:
            chat = int(chat_id) if chat_id is not None else None
        except (TypeError, ValueError):
            chat = chat_id
        entry = {
            "seq": self.call_seq,
            "ts": time.time(),
            "method": method,
            "bot_id": bot_id,
            "chat_id": chat,
            "status": status,
            "ok": error is None and status == 200,
            "error_code": error.error_code if error else None,
            "description": error.description if error else None,
            "retry_after": error.retry_after if error else None,
            "params": params,
            "via": via,  # "http", or "webhook_answer": made by Telegram from the bot's answer to a webhook POST
        }
        self.calls.append(entry)
        if bot_id is not None:
            self.last_bot_id = bot_id
        return entry

    def call_counters(self) -> dict[str, Any]:
        """Counts of calls per HTTP status, per method and status, and refused-by-rate-limit."""
        by_status: dict[str, int] = {}
        by_method: dict[str, dict[str, int]] = {}
        for call in self.calls:
            key = str(call["status"])
            by_status[key] = by_status.get(key, 0) + 1
            per = by_method.setdefault(call["method"], {})
            per[key] = per.get(key, 0) + 1
        return {"total": len(self.calls), "by_status": by_status, "by_method": by_method,
                "rate_limited": self.limiter.refused}

    def add_fault(self, method: str, *, count: int | None = 1, error_code: int | None = None,
                  description: str | None = None, retry_after: int | None = None,
                  chat_id: int | None = None, delay: float = 0.0) -> FaultRule:
        """Make the next ``count`` matching calls fail (or hang ``delay`` seconds first)."""
        if error_code is None and delay <= 0:
            raise ValueError("a fault needs an error_code, a delay, or both")
        self.fault_seq += 1
        rule = FaultRule(self.fault_seq, method.lower(), chat_id, count, error_code, description,
                         retry_after, delay)
        self.faults.append(rule)
        return rule

    def take_fault(self, method: str, chat_id: int | None) -> FaultRule | None:
        """The first fault rule matching this call, consuming one of its uses."""
        for rule in self.faults:
            if rule.matches(method, chat_id):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.faults.remove(rule)
                return rule
        return None

    def check_outage(self, method: str, chat_id: int | None) -> None:
        """Fail sends/edits/deletes to a chat that is switched into outage mode."""
        if chat_id is not None and chat_id in self.outages and method.lower().startswith(OUTAGE_PREFIXES):
            raise ApiError(500, "Internal Server Error")

    # ------------------------------------------------------------------ callback queries

    def new_callback(self, user: dict[str, Any], message: dict[str, Any], data: str | None,
                     chat_instance: str | None = None) -> dict[str, Any]:
        """Build a CallbackQuery for a button press on ``message`` and remember it for answering."""
        callback_id = str(secrets.randbits(62))
        chat_id = message["chat"]["id"]
        query: dict[str, Any] = {
            "id": callback_id,
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": chat_instance or str(abs(chat_id) * 1_000_003 % 10**18),
        }
        if data is not None:
            query["data"] = data
        self.callbacks[callback_id] = {
            "id": callback_id, "chat_id": chat_id, "message_id": message["message_id"],
            "user_id": user["id"], "data": data, "answered": False, "answer": None, "created": time.time(),
        }
        return query

    def answer_callback(self, callback_id: str, answer: dict[str, Any]) -> None:
        """Record the bot's answer; unknown or already answered ids are rejected like Telegram does."""
        record = self.callbacks.get(callback_id)
        if record is None or record["answered"]:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        record["answered"] = True
        record["answer"] = {**answer, "ts": time.time()}
