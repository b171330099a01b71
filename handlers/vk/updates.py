"""VK updates, untrusted, into the core's dialog inputs.

Every field is checked for its type and bounded by VK's own limits; whatever shape an update has, reading it gives
an input or None (skip it), never an exception.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core import dialog
from bot.core.replied import Replied
from bot.text.i18n import DEFAULT_LANGUAGE
from handlers.vk.keyboards import ClientCaps

# VK's lang_id values we have catalogs for (0 is Russian, 3 is English).
_LANGUAGES = {0: "ru", 3: "en"}
_COMMANDS: dict[str, dialog.ResidentInput] = {
    "start": dialog.Start(),
    "начать": dialog.Start(),
    "new": dialog.NewReport(),
    "my": dialog.MyReports(),
    "cancel": dialog.Cancel(),
    "help": dialog.Help(),
    "privacy": dialog.Privacy(),
    "forget": dialog.Forget(),
}
# Attachments that carry nothing we can take; a link preview comes with its text and is harmless.
_HARMLESS = {"photo", "link"}
# VK sends at most 4,096 characters; a forged update is cut far above that (a too-long text is told its length).
TEXT_BOUND = 65_536
# VK limits a button's payload to 255 characters; anything far longer is none of ours and is not parsed.
PAYLOAD_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A resident's private message, ready for the dialog; photos still to be downloaded."""

    user_id: int
    caps: ClientCaps
    language: str | None
    event: dialog.ResidentInput | None
    photo_urls: tuple[str, ...] = ()
    caption: str | None = None
    # The community's message it replies to (VK's reply), if any.
    replied: Replied | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def language_of(client_info: Any) -> str | None:
    """Our language for the client's lang_id, if it said one."""
    if isinstance(client_info, dict):
        lang_id = _int(client_info.get("lang_id"))
        if lang_id is not None:
            return _LANGUAGES.get(lang_id, DEFAULT_LANGUAGE)
    return None


def action_of(payload: Any) -> str | None:
    """The action in a button payload (a JSON string or an object), if it is one of ours."""
    if isinstance(payload, str):
        if len(payload) > PAYLOAD_LIMIT:
            return None
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            return None
    if isinstance(payload, dict):
        action = payload.get("a")
        if isinstance(action, str):
            return action
        if payload.get("command") == "start":
            return "start"
    return None


def largest_photo_url(photo: Any) -> str | None:
    """The URL of the largest size of a VK photo object."""
    if not isinstance(photo, dict) or not isinstance(photo.get("sizes"), list):
        return None
    best: tuple[int, str] | None = None
    for size in photo["sizes"]:
        if not isinstance(size, dict) or not isinstance(size.get("url"), str):
            continue
        url: str = size["url"]
        if not url.startswith(("http://", "https://")):
            continue
        area = (_int(size.get("width")) or 0) * (_int(size.get("height")) or 0)
        if best is None or area >= best[0]:
            best = (area, url)
    return best[1] if best else None


def _place(geo: Any) -> dialog.Place | dialog.Unsupported:
    coords = geo.get("coordinates") if isinstance(geo, dict) else None
    if not isinstance(coords, dict):
        return dialog.Unsupported()
    lat, lon = _float(coords.get("latitude")), _float(coords.get("longitude"))
    if lat is None or lon is None:
        return dialog.Unsupported()
    place = geo.get("place") if isinstance(geo.get("place"), dict) else {}
    parts = [p[:TEXT_BOUND] for p in (place.get("title"), place.get("address")) if isinstance(p, str) and p.strip()]
    address = ", ".join(dict.fromkeys(parts)) or None
    # Out of range or (0, 0): the core answers that the location looks wrong.
    return dialog.Place(lat, lon, address)


def _float(value: Any) -> float | None:
    """A finite number from JSON (an int too large for a float is none)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def replied_of(reply: Any) -> Replied | None:
    """The community's message a resident replies to (`reply_message`), checked, not trusted."""
    if not isinstance(reply, dict) or (message_id := _int(reply.get("id"))) is None:
        return None
    from_id, date = _int(reply.get("from_id")), _int(reply.get("date"))
    sent_at = datetime.fromtimestamp(date, UTC) if date is not None and 0 < date < 2**32 else None
    return Replied(message_id, from_id is not None and from_id < 0, sent_at)


def parse_message_new(obj: Any) -> IncomingMessage | None:
    """A `message_new` object to an input; None for anything that is not a user's private message."""
    if not isinstance(obj, dict) or not isinstance(obj.get("message"), dict):
        return None
    message = obj["message"]
    user_id, peer_id = _int(message.get("from_id")), _int(message.get("peer_id"))
    if user_id is None or user_id <= 0 or peer_id != user_id:
        return None  # communities, group conversations
    client_info = obj.get("client_info")
    caps = ClientCaps.of(client_info)
    language = language_of(client_info)
    text = message.get("text")[:TEXT_BOUND] if isinstance(message.get("text"), str) else ""
    raw_attachments = message.get("attachments", [])
    listed = isinstance(raw_attachments, list)
    attachments = [a for a in raw_attachments if isinstance(a, dict)] if listed else []
    kinds = {a.get("type") if isinstance(a.get("type"), str) else "?" for a in attachments}

    replied = replied_of(message.get("reply_message"))

    def result(event: dialog.ResidentInput | None, **extra: Any) -> IncomingMessage:
        return IncomingMessage(user_id, caps, language, event, replied=replied, **extra)

    payload = message.get("payload")
    action = action_of(payload)
    if action == "start":
        return result(dialog.Start())
    if action is not None:
        return result(dialog.Press(action))
    if payload not in (None, ""):
        # A button's payload that is not ours (not JSON, an array, another shape): a stale or forged button.
        return result(dialog.Press(None))
    if kinds - _HARMLESS or not listed:
        return result(dialog.Unsupported())
    photos = tuple(u for a in attachments if a.get("type") == "photo" if (u := largest_photo_url(a.get("photo"))))
    if "photo" in kinds:
        if not photos:
            return result(dialog.Failed())
        return result(None, photo_urls=photos, caption=text or None)
    if message.get("geo") is not None:
        return result(_place(message["geo"]))
    command = text.strip().lstrip("/").split("@")[0].lower() if text.strip() else ""
    if command in _COMMANDS and (text.strip().startswith("/") or " " not in text.strip()):
        return result(_COMMANDS[command])
    if text.strip().startswith("/"):
        return result(dialog.UnknownCommand())
    if text:
        return result(dialog.Text(text))
    return result(dialog.Unsupported())


@dataclass(frozen=True, slots=True)
class IncomingPress:
    """A callback button press (`message_event`)."""

    user_id: int
    event_id: str
    action: str | None


def parse_message_event(obj: Any) -> IncomingPress | None:
    """A `message_event` object to a press; None unless it is a user's press in a private chat."""
    if not isinstance(obj, dict):
        return None
    user_id, peer_id, event_id = _int(obj.get("user_id")), _int(obj.get("peer_id")), obj.get("event_id")
    if user_id is None or user_id <= 0 or peer_id != user_id or not isinstance(event_id, str):
        return None
    return IncomingPress(user_id, event_id, action_of(obj.get("payload")))
