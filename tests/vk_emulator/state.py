"""In-memory state of the emulated VK community: users, messages, photos, long poll, faults, logs."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import payloads

# VK's standard error texts, used when a test injects a code without a message.
ERROR_MESSAGES: dict[int, str] = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    18: "User was deleted or banned",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    121: "Invalid hash",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    911: "Keyboard format is invalid",
    912: "This is a chat bot feature, change this status in settings",
    913: "Too many forwarded messages",
    914: "Message is too long",
    917: "You don't have access to this chat",
    936: "Contact not found",
}

RANDOM_ID_WINDOW = 3600.0  # seconds a (peer, random_id) pair stays deduplicated, like VK
MAX_MESSAGE_LENGTH = 4096
DEFAULT_LP_HISTORY = 1000


class VkApiError(Exception):
    """A VK API error to be answered as `{"error": {...}}`."""

    def __init__(self, code: int, message: str | None = None, **extra: Any) -> None:
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Unknown error occurred")
        self.extra = extra
        super().__init__(f"[{code}] {self.message}")


def invalid_param(detail: str) -> VkApiError:
    """Error 100 with VK's usual ": detail" suffix."""
    return VkApiError(100, f"{ERROR_MESSAGES[100]}: {detail}")


class Notifier:
    """Wakes every coroutine waiting for "something changed" (new event, new sent message)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        """Wake all current waiters; later waiters wait for the next notify."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a notify; False on timeout or when closed."""
        if self.closed or seconds <= 0:
            return False
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return not self.closed

    def close(self) -> None:
        """Release all waiters for good (server shutdown)."""
        self.closed = True
        self._event.set()


@dataclass
class StoredFile:
    """Bytes served under /files/<name>."""

    name: str
    data: bytes
    content_type: str


@dataclass
class StoredPhoto:
    """A photo VK knows about: uploaded by the bot or attached by a user."""

    owner_id: int
    id: int
    access_key: str
    album_id: int
    date: int
    width: int
    height: int
    file: StoredFile
    url: str

    @property
    def attachment(self) -> str:
        """The attachment string `photo<owner>_<id>_<access_key>`."""
        return f"photo{self.owner_id}_{self.id}_{self.access_key}"

    def to_vk(self) -> dict[str, Any]:
        """The photos.photo object."""
        return payloads.photo_object(
            photo_id=self.id,
            owner_id=self.owner_id,
            access_key=self.access_key,
            url=self.url,
            width=self.width,
            height=self.height,
            date=self.date,
            album_id=self.album_id,
        )


@dataclass
class Fault:
    """An injected failure for the next `count` calls of `method` (optionally for one peer)."""

    method: str
    count: int = 1
    peer_id: int | None = None
    error_code: int | None = None
    error_msg: str | None = None
    error_extra: dict[str, Any] = field(default_factory=dict)
    http_status: int | None = None
    hang_seconds: float | None = None

    def matches(self, method: str, peers: set[int]) -> bool:
        """Whether this fault applies to a call of `method` addressed to `peers`."""
        if self.method not in ("*", method):
            return False
        return self.peer_id is None or self.peer_id in peers

    def to_dict(self) -> dict[str, Any]:
        """JSON view for the control API."""
        return {
            "method": self.method,
            "count": self.count,
            "peer_id": self.peer_id,
            "error_code": self.error_code,
            "error_msg": self.error_msg,
            "http_status": self.http_status,
            "hang_seconds": self.hang_seconds,
        }


@dataclass
class LongPollState:
    """Bots Long Poll server: a key, a monotonically growing ts and a bounded update history."""

    key: str = field(default_factory=lambda: secrets.token_hex(20))
    next_ts: int = 1
    first_kept_ts: int = 1
    history: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    max_history: int = DEFAULT_LP_HISTORY
    forced_failures: deque[int] = field(default_factory=deque)
    waiting: int = 0
    requests: int = 0

    def push(self, update: dict[str, Any]) -> int:
        """Append an update, return its ts; trims the history (older ts then get failed=1)."""
        ts = self.next_ts
        self.history.append((ts, update))
        self.next_ts += 1
        while len(self.history) > self.max_history:
            self.history.popleft()
        self.first_kept_ts = self.history[0][0] if self.history else self.next_ts
        return ts

    def updates_since(self, ts: int) -> list[dict[str, Any]]:
        """Updates with ts >= `ts`."""
        return [update for update_ts, update in self.history if update_ts >= ts]

    def rotate_key(self) -> None:
        """Invalidate the current key (what VK does when it answers failed=2)."""
        self.key = secrets.token_hex(20)


