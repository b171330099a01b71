"""One SQLite connection and the one thread that uses it, for storage/sqlite.py.

Every storage call is a unit of work: a function of a `sqlite3.Connection` (a read, or a whole transaction of
several statements) that must run whole, in order, in the connection's thread, in one hop from the event loop.

* aiosqlite's public API runs one statement per awaited call. A transaction would need an asyncio lock held across
  its round trips, and every other task on the connection would wait for those round trips' loop turns: 5-10 times
  the loop's CPU per unit and a fifth of the units a second or less (`python -m benchmarks.units sqlite`). Its
  queue of whole calls is private (`Connection._execute`); relying on it pinned the project to one aiosqlite release.
* A single-thread `concurrent.futures.ThreadPoolExecutor` per connection with `loop.run_in_executor` does the job on
  public APIs, but its futures (a lock and a condition each, chained to an asyncio future) cost 9-14 µs more of the
  loop's CPU per unit, at about 4 units per resident update: 7-11 % fewer updates a second in interleaved runs of
  the intake benchmark (benchmarks/README.md).
* So this is aiosqlite's own design on the standard library's public pieces: a thread, a `queue.SimpleQueue` of
  units and `loop.call_soon_threadsafe` to hand each result back. It costs what aiosqlite's private queue did.

As with aiosqlite, a unit whose caller was cancelled still runs (its result is dropped): the caller does not learn
whether a cancelled transaction committed, and a unit already queued cannot be taken back.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
# A unit on its way to the thread: where its result goes, the work, and what it is called with; None ends the thread.
_Job = tuple[asyncio.Future[Any], Callable[[Any], Any], Any] | None


class SqliteThread:
    """A `sqlite3.Connection` used only from its own thread; `run` hands it a unit of work."""

    def __init__(self, jobs: queue.SimpleQueue[_Job], db: sqlite3.Connection) -> None:
        self._jobs = jobs
        self._db = db
        self._closed = False

    @classmethod
    async def connect(cls, path: Path | str, *, busy_timeout: float, name: str = "sqlite") -> SqliteThread:
        """Open the database at `path` in a new thread: autocommit (transactions are begun explicitly), rows as
        `sqlite3.Row`, waiting up to `busy_timeout` seconds for another connection's lock."""
        jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        # A daemon: an unclosed connection never keeps the process alive; a unit cut off at exit rolls back, as
        # one cut off by a kill does.
        threading.Thread(target=_serve, args=(jobs,), name=name, daemon=True).start()
        try:
            db = await _hand_over(jobs, _open, (path, busy_timeout))
        except BaseException:
            jobs.put(None)
            raise
        return cls(jobs, db)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the connection in its thread, after every unit handed over before it."""
        if self._closed:
            raise ValueError("Connection closed")
        return await _hand_over(self._jobs, work, self._db)

    async def close(self) -> None:
        """Close the connection (after the units already handed over) and end its thread."""
        if self._closed:
            return
        self._closed = True
        try:
            await _hand_over(self._jobs, sqlite3.Connection.close, self._db)
        finally:
            self._jobs.put(None)


def _open(args: tuple[Path | str, float]) -> sqlite3.Connection:
    path, busy_timeout = args
    db = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout)
    db.row_factory = sqlite3.Row
    return db


def _hand_over(jobs: queue.SimpleQueue[_Job], work: Callable[[Any], T], arg: Any) -> asyncio.Future[T]:
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    jobs.put((future, work, arg))
    return future


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
    """The connection's thread: run each unit in turn and hand its result (or exception) back to its loop."""
    while (job := jobs.get()) is not None:
        future, work, arg = job
        try:
            result = work(arg)
        except BaseException as exc:  # handed to the caller, whatever it is
            _reply(future, _fail, exc)
        else:
            _reply(future, _succeed, result)


def _reply(future: asyncio.Future[Any], settle: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the result
        future.get_loop().call_soon_threadsafe(settle, future, value)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # a cancelled caller's result is dropped
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, StopIteration):  # a future cannot carry it
        exc = RuntimeError(f"unit of work raised {exc!r}")
    future.set_exception(exc)
