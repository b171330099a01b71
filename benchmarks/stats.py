"""Figures over a big city's year: `/stats`, `/problems` and `/export` over 1,000,000 reports with full history.

`python -m benchmarks.stats [--reports 1000000] [--repeat 3] [--database PATH]` (see README.md and
benchmarks/README.md).

1. Not timed (its time is reported): the demo-data generator (`python -m bot demo-data`) fills a new SQLite file
   with --reports reports filed over the last year and their whole history. With --database, an existing file
   filled that way is used as it is.
2. `/stats` for the last month and for the last year, as the bot answers it: the figures (storage), the days of
   the chart (storage), the words and the chart (drawn in a worker thread). Each --repeat times; the median.
3. `/problems` for the last week; 4. `/export` for the last month: the CSV and the XLSX, streamed; rows per second
   of each, and how much the process's memory grew while writing them (sampled every 20 ms).

One summary line on stdout; progress on stderr. Exit 0 when every answer holds what was asked; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.common import log, print_summary, run_benchmark, temp_dir
from bot.core.config import CoreConfig
from bot.core.models import ChatRef, Messenger
from bot.core.periods import Period
from bot.core.routing import StaffRouting
from bot.core.stats import Statistics
from bot.figures.demo_fill import fill
from bot.text.i18n import Locales
from storage.sqlite import SqliteStorage

TZ = ZoneInfo("Europe/Moscow")


def rss_mb() -> float:
    """The process's resident memory now (not its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def timed(repeat: int, work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """The median seconds of `repeat` runs of `work`, and the last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", type=Path)
    args = parser.parse_args()

    path = args.database or temp_dir("stats") / "priemnaya.sqlite3"
    fill_seconds = 0.0
    if args.database is None or not path.exists():
        log(f"filling {args.reports} reports with their history into {path}")
        start = time.perf_counter()
        await fill(path, args.reports, 1, datetime.now(UTC) - timedelta(days=365), 365, TZ)
        fill_seconds = time.perf_counter() - start
        log(f"filled in {fill_seconds:.0f} s")
    storage = await SqliteStorage.open(path)
    try:
        config = CoreConfig(ChatRef(Messenger.TELEGRAM, -1), "ru", TZ, frozenset())
        now = datetime.now(UTC)
        locales = Locales()
        _ = locales.get("ru")
        stats = Statistics(storage, config, StaffRouting(storage, config.staff_chat), locales, lambda: now)
        today = now.astimezone(TZ).date()

        async def stats_of(days: int) -> tuple[float, float, int]:
            scope = await stats.scope_of(Period(today - timedelta(days=days - 1), today, TZ), None, _)
            p = scope.period
            figures_s, figures = await timed(args.repeat, lambda: storage.figures(p.start, p.end, None, now))
            whole_s, reply = await timed(args.repeat, lambda: stats.stats_reply(scope, _))
            assert reply.files and (reply.files[0].data or b"").startswith(b"\x89PNG")
            return figures_s, whole_s, figures.received

        month = await stats_of(30)
        log(f"/stats month: figures {month[0]:.3f} s, whole answer {month[1]:.3f} s over {month[2]} reports")
        year = await stats_of(365)
        log(f"/stats year: figures {year[0]:.3f} s, whole answer {year[1]:.3f} s over {year[2]} reports")

        week = await stats.scope_of(Period(today - timedelta(days=6), today, TZ), None, _)
        problems_s, problems = await timed(args.repeat, lambda: stats.problems_text(week, _))
        listed = problems.plain.count("\n")
        log(f"/problems week: {problems_s:.3f} s, {listed} problems listed")

        scope = await stats.scope_of(Period(today - timedelta(days=29), today, TZ), None, _)
        folder = temp_dir("stats-export")
        base = rss_mb()
        peak = base
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mb())
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        start = time.perf_counter()
        csv_path, xlsx_path = await stats.export_files(scope, _, False, folder)
        export_s = time.perf_counter() - start
        done.set()
        await sampler
        rows = sum(1 for _line in csv_path.open(encoding="utf-8-sig")) - 1
        log(f"/export month: {rows} rows, CSV + XLSX in {export_s:.1f} s, memory +{peak - base:.0f} MB")
    finally:
        await storage.close()
    ok = year[2] > 0 and month[2] > 0 and rows == month[2] and listed > 0 and xlsx_path.stat().st_size > 0
    print_summary(
        f"stats: {year[2]} reports a year; /stats year {year[1]:.2f} s (figures {year[0]:.2f} s), month"
        f" {month[1]:.2f} s (figures {month[0]:.2f} s); /problems week {problems_s:.2f} s; /export month {rows} rows"
        f" CSV+XLSX {rows / export_s:,.0f} rows/s, memory +{peak - base:.0f} MB; fill {fill_seconds:.0f} s"
        f" {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main, 3600, "stats"))
