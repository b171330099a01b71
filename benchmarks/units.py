"""Micro-benchmarks of the storage plumbing: a SQLite unit of work's trip to its thread, and a Redis script call.

`python -m benchmarks.units sqlite [--tasks 50] [--rounds 200] [--repeat 3]`
`python -m benchmarks.units redis [--tasks 20] [--calls 20000] [--repeat 3]`

sqlite: --tasks tasks, each --rounds times a one-row read and a transaction (BEGIN IMMEDIATE, two INSERTs and an
INSERT OR REPLACE, COMMIT) on one connection (WAL, synchronous=NORMAL, a temp file), nothing else on the loop. Ways:
`thread` (storage/sqlite_thread.py, what the bot uses), `executor` (a single-thread ThreadPoolExecutor and
`loop.run_in_executor`), `aiosqlite+lock` (aiosqlite's public calls, a statement each, with an asyncio.Lock around
every unit, or another task's open transaction would show; measured only where aiosqlite is installed:
`uv run --with aiosqlite python -m benchmarks.units sqlite`). Per way, the median of --repeat runs: the event loop
thread's CPU per unit, units a second, and the 99th percentile of a unit's time.

redis: --tasks tasks make --calls EVALSHA in all (a script that SETs and GETs a key) against BENCH_REDIS_URL. Ways:
`bounded` (storage/redis_pool.py, what the bot uses: at most 64 connections), `semaphore` (redis-py's plain
ConnectionPool(max_connections=64) with an asyncio.Semaphore around `execute_command`), `blocking` (redis-py's
BlockingConnectionPool(max_connections=64, timeout=30)) and `unbounded` (redis-py's default pool, for reference).
Per way, the median of --repeat runs: this process's CPU per EVALSHA (Redis is another process) and calls a second.

The ways run interleaved, round after round. One summary line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from benchmarks.common import log, percentile, print_summary, run_benchmark
from storage.redis_pool import connect
from storage.sqlite_thread import SqliteThread

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SCHEMA = """
CREATE TABLE drafts (key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE reports (id INTEGER PRIMARY KEY, key TEXT, body TEXT);
CREATE TABLE events (id INTEGER PRIMARY KEY, report_id INTEGER, kind TEXT);
"""
LUA = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"

Unit = Callable[[sqlite3.Connection], Any]


def read(key: str) -> Unit:
    return lambda db: db.execute("SELECT body FROM drafts WHERE key = ?", (key,)).fetchone()


def transaction(key: str, i: int) -> Unit:
    def work(db: sqlite3.Connection) -> Any:
        db.execute("BEGIN IMMEDIATE")
        try:
            report = db.execute("INSERT INTO reports (key, body) VALUES (?, ?)", (key, "x" * 200)).lastrowid
            db.execute("INSERT INTO events (report_id, kind) VALUES (?, 'created')", (report,))
            db.execute("INSERT OR REPLACE INTO drafts (key, body) VALUES (?, ?)", (key, f"draft {i}"))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return report

    return work


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL").fetchall()
    db.execute("PRAGMA synchronous=NORMAL")


class ThreadWay:
    """storage/sqlite_thread.py."""

    async def open(self, path: Path) -> None:
        self.conn = await SqliteThread.connect(path, busy_timeout=5)
        await self.conn.run(_setup)

    async def read(self, key: str) -> Any:
        return await self.conn.run(read(key))

    async def transaction(self, key: str, i: int) -> Any:
        return await self.conn.run(transaction(key, i))

    async def close(self) -> None:
        await self.conn.close()


class ExecutorWay:
    """A single-thread ThreadPoolExecutor per connection, units through loop.run_in_executor."""

    async def open(self, path: Path) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.db = await self._run(lambda _: sqlite3.connect(path, isolation_level=None, timeout=5), None)
        await self._run(_setup, self.db)

    def _run(self, work: Callable[[Any], Any], arg: Any) -> Awaitable[Any]:
        return asyncio.get_running_loop().run_in_executor(self.executor, work, arg)

    async def read(self, key: str) -> Any:
        return await self._run(read(key), self.db)

    async def transaction(self, key: str, i: int) -> Any:
        return await self._run(transaction(key, i), self.db)

    async def close(self) -> None:
        await self._run(sqlite3.Connection.close, self.db)
        self.executor.shutdown(wait=False)


class AiosqliteLockWay:
    """aiosqlite's public API: a statement per awaited call, an asyncio.Lock around each unit."""

    async def open(self, path: Path) -> None:
        import aiosqlite

        self.conn = await aiosqlite.connect(path, isolation_level=None, timeout=5)
        await self.conn.execute("PRAGMA journal_mode=WAL")
        await self.conn.execute("PRAGMA synchronous=NORMAL")
        self.lock = asyncio.Lock()

    async def read(self, key: str) -> Any:
        async with self.lock:
            rows = await self.conn.execute_fetchall("SELECT body FROM drafts WHERE key = ?", (key,))
        return next(iter(rows), None)

    async def transaction(self, key: str, i: int) -> Any:
        async with self.lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self.conn.execute("INSERT INTO reports (key, body) VALUES (?, ?)", (key, "x" * 200))
                report = cursor.lastrowid
                await cursor.close()
                await self.conn.execute("INSERT INTO events (report_id, kind) VALUES (?, 'created')", (report,))
                await self.conn.execute("INSERT OR REPLACE INTO drafts (key, body) VALUES (?, ?)", (key, f"draft {i}"))
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")
            return report

    async def close(self) -> None:
        await self.conn.close()


async def sqlite_round(way: Any, tasks: int, rounds: int) -> tuple[float, float, float]:
    """(loop thread's CPU µs per unit, units a second, p99 ms) of one run."""
    with tempfile.TemporaryDirectory(prefix="units-") as tmp:
        path = Path(tmp) / "units.sqlite3"
        with sqlite3.connect(path) as init:
            init.executescript(SCHEMA)
        init.close()
        await way.open(path)
        times: list[float] = []

        async def resident(n: int) -> None:
            key = f"r{n}"
            for i in range(rounds):
                started = time.perf_counter()
                await way.read(key)
                times.append(time.perf_counter() - started)
                started = time.perf_counter()
                await way.transaction(key, i)
                times.append(time.perf_counter() - started)

        await asyncio.gather(*(way.read("warm-up") for _ in range(100)))
        cpu, wall = time.thread_time(), time.perf_counter()
        await asyncio.gather(*(resident(n) for n in range(tasks)))
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        await way.close()
    units = len(times)
    return cpu / units * 1e6, units / wall, percentile(times, 99) * 1000


class SemaphoreRedis(aioredis.Redis):
    """redis-py's plain pool with an asyncio.Semaphore around execute_command."""

    def __init__(self, url: str, max_connections: int, timeout: float) -> None:
        pool = aioredis.ConnectionPool.from_url(url, max_connections=max_connections, decode_responses=True)
        super().__init__(connection_pool=pool)
        self.slots = asyncio.Semaphore(max_connections)
        self.wait_timeout = timeout

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.slots.locked():
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await self.slots.acquire()
            except TimeoutError:
                raise RedisConnectionError("No connection available.") from None
        else:
            await self.slots.acquire()
        try:
            return await super().execute_command(*args, **options)
        finally:
            self.slots.release()

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool=True)


