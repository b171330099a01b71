"""Bulk load of reports with their whole history into an empty SQLite database (demo data, benchmarks).

Writes the rows `SqliteStorage` would have written had every event happened through it: the report as it stands,
its events, its facts for the figures (`bot.core.facts.facts_of`) and its resident; thousands per transaction.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.facts import facts_of
from bot.core.models import Dues, Event, Report
from storage.sqlite_facts import INSERT, recount, row_of
from storage.sqlite_times import ts

_REPORTS = (
    "INSERT INTO reports (id, resident, resident_name, category_id, description, latitude, longitude, address,"
    " photos, status, created_at, answer_due_at, draft_key, staff_chat, assignee, assignee_name, duplicate_of,"
    " follow_ups, version, closed_at, terms_from, take_due_at, resolve_due_at, remind_at, taken_at, answered_at,"
    " reminded, next_alert_at, verdict, rating) VALUES (" + ",".join("?" * 30) + ")"
)
_EVENTS = (
    "INSERT INTO events (report_id, kind, at, author, status_after, text, source, author_name, photos, dues)"
    " VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_FACTS = INSERT
_RESIDENTS = "INSERT OR IGNORE INTO residents (key, display_name, language) VALUES (?,?,?)"
LANGUAGE = "ru"
_NO_PHOTOS = json.dumps([])


Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]
"""The rows of some reports: residents, reports, events and facts."""


class NotEmpty(ValueError):
    """The database holds reports already: generated ones must never mix with real ones."""


def load(db: sqlite3.Connection, items: Iterable[tuple[Report, list[Event]]], batch: int = 10000) -> int:
    """Insert these reports (numbered already) with their histories, `batch` reports per transaction; how many.

    Raises NotEmpty (a ValueError) if the database holds any report. Commits are not synced to disk while it runs
    (a crash loses the demo, never real data: there is none).
    """
    iterator = iter(items)
    return load_rows(db, (rows_of(chunk) for chunk in iter(lambda: list(itertools.islice(iterator, batch)), [])))


def load_file(path: Path, batches: Iterable[Rows]) -> int:
    """`load_rows` into the database file at `path` (which has its schema); how many reports."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        return load_rows(db, batches)
    finally:
        db.close()


def load_rows(db: sqlite3.Connection, batches: Iterable[Rows]) -> int:
    """Insert batches of rows (from `rows_of`), one transaction each; how many reports. NotEmpty as `load`."""
    if db.execute("SELECT EXISTS (SELECT 1 FROM reports)").fetchone()[0]:
        raise NotEmpty("the database already holds reports; demo data are loaded into an empty one only")
    (synchronous,) = db.execute("PRAGMA synchronous").fetchone()
    db.execute("PRAGMA journal_mode=WAL").fetchall()
    db.execute("PRAGMA synchronous=OFF")
    count = 0
    try:
        for residents, reports, events, facts in batches:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_RESIDENTS, residents)
                db.executemany(_REPORTS, reports)
                db.executemany(_EVENTS, events)
                db.executemany(_FACTS, facts)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            count += len(reports)
        with db:
            recount(db)  # the per-hour counts of everything loaded, in one pass
    finally:
        db.execute(f"PRAGMA synchronous={int(synchronous)}")
    return count


def rows_of(chunk: Sequence[tuple[Report, list[Event]]]) -> Rows:
    """The rows of these reports with their histories (CPU only: may run in another process)."""
    times = _Times()
    residents = {r.resident.key: (r.resident.key, r.resident_name, LANGUAGE) for r, _ in chunk}
    reports = [_report_row(r, h, times) for r, h in chunk]
    events = [_event_row(e, times) for _, h in chunk for e in h]
    facts = [row_of(facts_of(r, h)) for r, h in chunk]
    return list(residents.values()), reports, events, facts


class _Times(dict[datetime, str]):
    """`ts` of each moment once: a report's times recur in its row, its events and their due times."""

    def __missing__(self, moment: datetime) -> str:
        self[moment] = text = ts(moment)
        return text

    def maybe(self, moment: datetime | None) -> str | None:
        return None if moment is None else self[moment]


def _closed_at(history: list[Event]) -> datetime | None:
    """When the report was last closed, as `apply_changes` keeps it: None while open."""
    closed_at = None
    was_closed = False
    for event in history:
        closed = event.status_after.closed
        if closed and not was_closed:
            closed_at = event.at
        elif not closed:
            closed_at = None
        was_closed = closed
    return closed_at


def _report_row(r: Report, history: list[Event], times: _Times) -> tuple[Any, ...]:
    loc, dues = r.location, r.dues
    return (
        r.id,
        r.resident.key,
        r.resident_name,
        r.category_id,
        r.description,
        loc.latitude,
        loc.longitude,
        loc.address,
        json.dumps(list(r.photos)) if r.photos else _NO_PHOTOS,
        r.status.value,
        times[r.created_at],
        times[dues.answer],
        None,
        r.staff_chat.key if r.staff_chat else None,
        r.assignee,
        r.assignee_name,
        r.duplicate_of,
        r.follow_ups,
        r.version,
        times.maybe(_closed_at(history)),
        times[dues.start],
        times[dues.take],
        times[dues.resolve],
        dues.remind_at,
        times.maybe(r.taken_at),
        times.maybe(r.answered_at),
        r.reminded,
        None,  # no reminders about demo reports: a year of backlog would flood the staff chats at once
        r.verdict.value if r.verdict else None,
        r.rating,
    )


def _event_row(e: Event, times: _Times) -> tuple[Any, ...]:
    return (
        e.report_id,
        e.kind.value,
        times[e.at],
        e.author,
        e.status_after.value,
        e.text,
        e.source,
        e.author_name,
        json.dumps(list(e.photos)) if e.photos else None,
        _dues_json(e.dues, times) if e.dues else None,
    )


def _dues_json(dues: Dues, times: _Times) -> str:
    """`storage.sqlite_records.dues_json`, with the times formatted once."""
    start, take, answer, resolve = times[dues.start], times[dues.take], times[dues.answer], times[dues.resolve]
    return json.dumps({"start": start, "take": take, "answer": answer, "resolve": resolve, "remind_at": dues.remind_at})
