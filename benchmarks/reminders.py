"""Reminders: one reminder look (`Reminders.look()`) over 100,000 and 1,000,000 open reports in SQLite.

`python -m benchmarks.reminders [--sizes 100000,1000000] [--repeat 20] [--due 1000] [--due-repeat 3]` (see README.md).

No bot process and no messenger: the core's `Reminders`, built by `Reception.build` as the bot builds it, over a
real `SqliteStorage` file in a temp dir, with a clock the benchmark sets. For each size:

1. Not timed: the file is created by `SqliteStorage.open` (schema, upgrades, the default categories), closed, and
   filled with plain `sqlite3` `executemany` in big transactions: N open reports (with their residents, cards and
   history events), as a bot that has been running for ten days would hold them. Every report's due times are the
   ones `Deadlines` computes (checked on a sample), `reminded` has every reminder due by now (and the next
   2 minutes, which a look sends early with a digest) marked sent, and `next_alert_at` is what the storage would
   write: the earliest unsent reminder of a running term, so every one lies in the future. Filling 1,000,000
   reports through the bot's dialog would take hours; the look reads nothing the dialog writes but these columns.
2. The look that finds nothing due: --repeat looks at that moment, each timed alone (`time.perf_counter` around
   the awaited call); median and max. Goal: under 50 ms (an index probe, not a scan), and flat in N.
3. The look that finds reminders due: the clock is moved to where about --due reports' next reminders have fallen
   due (the --due-th earliest `next_alert_at`, less the minute a digest gathers); one timed look records them (a
   `reminded` event each, an edit of the card for a term that has passed, digests of up to 20 into the staff chat's
   outbox, one transaction per digest); repeated --due-repeat times, each further on. Per look: its time, the
   reports reminded, the outbox messages queued, and the time per reminder.

One summary line on stdout; progress on stderr. Exit 0 when the quiet looks remind nobody, the due looks remind
someone and the sampled rows match the storage's own computation; 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.common import log, print_summary, run_benchmark, temp_dir
from bot.core.admin import Probe
from bot.core.config import CoreConfig
from bot.core.deadlines import Deadlines
from bot.core.models import TERMS, Category, ChatRef, Dues, Messenger, Stage, Status, Term, alert_bit
from bot.core.reception import Reception
from bot.core.reminders import GROUPING
from bot.text.i18n import Locales
from bot.text.rich import Rich
from handlers.telegram.compose import TelegramComposer
from handlers.vk.compose import VkComposer
from storage.sqlite import SqliteStorage
from storage.sqlite_records import dues_json, report_of
from storage.sqlite_times import ts

STAFF_CHAT = ChatRef(Messenger.TELEGRAM, -1001000000001)
TZ = ZoneInfo("Europe/Moscow")
# Reports were filed over the last ten days (an eight-working-day resolution term is about eleven calendar days).
SPAN = timedelta(days=10)
# A look sends what is due within GROUPING early; the data's last look counts as having sent the next 2 minutes.
SENT_UNTIL = timedelta(minutes=2)
CHUNK = 50_000
GOAL_MS = 50.0
# The query of `storage.sqlite_records.due_alerts`, for its plan.
DUE_SQL = "SELECT * FROM reports WHERE next_alert_at IS NOT NULL AND next_alert_at <= ? ORDER BY next_alert_at LIMIT ?"


class NoProbe:
    """Category admin's chat probe; reminders never use it."""

    async def probe(self, chat: ChatRef, text: Rich) -> Probe:
        return Probe(ok=True)


