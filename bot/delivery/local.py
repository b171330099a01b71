"""Delivery from the SQLite outbox in a process of its own, on the intake's host (BOT_ROLE=intake + worker).

The SQLite outbox hands each chat's next message to whoever asks: two delivering processes on one database would
send everything twice. A lock file beside the database admits one (the kernel drops it when its process dies,
even by SIGKILL). The intake tells the worker about new messages with a datagram on a Unix socket beside the
database, so a card is posted at once rather than at the worker's next poll; a lost datagram only means the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

log = logging.getLogger(__name__)

# sun_path holds 108 bytes with the terminating NUL.
MAX_SOCKET_PATH = 107


class AnotherWorker(Exception):
    """Another process already delivers from this database."""


def lock_path(database: Path) -> Path:
    """The lock file of the process that delivers from `database`."""
    return database.with_name(database.name + ".delivery.lock")


def wake_path(database: Path) -> Path:
    """The worker's wake-up socket for `database`."""
    return database.with_name(database.name + ".wake")


def _take_lock(database: Path) -> int:
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AnotherWorker(str(database)) from None
    return fd


@contextlib.asynccontextmanager
async def delivery_lock(database: Path) -> AsyncIterator[None]:
    """Hold the right to deliver from `database` (one process at a time), or raise AnotherWorker."""
    fd = await asyncio.to_thread(_take_lock, database)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class _WakeProtocol(asyncio.DatagramProtocol):
    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def datagram_received(self, data: bytes, addr: object) -> None:
        self._wake()


@contextlib.asynccontextmanager
async def wake_listener(database: Path, wake: Callable[[], None]) -> AsyncIterator[bool]:
    """Call `wake` whenever an intake process signals new messages; yields whether the socket is listening."""
    path = wake_path(database)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        log.warning("DATA_DIR is too long a path for the wake-up socket; the worker polls the outbox every second")
        yield False
        return
    loop = asyncio.get_running_loop()
    try:
        # Only the lock holder gets here: a socket file left by a killed worker is stale.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _WakeProtocol(wake), local_addr=str(path), family=socket.AF_UNIX
        )
    except OSError as exc:
        # A volume that takes no sockets must not stop delivery: the poll still finds every message.
        log.warning("no wake-up socket beside the database (%s); the worker polls the outbox every second", exc)
        yield False
        return
    try:
        yield True
    finally:
        transport.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class WakeSender:
    """Signals the worker process that messages were queued; never blocks, never fails the caller."""

    def __init__(self, database: Path) -> None:
        self._path = str(wake_path(database))
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def __call__(self) -> None:
        """One datagram; a worker that is down or busy (full buffer) finds the messages at its next poll."""
        with contextlib.suppress(OSError):
            self._sock.sendto(b"!", self._path)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()
