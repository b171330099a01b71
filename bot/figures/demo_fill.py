"""`python -m bot demo-data`: a SQLite database filled with generated reports and their history."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from bot.core.models import Category
from bot.figures.demo import blocks, generate_block
from storage.sqlite import SqliteStorage
from storage.sqlite_bulk import Rows, load_file, rows_of


async def fill(path: Path, count: int, seed: int, start: datetime, days: int, tz: tzinfo) -> int:
    """Create (or open) the database at `path` and fill it with `count` reports filed over `days` from `start`, as
    they stand at the period's end (`start` + `days`); how many were loaded.

    The same seed gives the same reports; `tz` sets the local hours of the daily rhythm. Raises ValueError
    (storage.sqlite_bulk.NotEmpty) if the database holds reports already.
    """
    storage = await SqliteStorage.open(path)  # the schema and the default categories
    try:
        categories = await storage.list_categories()
    finally:
        await storage.close()
    return await asyncio.to_thread(fill_sync, path, count, seed, start.astimezone(tz), days, categories)


def fill_sync(
    path: Path,
    count: int,
    seed: int,
    start: datetime,
    days: int,
    categories: Sequence[Category],
    workers: int | None = None,
) -> int:
    """The work of `fill` on a database that has its schema and categories (CPU-heavy: run it in a worker thread).

    Blocks of reports are made in `workers` processes (default: one per CPU, at most 4) while this one writes.
    """
    now = start + timedelta(days=days)
    workers = workers or min(os.cpu_count() or 1, 4)
    return load_file(path, _batches(count, seed, start, days, list(categories), now, workers))


def _batches(
    count: int, seed: int, start: datetime, days: int, categories: list[Category], now: datetime, workers: int
) -> Iterator[Rows]:
    """The rows of each block in order, made a few blocks ahead in worker processes."""
    args = (count, seed, start, days, categories, now)
    if workers <= 1 or blocks(count) <= 1:
        for block in range(blocks(count)):
            yield block_rows(*args, block)
        return
    # spawn: the caller runs threads (storage, asyncio), which a forked child must not inherit half-way.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        ahead: deque[Future[Rows]] = deque()
        for block in range(blocks(count)):
            ahead.append(pool.submit(block_rows, *args, block))
            if len(ahead) > workers:  # bounded: rows wait in memory only a few blocks ahead of the writer
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def block_rows(
    count: int, seed: int, start: datetime, days: int, categories: list[Category], now: datetime, block: int
) -> Rows:
    """The rows of one block of generated reports (run in a worker process)."""
    return rows_of(list(generate_block(count, seed, start, days, categories, now, block)))