class EmulatorState:
    """Everything the emulated VK remembers. Pure in-memory; all methods are loop-synchronous."""

    def __init__(self, group_id: int, token: str, group_name: str, screen_name: str | None = None) -> None:
        self.base_url = ""
        self.group_id = group_id
        self.group_name = group_name
        self.screen_name = screen_name or f"club{group_id}"
        self.tokens: set[str] = {token}
        self.secret = secrets.token_bytes(16)
        self.changed = Notifier()
        self.rate_limit_per_second: int | None = None
        self.strict_images = False
        self.default_allowed = True
        self.lp_settings: dict[str, Any] = {}
        self.reset()

    # ----------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        """Forget messages, users, photos, events, faults and logs; keep community and tokens."""
        self.users: dict[int, dict[str, Any]] = {}
        self.permissions: dict[int, bool] = {}
        self.chat_members: dict[int, set[int]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.next_message_id = 1
        self.next_cmid: dict[int, int] = {}
        self.sent: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.random_ids: dict[tuple[int, int], tuple[float, int, int]] = {}
        self.seq = 0
        self.files: dict[str, StoredFile] = {}
        self.photos: dict[tuple[int, int], StoredPhoto] = {}
        self.next_photo_id = 457_239_017
        self.uploads: dict[str, dict[str, Any]] = {}
        self.upload_servers: dict[str, dict[str, Any]] = {}
        self.message_events: dict[str, dict[str, Any]] = {}
        self.event_answers: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.calls: list[dict[str, Any]] = []
        self.rate_windows: dict[str, deque[float]] = {}
        self.counters: dict[str, Any] = {
            "calls": 0,
            "calls_by_method": {},
            "errors_by_code": {},
            "sent": 0,
            "deduplicated": 0,
            "rate_limited": 0,
            "longpoll_requests": 0,
            "longpoll_failed": {},
            "uploads": 0,
            "event_answers": 0,
            "injected_updates": 0,
        }
        if not hasattr(self, "lp"):
            self.lp = LongPollState()
        else:
            # Reset in place: pollers blocked right now hold this object. Key and ts keep growing
            # so a bot that is still polling neither fails nor sees stale updates.
            self.lp.history.clear()
            self.lp.forced_failures.clear()
            self.lp.first_kept_ts = self.lp.next_ts
        self.changed.notify()

    def next_seq(self) -> int:
        """Monotonic sequence number shared by sent messages, edits, answers and calls."""
        self.seq += 1
        return self.seq

    # ----------------------------------------------------------------- community & users

    def community(self) -> dict[str, Any]:
        """groups.groupFull of the emulated community."""
        photo = f"{self.base_url}/files/community_avatar.png"
        return {
            "id": self.group_id,
            "name": self.group_name,
            "screen_name": self.screen_name,
            "is_closed": 0,
            "type": "group",
            "is_admin": 0,
            "is_member": 0,
            "is_advertiser": 0,
            "photo_50": photo,
            "photo_100": photo,
            "photo_200": photo,
        }

    def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """Remember a user (id, first_name, last_name, ...); later data overrides earlier."""
        user_id = int(user["id"])
        known = self.users.setdefault(
            user_id,
            {
                "id": user_id,
                "first_name": f"User{user_id}",
                "last_name": "Test",
                "can_access_closed": True,
                "is_closed": False,
            },
        )
        known.update({k: v for k, v in user.items() if v is not None})
        known["id"] = user_id
        return known

    def messages_allowed(self, peer_id: int) -> bool:
        """Whether the community may write to this peer (chats are always allowed)."""
        if peer_id >= payloads.CHAT_PEER_OFFSET:
            return True
        return self.permissions.get(peer_id, self.default_allowed)

    # ----------------------------------------------------------------- files & photos

    def store_file(self, data: bytes, content_type: str, stem: str) -> StoredFile:
        """Keep bytes to be served at /files/<name>."""
        ext = {"image/png": "png", "image/gif": "gif", "image/webp": "webp"}.get(content_type, "jpg")
        name = f"{stem}_{secrets.token_hex(6)}.{ext}"
        stored = StoredFile(name=name, data=bytes(data), content_type=content_type)
        self.files[name] = stored
        return stored

    def store_photo(
        self,
        data: bytes,
        owner_id: int,
        *,
        width: int | None = None,
        height: int | None = None,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> StoredPhoto:
        """Store photo bytes and register the photo so attachment strings can reference it."""
        sniffed = payloads.image_size(data)
        if width is None or height is None:
            width, height = sniffed or (1280, 960)
        ctype = content_type or payloads.image_content_type(data, filename)
        photo_id = self.next_photo_id
        self.next_photo_id += 1
        stored_file = self.store_file(data, ctype, f"photo{owner_id}_{photo_id}")
        photo = StoredPhoto(
            owner_id=owner_id,
            id=photo_id,
            access_key=secrets.token_hex(9),
            album_id=payloads.MESSAGES_ALBUM_ID,
            date=payloads.now(),
            width=int(width),
            height=int(height),
            file=stored_file,
            url=f"{self.base_url}/files/{stored_file.name}",
        )
        self.photos[(owner_id, photo_id)] = photo
        return photo

    def find_photo(self, ref: str) -> StoredPhoto | None:
        """Photo by `photo<owner>_<id>[_key]` or `<owner>_<id>` (access key not checked here)."""
        text = ref.strip()
        if text.startswith("photo"):
            text = text[len("photo") :]
        parts = text.split("_")
        if len(parts) < 2:
            return None
        try:
            owner_id, photo_id = int(parts[0]), int(parts[1])
        except ValueError:
            return None
        return self.photos.get((owner_id, photo_id))

    def upload_hash(self, server: int, photo: str) -> str:
        """HMAC-ish hash binding an upload's server and photo fields (checked on save)."""
        return hashlib.sha256(self.secret + f"{server}:{photo}".encode()).hexdigest()[:32]

    # ----------------------------------------------------------------- messages

    def _next_cmid(self, peer_id: int) -> int:
        cmid = self.next_cmid.get(peer_id, 0) + 1
        self.next_cmid[peer_id] = cmid
        return cmid

    def new_message(
        self,
        *,
        peer_id: int,
        from_id: int,
        text: str,
        out: bool,
        attachments: list[dict[str, Any]] | None = None,
        random_id: int = 0,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create and store a messages.message object in the peer's conversation."""
        message_id = self.next_message_id
        self.next_message_id += 1
        message: dict[str, Any] = {
            "date": payloads.now(),
            "from_id": from_id,
            # VK gives bots id=0 for messages in group chats; only conversation_message_id is set.
            "id": 0 if peer_id >= payloads.CHAT_PEER_OFFSET and not out else message_id,
            "version": payloads.MESSAGE_VERSION + message_id,
            "out": 1 if out else 0,
            "attachments": attachments or [],
            "conversation_message_id": self._next_cmid(peer_id),
            "fwd_messages": [],
            "important": False,
            "is_hidden": False,
            "peer_id": peer_id,
            "random_id": random_id,
            "text": text,
        }
        if extra:
            message.update(extra)
        self.messages[message_id] = message
        self.conversations.setdefault(peer_id, []).append(message)
        return message

    def find_by_cmid(self, peer_id: int, cmid: int) -> dict[str, Any] | None:
        """Message in a conversation by its conversation_message_id."""
        for message in self.conversations.get(peer_id, []):
            if message["conversation_message_id"] == cmid:
                return message
        return None

    def dedupe_lookup(self, peer_id: int, random_id: int) -> tuple[int, int] | None:
        """(message_id, cmid) of an earlier send with this random_id to this peer within the window."""
        if random_id == 0:
            return None
        hit = self.random_ids.get((peer_id, random_id))
        if hit is None or time.monotonic() - hit[0] > RANDOM_ID_WINDOW:
            return None
        return hit[1], hit[2]

    def remember_random_id(self, peer_id: int, random_id: int, message_id: int, cmid: int) -> None:
        """Record a delivered random_id (0 means "no deduplication", as in VK)."""
        if random_id != 0:
            self.random_ids[(peer_id, random_id)] = (time.monotonic(), message_id, cmid)

    # ----------------------------------------------------------------- long poll

    def event_envelope(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A Bots Long Poll update around `obj`."""
        return {
            "group_id": self.group_id,
            "type": event_type,
            "event_id": secrets.token_hex(20),
            "v": payloads.API_VERSION,
            "object": obj,
        }

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for long poll and wake pollers; returns its ts."""
        ts = self.lp.push(update)
        self.counters["injected_updates"] += 1
        self.changed.notify()
        return ts

    def longpoll_server(self) -> dict[str, str]:
        """groups.getLongPollServer response."""
        return {
            "key": self.lp.key,
            "server": f"{self.base_url}/lp/{self.group_id}",
            "ts": str(self.lp.next_ts),
        }

    # ----------------------------------------------------------------- accounting

    def count_error(self, code: int) -> None:
        """Bump the per-code error counter."""
        errors = self.counters["errors_by_code"]
        errors[str(code)] = errors.get(str(code), 0) + 1

    def take_fault(self, method: str, peers: set[int]) -> Fault | None:
        """Consume one use of the first fault matching this call."""
        for fault in self.faults:
            if fault.matches(method, peers):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def check_rate_limit(self, token: str) -> bool:
        """True when this call fits in the per-token per-second budget (always, when off)."""
        if not self.rate_limit_per_second:
            return True
        window = self.rate_windows.setdefault(token, deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.rate_limit_per_second:
            self.counters["rate_limited"] += 1
            return False
        window.append(now)
        return True
