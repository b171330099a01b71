"""One SQLite connection and the one thread that uses it, for storage/sqlite.py.

Every storage call is a unit of work: a function of a `sqlite3.Connection` (a read, or a whole transaction of
several statements) that must run whole, in order, in the connection's thread, in one hop from the event loop.
aiosqlite's public API runs one statement per awaited call: a transaction would then need an asyncio lock held
across its round trips, and every other task on that connection would wait for those round trips' loop turns
(5x the loop's CPU per unit and twice the latency in a micro-benchmark, and 90 % of the time held under load
before; see benchmarks/README.md). Its queue of whole calls is private (`Connection._execute`), and relying on it
kept the project pinned to one aiosqlite release. So each connection has a single-thread
`concurrent.futures.ThreadPoolExecutor` of its own (stdlib, public), and units go in with `loop.run_in_executor`:
the one thread creates the connection, runs the units one after another in the order they came, and closes it.

A unit whose caller is cancelled before the thread starts it is not run (aiosqlite ran it anyway); one already
running finishes. Either way the caller does not learn the outcome, as before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _open(path: Path | str, busy_timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout)
    db.row_factory = sqlite3.Row
    return db


class SqliteThread:
    """A `sqlite3.Connection` used only from its own thread; `run` hands it a unit of work."""

    def __init__(self, executor: ThreadPoolExecutor, db: sqlite3.Connection) -> None:
        self._executor = executor
        self._db = db
        self._closed = False

    @classmethod
    async def connect(cls, path: Path | str, *, busy_timeout: float, name: str = "sqlite") -> SqliteThread:
        """Open the database at `path` in a new thread: autocommit (transactions are begun explicitly), rows as
        `sqlite3.Row`, waiting up to `busy_timeout` seconds for another connection's lock."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        try:
            db = await asyncio.get_running_loop().run_in_executor(executor, partial(_open, path, busy_timeout))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, db)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the connection in its thread, after every unit handed over before it."""
        if self._closed:
            raise ValueError("Connection closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, self._db)

    async def close(self) -> None:
        """Close the connection (after the units already handed over) and let its thread end."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        finally:
            self._executor.shutdown(wait=False)
