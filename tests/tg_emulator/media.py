"""File storage for the emulator: uploaded bytes, file ids, PhotoSize lists and media objects."""

from __future__ import annotations

import mimetypes
import secrets
import struct
from dataclasses import dataclass
from typing import Any

# Real file_ids start with a type-specific prefix; keeping it makes logs look familiar.
_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}
_FOLDER = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "voice": "voice",
    "audio": "music",
    "animation": "animations",
    "sticker": "stickers",
    "video_note": "video_notes",
}
# Fallback size when the bytes are not a PNG/JPEG/GIF we can measure (tests often send junk).
DEFAULT_PHOTO_SIZE = (800, 600)
# Telegram's generated sizes ("s", "m", "x"); the uploaded original is always the last one.
_THUMB_SIDES = (90, 320, 800)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG image, or None if the format is not recognised."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            # SOFn markers carry the frame size; C4/C8/CC are DHT/JPG/DAC, not frames.
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + seg_len
    return None


def _extension(kind: str, data: bytes, file_name: str | None) -> str:
    if file_name and "." in file_name:
        return file_name.rsplit(".", 1)[1].lower()[:8]
    if data.startswith(b"\x89PNG"):
        return "png"
    if data[:3] == b"GIF":
        return "gif"
    if data[:4] == b"OggS":
        return "oga"
    return {"photo": "jpg", "video": "mp4", "voice": "oga", "audio": "mp3", "animation": "mp4",
            "sticker": "webp", "video_note": "mp4"}.get(kind, "bin")


@dataclass
class StoredFile:
    """One file as Telegram knows it: ids, the path getFile reports, and the exact bytes."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def to_file_json(self) -> dict[str, Any]:
        """The ``File`` object returned by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


class FileStore:
    """All files the emulator has seen, addressable by file_id and by download path."""

    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        # file_id -> the whole PhotoSize list it belongs to (so a file_id can be re-sent).
        self.photo_sets: dict[str, list[dict[str, Any]]] = {}
        # file_id -> the Document/Voice/... object it was created with.
        self.media_objects: dict[str, dict[str, Any]] = {}
        self._counter = 0

    def add(self, data: bytes, kind: str = "document", file_name: str | None = None,
            mime_type: str | None = None) -> StoredFile:
        """Store bytes under a fresh file_id and return the record."""
        self._counter += 1
        file_id = _ID_PREFIX.get(kind, "BQACAgIAAxkBAAI") + secrets.token_urlsafe(33)
        unique = "AQAD" + secrets.token_urlsafe(9)
        path = f"{_FOLDER.get(kind, 'documents')}/file_{self._counter}.{_extension(kind, data, file_name)}"
        if mime_type in (None, "application/octet-stream") and file_name:
            # aiohttp labels every upload octet-stream; the file name tells more, as Telegram does.
            mime_type = mimetypes.guess_type(file_name)[0] or mime_type
        stored = StoredFile(file_id, unique, kind, data, path, file_name, mime_type)
        self.files[file_id] = stored
        self.by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The stored file for a file_id, or None."""
        return self.files.get(file_id)

    def make_photo(self, data: bytes) -> list[dict[str, Any]]:
        """Store an image and build its PhotoSize list (smallest first, original last).

        The emulator does not resize: every size serves the original bytes, so downloading the
        largest size returns exactly what was uploaded.
        """
        width, height = image_size(data) or DEFAULT_PHOTO_SIZE
        longest = max(width, height, 1)
        dims = [
            (max(1, round(width * side / longest)), max(1, round(height * side / longest)))
            for side in _THUMB_SIDES
            if side < longest
        ]
        dims.append((width, height))
        if len(dims) < 2:
            # Telegram always returns at least a thumbnail plus the photo itself.
            dims.insert(0, (width, height))
        sizes: list[dict[str, Any]] = []
        for w, h in dims:
            stored = self.add(data, "photo")
            sizes.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "width": w, "height": h, "file_size": len(data)})
        for size in sizes:
            self.photo_sets[size["file_id"]] = sizes
        return sizes

    def make_media(self, kind: str, data: bytes, file_name: str | None = None,
                   mime_type: str | None = None) -> dict[str, Any]:
        """Store a non-photo file and build the matching Telegram object (Document, Voice, ...)."""
        stored = self.add(data, kind, file_name, mime_type)
        obj: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                               "file_size": len(data)}
        if kind in ("document", "video", "audio", "animation") and file_name:
            obj["file_name"] = file_name
        if stored.mime_type and kind in ("document", "video", "audio", "animation", "voice"):
            obj["mime_type"] = stored.mime_type
        if kind in ("video", "animation", "video_note", "voice", "audio"):
            obj["duration"] = 1
        if kind in ("video", "animation", "sticker"):
            w, h = image_size(data) or (640, 480)
            obj.update(width=w, height=h)
        if kind == "video_note":
            obj["length"] = 240
        if kind == "sticker":
            obj.update(type="regular", is_animated=False, is_video=False)
        self.media_objects[stored.file_id] = obj
        return obj

    def register_object(self, kind: str, obj: dict[str, Any]) -> None:
        """Remember a file-bearing object injected by a test so the bot can getFile / re-send it."""
        file_id = obj.get("file_id")
        if not isinstance(file_id, str) or file_id in self.files:
            return
        placeholder = f"emulator placeholder for {kind} {file_id}".encode()
        stored = StoredFile(file_id, str(obj.get("file_unique_id") or "AQAD" + secrets.token_urlsafe(9)),
                            kind, placeholder, f"{_FOLDER.get(kind, 'documents')}/{file_id[:16]}.bin")
        self.files[file_id] = stored
        self.by_path[stored.file_path] = stored
        self.media_objects[file_id] = obj
