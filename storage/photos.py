"""The photo archive: content-addressed files under DATA_DIR, so reports outlive file ids.

Beside a photo, the archive remembers the ids a messenger gave it (e.g. Telegram's file_id for this bot): sending
a photo by its id costs the messenger nothing to store again and us nothing to upload. The bytes stay the truth;
an id the messenger no longer knows is simply replaced by an upload.

Photos are archived without their metadata (storage/photo_metadata.py): what is kept and sent is the clean copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

from storage.photo_metadata import strip_metadata

MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAX_ALIAS_BYTES = 1024
ALIASES_IN_MEMORY = 10_000  # the photos of the latest reports: their cards and answers go out soon
_ALIAS_KEY = re.compile(r"^[a-z0-9_-]{1,40}$")


def _cleaned(data: bytes) -> tuple[bytes, str]:
    """The photo without metadata (`data` itself when it had none) and its SHA-256; CPU work, run in a thread."""
    clean = strip_metadata(data)
    if clean == data:
        clean = data
    return clean, hashlib.sha256(clean).hexdigest()


class PhotoArchive:
    """Stores photo bytes by SHA-256; the same photo is kept once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._aliases: OrderedDict[tuple[str, str], str] = OrderedDict()

    def _cache_alias(self, digest: str, key: str, value: str) -> None:
        self._aliases[(digest, key)] = value
        self._aliases.move_to_end((digest, key))
        if len(self._aliases) > ALIASES_IN_MEMORY:
            self._aliases.popitem(last=False)

    def path_of(self, digest: str) -> Path:
        """Where the photo with this digest lives (two-level fan-out keeps folders small)."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("not a sha256 digest")
        return self.directory / digest[:2] / digest

    def _alias_path(self, digest: str, key: str) -> Path:
        if not _ALIAS_KEY.match(key):
            raise ValueError("bad alias key")
        return self.path_of(digest).with_name(f"{digest}.{key}")

    async def put(self, data: bytes, aliases: Mapping[str, str] | None = None) -> str:
        """Archive a photo without its metadata and return the digest of what is kept; durable once this returns.

        The messenger ids given (`aliases`) are kept only when the photo had no metadata to remove: an id names the
        bytes as uploaded, so sending by it would send the metadata again. BadPhoto when it is empty or no image.
        """
        clean, digest = await asyncio.to_thread(_cleaned, data)
        kept = dict(aliases or {}) if clean is data else {}
        await asyncio.to_thread(self._write, digest, clean, kept)
        for key, value in kept.items():
            self._cache_alias(digest, key, value)
        return digest

    def _write(self, digest: str, data: bytes, aliases: dict[str, str]) -> None:
        path = self.path_of(digest)
        for key, value in aliases.items():
            self._write_alias(digest, key, value)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{digest}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # Rename is atomic: a reader never sees half a photo, even after a crash.
        os.replace(tmp, path)

    def _write_alias(self, digest: str, key: str, value: str) -> None:
        path = self._alias_path(digest, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A cache, not a record: no fsync; a torn or missing alias only means one more upload.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(value, encoding="utf-8")
        os.replace(tmp, path)

    async def remember(self, digest: str, key: str, value: str) -> None:
        """Remember the id a messenger (`key`, e.g. "tg123456") gave this photo."""
        await asyncio.to_thread(self._write_alias, digest, key, value)
        self._cache_alias(digest, key, value)

    async def alias(self, digest: str, key: str) -> str | None:
        """The id a messenger gave this photo, if remembered."""
        if (value := self._aliases.get((digest, key))) is not None:
            return value
        # Another process (scale-out) may have archived it: the file beside the photo is shared.
        value = await asyncio.to_thread(self._read_alias, digest, key)
        if value is not None:
            self._cache_alias(digest, key, value)
        return value

    def _read_alias(self, digest: str, key: str) -> str | None:
        try:
            with open(self._alias_path(digest, key), encoding="utf-8") as fh:
                value = fh.read(MAX_ALIAS_BYTES).strip()
        except FileNotFoundError:
            return None
        return value or None

    async def get(self, digest: str) -> bytes:
        """The bytes of an archived photo."""
        return await asyncio.to_thread(self.path_of(digest).read_bytes)

    async def has(self, digest: str) -> bool:
        """Whether the photo is archived."""
        return await asyncio.to_thread(self.path_of(digest).exists)

    async def erase(self, digests: Sequence[str]) -> None:
        """Delete photos and the ids messengers gave them (a resident's data erased); missing ones are skipped."""
        wanted = set(digests)
        await asyncio.to_thread(self._erase, [d for d in wanted])
        for key in [k for k in self._aliases if k[0] in wanted]:
            del self._aliases[key]

    def _erase(self, digests: list[str]) -> None:
        for digest in digests:
            path = self.path_of(digest)
            for alias in path.parent.glob(f"{digest}.*"):
                alias.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
