"""Builders for VK API objects (photos, attachments, geo, client_info) and tiny image helpers.

Every shape here is checked against vkbottle_types' pydantic models in the test-suite, so the
real bot parses what the emulator sends exactly as it would parse VK's own payloads.
"""

from __future__ import annotations

import copy
import struct
import time
import zlib
from typing import Any

API_VERSION = "5.199"
# The message "version" field VK sends with every message object (required by vkbottle_types).
MESSAGE_VERSION = 10_000_001
# Peers at or above this id are group chats (2000000000 + chat_id), as in VK.
CHAT_PEER_OFFSET = 2_000_000_000
# Album VK reports for photos uploaded to private messages.
MESSAGES_ALBUM_ID = -3

# (type, longest side) of the size ladder VK returns for a photo, smallest first.
PHOTO_SIZE_LADDER: tuple[tuple[str, int], ...] = (
    ("s", 75),
    ("m", 130),
    ("x", 604),
    ("y", 807),
    ("z", 1280),
    ("w", 2560),
)

DEFAULT_BUTTON_ACTIONS: tuple[str, ...] = (
    "text",
    "vkpay",
    "open_app",
    "location",
    "open_link",
    "callback",
    "intent_subscribe",
    "intent_unsubscribe",
)

LANG_IDS = {"ru": 0, "uk": 1, "be": 2, "en": 3, "es": 4, "fi": 5, "de": 6, "it": 7}

ATTACHMENT_KINDS = ("sticker", "audio", "audio_message", "video", "doc", "wall", "poll", "link", "graffiti")


def now() -> int:
    """Current unix time as VK reports it (whole seconds)."""
    return int(time.time())


def default_client_info(**overrides: Any) -> dict[str, Any]:
    """A modern client's `client_info`: every button action, keyboards on, Russian UI."""
    info: dict[str, Any] = {
        "button_actions": list(DEFAULT_BUTTON_ACTIONS),
        "keyboard": True,
        "inline_keyboard": True,
        "carousel": True,
        "lang_id": 0,
    }
    if isinstance(overrides.get("lang_id"), str):
        # Accept "en"/"ru" for convenience; VK itself sends the numeric id.
        overrides["lang_id"] = LANG_IDS.get(overrides["lang_id"], 0)
    info.update({k: v for k, v in overrides.items() if v is not None})
    return info


