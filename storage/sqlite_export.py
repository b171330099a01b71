"""The SQL of `/export`: the reports received in a period, one row each, read page by page in number order.

Each page is its own short read (keyset pagination on the report's number, which is the facts table's rowid), so
a long export never holds a snapshot of the database open for minutes and other reads go between its pages.
Personal data (the resident's name and id) are selected only when names are asked for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from bot.core.models import ResidentRef
from bot.figures.export import ExportRow, met
from storage.sqlite_times import from_ts, ts

_COLUMNS = (
    "f.report_id, f.messenger, f.category_id, c.name AS category, f.status, f.created_at, f.taken_at,"
    " f.answered_at, f.resolved_at, f.rejected_at, f.take_due_at, f.answer_due_at, f.resolve_due_at, f.rating,"
    " f.verdict, r.duplicate_of, r.address, r.latitude, r.longitude, r.description, r.follow_ups"
)
_NAMES = ", r.resident_name, r.resident"


def _where(
    start: datetime, end: datetime, categories: Sequence[int] | None, received: str = "f.created_at"
) -> tuple[str, list[Any]]:
    """Received in [start, end), and of these categories if given (an empty list: none)."""
    sql = f"{received} >= ? AND {received} < ?"
    args: list[Any] = [ts(start), ts(end)]
    if categories is not None:
        sql += f" AND f.category_id IN ({','.join('?' * len(categories))})" if categories else " AND 0"
        args += list(categories)
    return sql, args


def span(db: sqlite3.Connection, start: datetime, end: datetime, categories: Sequence[int] | None) -> range:
    """The numbers the period's reports lie between (one pass over the time index); empty if it has none."""
    where, args = _where(start, end, categories)
    sql = f"SELECT MIN(f.report_id), MAX(f.report_id) FROM report_facts f WHERE {where}"
    low, high = db.execute(sql, args).fetchone()
    return range(low, high + 1) if low is not None else range(0)


def page(
    db: sqlite3.Connection,
    start: datetime,
    end: datetime,
    categories: Sequence[int] | None,
    now: datetime,
    names: bool,
    numbers: range,
    limit: int,
) -> list[ExportRow]:
    """Up to `limit` of the period's reports with numbers in `numbers`, in number order, judged at `now`."""
    # `+`: the time filter must not pick the time index (and a sort of the whole period) over the number range.
    where, args = _where(start, end, categories, "+f.created_at")
    rows = db.execute(
        f"SELECT {_COLUMNS}{_NAMES if names else ''} FROM report_facts f"
        " JOIN reports r ON r.id = f.report_id JOIN categories c ON c.id = f.category_id"
        f" WHERE f.report_id >= ? AND f.report_id < ? AND {where} ORDER BY f.report_id LIMIT ?",
        [numbers.start, numbers.stop, *args, limit],
    ).fetchall()
    return [_row(row, now, names) for row in rows]


def reading(
    start: datetime,
    end: datetime,
    categories: Sequence[int] | None,
    now: datetime,
    names: bool,
    numbers: range,
    limit: int,
) -> Callable[[sqlite3.Connection], list[ExportRow]]:
    """`page` as a unit of work for a connection's thread."""
    return lambda db: page(db, start, end, categories, now, names, numbers, limit)


def export_rows(
    db: sqlite3.Connection,
    start: datetime,
    end: datetime,
    categories: Sequence[int] | None,
    now: datetime,
    names: bool,
    batch: int = 5000,
) -> Iterator[list[ExportRow]]:
    """The reports received in [start, end) (of these categories only, if given), in number order, `batch` at a
    time, with their terms judged at `now`; the resident's name and id only if `names`."""
    numbers = span(db, start, end, categories)
    while numbers:
        rows = page(db, start, end, categories, now, names, numbers, batch)
        if not rows:
            return
        yield rows
        numbers = range(rows[-1].number + 1, numbers.stop)


def _maybe(text: str | None) -> datetime | None:
    return from_ts(text) if text else None


def _row(row: Any, now: datetime, names: bool) -> ExportRow:
    taken, answered = _maybe(row["taken_at"]), _maybe(row["answered_at"])
    ends = [t for t in (_maybe(row["resolved_at"]), _maybe(row["rejected_at"])) if t is not None]
    closed = min(ends, default=None)
    take_due, answer_due = from_ts(row["take_due_at"]), from_ts(row["answer_due_at"])
    resolve_due = from_ts(row["resolve_due_at"])
    name = resident = None
    if names:
        ref = ResidentRef.parse(row["resident"])
        # An erased resident keeps neither name nor id.
        name, resident = (None, None) if ref.anonymous else (row["resident_name"] or None, ref.key)
    return ExportRow(
        number=row["report_id"],
        messenger=row["messenger"],
        category_id=row["category_id"],
        category=row["category"],
        status=row["status"],
        received=from_ts(row["created_at"]),
        taken=taken,
        answered=answered,
        closed=closed,
        take_due=take_due,
        take_met=met(taken, take_due, now),
        answer_due=answer_due,
        answer_met=met(answered, answer_due, now),
        resolve_due=resolve_due,
        resolve_met=met(closed, resolve_due, now),
        rating=row["rating"],
        verdict=row["verdict"],
        duplicate_of=row["duplicate_of"],
        address=row["address"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        description=row["description"],
        follow_ups=row["follow_ups"],
        resident_name=name,
        resident_id=resident,
    )