def redis_client(way: str) -> aioredis.Redis:
    if way == "bounded":
        return connect(REDIS_URL, max_connections=64, timeout=30, decode_responses=True)
    if way == "semaphore":
        return SemaphoreRedis(REDIS_URL, 64, 30)
    if way == "blocking":
        blocking = aioredis.BlockingConnectionPool.from_url(
            REDIS_URL, max_connections=64, timeout=30, decode_responses=True
        )
        return aioredis.Redis.from_pool(blocking)
    return aioredis.Redis.from_url(REDIS_URL, decode_responses=True)


async def redis_round(way: str, tasks: int, calls: int) -> tuple[float, float]:
    """(CPU µs per EVALSHA, EVALSHA a second) of one run."""
    client = redis_client(way)
    script = client.register_script(LUA)
    prefix = f"bench-units:{secrets.token_hex(4)}"
    try:
        await script(keys=[prefix], args=["v"])

        async def caller(n: int) -> None:
            for _ in range(calls // tasks):
                await script(keys=[f"{prefix}:{n}"], args=["v"])

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(tasks)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await client.delete(prefix, *(f"{prefix}:{n}" for n in range(tasks)))
    finally:
        await client.aclose()
    done = calls // tasks * tasks
    return cpu / done * 1e6, done / wall


async def main(args: argparse.Namespace) -> int:
    results: dict[str, list[tuple[float, ...]]] = {}
    if args.what == "sqlite":
        ways: dict[str, Callable[[], Any]] = {"thread": ThreadWay, "executor": ExecutorWay}
        try:
            import aiosqlite  # noqa: F401
        except ImportError:
            log("aiosqlite is not installed: aiosqlite+lock left out (uv run --with aiosqlite ...)")
        else:
            ways["aiosqlite+lock"] = AiosqliteLockWay
        for i in range(args.repeat):
            for name, make in ways.items():
                result = await sqlite_round(make(), args.tasks, args.rounds)
                log(f"round {i + 1} {name}: {result[0]:.1f} us/unit, {result[1]:.0f} units/s, p99 {result[2]:.2f} ms")
                results.setdefault(name, []).append(result)
        parts = [
            f"{name} {med(r, 0):.1f} us loop CPU/unit {med(r, 1):.0f} units/s p99 {med(r, 2):.2f} ms"
            for name, r in results.items()
        ]
        print_summary(f"units sqlite ({args.tasks} tasks x {args.rounds} rounds x 2 units): " + "; ".join(parts))
    else:
        for i in range(args.repeat):
            for name in ("bounded", "semaphore", "blocking", "unbounded"):
                result = await redis_round(name, args.tasks, args.calls)
                log(f"round {i + 1} {name}: {result[0]:.1f} us CPU/EVALSHA, {result[1]:.0f}/s")
                results.setdefault(name, []).append(result)
        parts = [f"{name} {med(r, 0):.1f} us CPU/EVALSHA {med(r, 1):.0f}/s" for name, r in results.items()]
        print_summary(f"units redis ({args.tasks} tasks, {args.calls} EVALSHA): " + "; ".join(parts))
    return 0


def med(results: list[tuple[float, ...]], index: int) -> float:
    return statistics.median(r[index] for r in results)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["sqlite", "redis"])
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.tasks is None:
        args.tasks = 50 if args.what == "sqlite" else 20
    return args


if __name__ == "__main__":
    arguments = parse()
    raise SystemExit(run_benchmark(lambda: main(arguments), hard_timeout=600, name=f"units {arguments.what}"))