def geo_object(lat: float, lon: float, place: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `geo` field of a message sent with a location (a point plus a place)."""
    return {
        "type": "point",
        "coordinates": {"latitude": float(lat), "longitude": float(lon)},
        "place": place if place is not None else {"title": f"{lat:.6f}, {lon:.6f}", "country": "", "city": ""},
    }


def reply_message(original: dict[str, Any]) -> dict[str, Any]:
    """The `reply_message` of a message that answers `original` (a stored messages.message), as VK sends it."""
    reply: dict[str, Any] = {
        key: original[key]
        for key in ("date", "from_id", "text", "attachments", "conversation_message_id", "peer_id", "id")
    }
    for key in ("geo", "payload", "update_time"):
        if original.get(key) is not None:
            reply[key] = original[key]
    if original.get("fwd_messages"):
        reply["fwd_messages"] = original["fwd_messages"]
    return copy.deepcopy(reply)


def photo_sizes(base_url: str, width: int, height: int) -> list[dict[str, Any]]:
    """The `sizes` ladder for a photo of width x height: smallest first, the largest last.

    All sizes point at the same stored bytes (the emulator does not resize), the size
    dimensions are what VK would report for a downscaled copy.
    """
    longest = max(width, height, 1)
    sizes: list[dict[str, Any]] = []
    for size_type, limit in PHOTO_SIZE_LADDER:
        scale = min(1.0, limit / longest)
        sizes.append(
            {
                "type": size_type,
                "url": f"{base_url}?size={size_type}",
                "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
            }
        )
        if limit >= longest and size_type not in ("s", "m"):
            # VK always sends s/m/x (capped at the original) and stops once a size holds the original.
            break
    return sizes


def photo_object(
    *,
    photo_id: int,
    owner_id: int,
    access_key: str,
    url: str,
    width: int,
    height: int,
    date: int,
    album_id: int = MESSAGES_ALBUM_ID,
) -> dict[str, Any]:
    """A `photos.photo` object with sizes and `orig_photo`, as in message attachments."""
    sizes = photo_sizes(url, width, height)
    return {
        "album_id": album_id,
        "date": date,
        "id": photo_id,
        "owner_id": owner_id,
        "access_key": access_key,
        "has_tags": False,
        "sizes": sizes,
        "orig_photo": {"type": "base", "url": url, "width": width, "height": height},
        "text": "",
        "web_view_token": access_key[:10],
    }


def sample_attachment(kind: str, owner_id: int, item_id: int, base_url: str) -> dict[str, Any]:
    """A plausible non-photo attachment (for bad-input tests): sticker, audio, video, doc, ..."""
    date = now()
    key = f"{item_id:08x}ac"
    objects: dict[str, dict[str, Any]] = {
        "sticker": {
            "product_id": 279,
            "sticker_id": 9000 + item_id % 100,
            "inner_type": "base_sticker_new",
            "is_allowed": True,
            "images": [{"url": f"{base_url}/files/sticker_{s}.png", "width": s, "height": s} for s in (64, 128, 256)],
            "images_with_background": [
                {"url": f"{base_url}/files/sticker_bg_{s}.png", "width": s, "height": s} for s in (64, 128, 256)
            ],
        },
        "audio": {
            "id": item_id,
            "owner_id": owner_id,
            "artist": "Test Artist",
            "title": "Test Track",
            "duration": 187,
            "url": f"{base_url}/files/audio_{item_id}.mp3",
            "date": date,
            "access_key": key,
        },
        "audio_message": {
            "id": item_id,
            "owner_id": owner_id,
            "duration": 3,
            "waveform": [0, 3, 7, 12, 20, 31, 25, 14, 6, 1],
            "link_ogg": f"{base_url}/files/voice_{item_id}.ogg",
            "link_mp3": f"{base_url}/files/voice_{item_id}.mp3",
            "access_key": key,
            "transcript_state": "done",
            "transcript": "",
        },
        "video": {
            "id": item_id,
            "owner_id": owner_id,
            "title": "Test video",
            "description": "",
            "duration": 42,
            "date": date,
            "views": 1,
            "access_key": key,
            "image": [
                {"url": f"{base_url}/files/video_{item_id}_{w}.jpg", "width": w, "height": w * 9 // 16}
                for w in (130, 320, 800)
            ],
            "type": "video",
        },
        "doc": {
            "id": item_id,
            "owner_id": owner_id,
            "title": "report.pdf",
            "size": 12345,
            "ext": "pdf",
            "date": date,
            "type": 1,
            "url": f"{base_url}/files/doc_{item_id}.pdf",
            "access_key": key,
        },
        "wall": {
            "id": item_id,
            "owner_id": owner_id,
            "from_id": owner_id,
            "date": date,
            "post_type": "post",
            "text": "A reposted wall post",
            "attachments": [],
            "comments": {"count": 0, "can_post": 0},
            "likes": {"count": 0, "user_likes": 0, "can_like": 1, "can_publish": 1},
            "reposts": {"count": 0, "user_reposted": 0},
        },
        "poll": {
            "id": item_id,
            "owner_id": owner_id,
            "created": date,
            "question": "Test poll?",
            "votes": 0,
            "answers": [
                {"id": 1, "rate": 0.0, "text": "Yes", "votes": 0},
                {"id": 2, "rate": 0.0, "text": "No", "votes": 0},
            ],
            "anonymous": False,
            "multiple": False,
            "answer_ids": [],
            "end_date": 0,
            "closed": False,
            "is_board": False,
            "can_edit": False,
            "can_vote": True,
            "can_report": True,
            "can_share": True,
            "disable_unvote": False,
        },
        "link": {
            "url": "https://example.com/article",
            "title": "Example article",
            "caption": "example.com",
            "description": "",
            "is_favorite": False,
        },
        "graffiti": {
            "id": item_id,
            "owner_id": owner_id,
            "url": f"{base_url}/files/graffiti_{item_id}.png",
            "width": 720,
            "height": 720,
            "access_key": key,
        },
    }
    if kind not in objects:
        msg = f"unknown attachment kind {kind!r}; known: {', '.join(ATTACHMENT_KINDS)}"
        raise ValueError(msg)
    return {"type": kind, kind: objects[kind]}


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height of a PNG, GIF, JPEG or WebP image, or None when the bytes are not one."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
            return width, height
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Scan JPEG markers for the first SOFn frame header."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


def image_content_type(data: bytes, filename: str | None = None) -> str:
    """MIME type guessed from magic bytes (then the file name), defaulting to image/jpeg."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"\xff\xd8":
        return "image/jpeg"
    lowered = (filename or "").lower()
    for ext, mime in ((".png", "image/png"), (".gif", "image/gif"), (".webp", "image/webp")):
        if lowered.endswith(ext):
            return mime
    return "image/jpeg"


def make_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid, tiny solid-colour PNG (for tests that need real image bytes)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
