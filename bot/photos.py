"""The photo archive: content-addressed files under DATA_DIR, so reports outlive file ids."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

MAX_PHOTO_BYTES = 20 * 1024 * 1024


class PhotoArchive:
    """Stores photo bytes by SHA-256; the same photo is kept once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, digest: str) -> Path:
        """Where the photo with this digest lives (two-level fan-out keeps folders small)."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("not a sha256 digest")
        return self.directory / digest[:2] / digest

    async def put(self, data: bytes) -> str:
        """Archive bytes and return their digest; durable once this returns."""
        if not data:
            raise ValueError("empty photo")
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, digest, data)
        return digest

    def _write(self, digest: str, data: bytes) -> None:
        path = self.path_of(digest)
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

    async def get(self, digest: str) -> bytes:
        """The bytes of an archived photo."""
        return await asyncio.to_thread(self.path_of(digest).read_bytes)

    async def has(self, digest: str) -> bool:
        """Whether the photo is archived."""
        return await asyncio.to_thread(self.path_of(digest).exists)