class Clock:
    """The time the reminders see; the benchmark moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Terms:
    """Due times as `Deadlines.dues` gives them, fast: without working hours the hour terms are plain additions and
    the resolution depends only on the local date, so it is computed once a day (checked against `Deadlines`)."""

    def __init__(self, deadlines: Deadlines, remind_at: float) -> None:
        self.deadlines = deadlines
        self.remind_at = remind_at
        self._resolve: dict[tuple[date, int], datetime] = {}

    def dues(self, category: Category, start: datetime) -> Dues:
        """The due times of a report in `category` whose terms start at `start`."""
        day = start.astimezone(TZ).date()
        key = (day, category.resolve_days)
        resolve = self._resolve.get(key)
        if resolve is None:
            resolve = self.deadlines.calendar.after_working_days(start, category.resolve_days)
            self._resolve[key] = resolve
        return Dues(
            start=start,
            take=start + timedelta(hours=category.take_hours),
            answer=start + timedelta(hours=category.answer_hours),
            resolve=resolve,
            remind_at=self.remind_at,
        )


def reminders_state(
    dues: Dues, taken_at: datetime | None, answered_at: datetime | None, sent_until: datetime
) -> tuple[int, datetime | None]:
    """(`reminded`, `next_alert_at`) of an open report whose every reminder due by `sent_until` was sent."""
    done = {Term.TAKE: taken_at, Term.ANSWER: answered_at, Term.RESOLVE: None}
    reminded = 0
    pending: list[datetime] = []
    for term in TERMS:
        finished = done[term]
        # A term stops being reminded when it is done; what fell due before that was sent.
        horizon = sent_until if finished is None else min(sent_until, finished)
        for stage in (Stage.NEAR, Stage.OVER):
            at = dues.alert_at(term, stage)
            if at <= horizon:
                reminded |= alert_bit(term, stage)
            elif finished is None:
                pending.append(at)
    return reminded, min(pending, default=None)


def report_rows(
    count: int, categories: list[Category], terms: Terms, now: datetime, seed: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Chunks of (report rows, event rows, card rows) for reports 1..count."""
    rng = random.Random(seed)
    sent_until = now + SENT_UNTIL
    residents = max(1, count // 3)
    for first in range(1, count + 1, CHUNK):
        reports: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        cards: list[tuple[Any, ...]] = []
        for rid in range(first, min(first + CHUNK, count + 1)):
            category = categories[rid % len(categories)]
            start = now - SPAN * rng.random()
            dues = terms.dues(category, start)
            taken_at: datetime | None = None
            answered_at: datetime | None = None
            if rng.random() < 0.9:
                taken_at = start + timedelta(hours=rng.uniform(0.1, 6))
                if rng.random() < 0.8:
                    answered_at = taken_at + timedelta(hours=rng.uniform(0.5, 30))
            if taken_at is not None and taken_at > now:
                taken_at = answered_at = None
            if answered_at is not None and answered_at > now:
                answered_at = None
            reminded, next_alert = reminders_state(dues, taken_at, answered_at, sent_until)
            resident = f"tg:{100000 + rid % residents}"
            assignee, assignee_name = ("tg:900", "Official Bench") if taken_at else (None, None)
            status = Status.IN_PROGRESS if taken_at else Status.NEW
            reports.append(
                (
                    rid, resident, f"Resident {rid % residents}", category.id,
                    f"Report {rid}: a pothole in the road by the school, deep enough to damage a car's wheel.",
                    None, None, f"Mira street {rid % 500}, {rid % 97}", f'["{rid:064x}"]', status.value,
                    ts(start), ts(dues.answer), f"bench-{rid}", STAFF_CHAT.key, assignee, assignee_name, 0,
                    1 + (taken_at is not None) + (answered_at is not None),
                    ts(dues.start), ts(dues.take), ts(dues.resolve), dues.remind_at,
                    ts(taken_at) if taken_at else None, ts(answered_at) if answered_at else None, reminded,
                    ts(next_alert) if next_alert else None,
                )
            )  # fmt: skip
            events.append((rid, "created", ts(start), resident, "new", None, None, None, None, dues_json(dues)))
            if taken_at:
                events.append((rid, "taken", ts(taken_at), "tg:900", "in_progress", None, None, "Official Bench",
                               None, None))  # fmt: skip
            if answered_at:
                events.append((rid, "answered", ts(answered_at), "tg:900", "in_progress", "We are on it.", None,
                               "Official Bench", None, None))  # fmt: skip
            cards.append(("tg", STAFF_CHAT.chat_id, rid, 10 * rid, 1))
        yield reports, events, cards


def fill(path: Path, count: int, categories: list[Category], terms: Terms, now: datetime) -> float:
    """Write `count` open reports straight into the file; seconds taken."""
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # a benchmark's own fill: nothing to survive a power cut
        residents = max(1, count // 3)
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO residents (key, display_name, language) VALUES (?,?,?)",
            ((f"tg:{100000 + i}", f"Resident {i}", "ru") for i in range(residents)),
        )
        db.execute("COMMIT")
        for reports, events, cards in report_rows(count, categories, terms, now, seed=count):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO reports (id, resident, resident_name, category_id, description, latitude, longitude,"
                " address, photos, status, created_at, answer_due_at, draft_key, staff_chat, assignee, assignee_name,"
                " follow_ups, version, terms_from, take_due_at, resolve_due_at, remind_at, taken_at, answered_at,"
                " reminded, next_alert_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                reports,
            )
            db.executemany(
                "INSERT INTO events (report_id, kind, at, author, status_after, text, source, author_name, photos,"
                " dues) VALUES (?,?,?,?,?,?,?,?,?,?)",
                events,
            )
            db.executemany(
                "INSERT INTO cards (messenger, chat_id, report_id, message_id, caption) VALUES (?,?,?,?,?)", cards
            )
            db.execute("COMMIT")
            log(f"  {reports[-1][0]:,} reports written ({time.perf_counter() - started:.0f}s)")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.perf_counter() - started


def check_sample(rows: list[Any], terms: Terms, categories: dict[int, Category]) -> int:
    """Rows whose dues differ from `Deadlines`', or whose `next_alert_at` from `Report.next_alert_at` as read back."""
    wrong = 0
    for row in rows:
        report = report_of(row)
        expected = terms.deadlines.dues(categories[report.category_id], report.dues.start)
        stored = row["next_alert_at"]
        if report.dues != expected or stored != (ts(report.next_alert_at) if report.next_alert_at else None):
            wrong += 1
    return wrong


def sample_rows(path: Path, n: int, count: int) -> list[Any]:
    """`n` report rows picked at random (the same ones every run)."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        ids = random.Random(1).sample(range(1, count + 1), min(n, count))
        return [db.execute("SELECT * FROM reports WHERE id = ?", (i,)).fetchone() for i in ids]
    finally:
        db.close()


def facts(path: Path, now: datetime) -> tuple[int, str, int]:
    """(reports in the reminders' index, the look's query plan, reports with no reminder left)."""
    db = sqlite3.connect(path)
    try:
        indexed = db.execute("SELECT COUNT(*) FROM reports WHERE next_alert_at IS NOT NULL").fetchone()[0]
        plan = " / ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + DUE_SQL, (ts(now), 200)))
        none_left = db.execute("SELECT COUNT(*) FROM reports WHERE next_alert_at IS NULL").fetchone()[0]
        return int(indexed), plan, int(none_left)
    finally:
        db.close()


def nth_alert(path: Path, n: int) -> datetime:
    """The `n`-th earliest next reminder."""
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT next_alert_at FROM reports WHERE next_alert_at IS NOT NULL ORDER BY next_alert_at LIMIT 1 OFFSET ?",
            (n - 1,),
        ).fetchone()
        return datetime.fromisoformat(row[0])
    finally:
        db.close()


def outbox_count(path: Path) -> int:
    """Messages in the outbox."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def size_mb(path: Path) -> float:
    """The database file with its WAL and shared memory, in MB."""
    total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return total / 1e6


def ms(seconds: float) -> str:
    """Seconds as milliseconds with three significant digits or so."""
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


async def one_size(count: int, args: argparse.Namespace, workdir: Path) -> tuple[str, bool, float]:
    """Fill, measure, and describe one size: (its part of the summary, whether it held, median quiet look)."""
    path = workdir / f"bot-{count}.sqlite3"
    now = datetime.now(UTC).replace(microsecond=0)
    config = CoreConfig(STAFF_CHAT, "en", TZ, frozenset())
    storage = await SqliteStorage.open(path)
    categories = await storage.list_categories(include_hidden=True)
    await storage.close()
    terms = Terms(Deadlines(config), config.terms.remind_at)
    log(f"{count:,} reports: filling {path}")
    fill_seconds = fill(path, count, categories, terms, now)
    size = size_mb(path)
    wrong = check_sample(sample_rows(path, 1000, count), terms, {c.id: c for c in categories})
    indexed, plan, none_left = facts(path, now)
    log(f"  filled in {fill_seconds:.1f}s, {size:.0f} MB; {indexed:,} in the index; plan: {plan}; wrong: {wrong}")

    clock = Clock(now)
    storage = await SqliteStorage.open(path)
    try:
        reception = Reception.build(
            storage, Locales(), config, {Messenger.TELEGRAM: TelegramComposer(), Messenger.VK: VkComposer()},
            NoProbe(), clock=clock,
        )  # fmt: skip
        quiet: list[float] = []
        quiet_sent = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            quiet_sent += await reception.reminders.look()
            quiet.append(time.perf_counter() - started)
        log(f"  nothing due: {' '.join(ms(q) for q in quiet)} ms; reminded {quiet_sent}")

        due_times: list[float] = []
        due_sent: list[int] = []
        due_msgs: list[int] = []
        for _ in range(args.due_repeat):
            clock.now = nth_alert(path, args.due) - GROUPING
            before = outbox_count(path)
            started = time.perf_counter()
            sent = await reception.reminders.look()
            due_times.append(time.perf_counter() - started)
            due_sent.append(sent)
            due_msgs.append(outbox_count(path) - before)
            log(f"  due at {ts(clock.now)}: {sent} reminded in {ms(due_times[-1])} ms, {due_msgs[-1]} messages queued")
    finally:
        await storage.close()
    if os.environ.get("BENCH_KEEP") != "1":
        for p in path.parent.glob(path.name + "*"):
            p.unlink()

    p50 = statistics.median(quiet)
    per = [t / s for t, s in zip(due_times, due_sent, strict=True) if s]
    held = quiet_sent == 0 and all(due_sent) and wrong == 0
    probe = "index probe" if "INDEX reports_alerts" in plan else f"NOT the index: {plan}"
    part = (
        f"{count:,} open ({indexed:,} in the index, {none_left:,} with every reminder sent; "
        f"database {size:.0f} MB, filled in {fill_seconds:.0f}s) -> "
        f"nothing due: pass {ms(p50)} ms (p50) {ms(max(quiet))} ms (max) of {len(quiet)}, {probe} "
        f"[goal <{GOAL_MS:.0f} ms {'ok' if p50 < GOAL_MS else 'MISSED'}]; "
        f"due: {len(due_times)} passes of {statistics.median(due_sent):.0f} reminded "
        f"({statistics.median(due_msgs):.0f} messages queued) in {ms(statistics.median(due_times))} ms (p50) "
        f"{ms(max(due_times))} ms (max), {ms(statistics.median(per)) if per else 'n/a'} ms per reminder"
        + ("" if wrong == 0 else f"; {wrong} sampled rows WRONG")
        + ("" if quiet_sent == 0 else f"; quiet passes reminded {quiet_sent} (WRONG)")
    )
    return part, held, p50


async def main(args: argparse.Namespace) -> int:
    """Every size in turn, then the summary line; the exit status."""
    workdir = temp_dir("bench-reminders-")
    parts: list[str] = []
    medians: list[tuple[int, float]] = []
    ok = True
    for count in args.sizes:
        part, held, p50 = await one_size(count, args, workdir)
        parts.append(part)
        medians.append((count, p50))
        ok = ok and held
    growth = ""
    if len(medians) > 1:
        (small, first), (large, last) = medians[0], medians[-1]
        growth = f"; nothing-due p50 x{last / first:.2f} from {small:,} to {large:,} reports"
    print_summary("reminders: " + "; ".join(parts) + growth)
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reminders", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        type=lambda s: [int(x) for x in s.split(",") if x],
        help="open reports, comma-separated (default 100000,1000000)",
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed looks that find nothing due (default 20)")
    parser.add_argument("--due", type=int, default=1000, help="reports due in a look that finds some (default 1000)")
    parser.add_argument("--due-repeat", type=int, default=3, help="looks that find reports due (default 3)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    raise SystemExit(run_benchmark(lambda: main(arguments), 1800, "reminders"))
