"""The SQL of the figures: each report's facts kept beside it, and the figures of a period computed from them.

Plain functions of a `sqlite3.Connection`, run by `SqliteStorage` inside its units of work (and transactions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.facts import Facts, facts_of, fold
from bot.core.figures import Figures, Share, Spread
from bot.core.lifecycle import Change
from bot.core.models import TERMS, Status, Term, Verdict
from storage.sqlite_times import from_ts, ts

if TYPE_CHECKING:
    from bot.figures.problems import Sample

_COLUMNS = (
    "report_id, created_at, messenger, category_id, status, take_due_at, answer_due_at, resolve_due_at, taken_at,"
    " answered_at, resolved_at, rejected_at, take_s, answer_s, resolve_s, take_late, answer_late, reopened, verdict,"
    " rating, follow_ups"
)
INSERT = f"INSERT OR REPLACE INTO report_facts ({_COLUMNS}) VALUES ({','.join('?' * 21)})"
"""The statement that keeps one report's facts (`row_of` gives its values)."""


def _maybe_ts(moment: datetime | None) -> str | None:
    return ts(moment) if moment is not None else None


def _maybe(text: str | None) -> datetime | None:
    return from_ts(text) if text else None


def row_of(f: Facts) -> tuple[Any, ...]:
    """The row that keeps these facts."""
    return (
        f.report_id,
        ts(f.created_at),
        f.messenger,
        f.category_id,
        f.status.value,
        ts(f.take_due),
        ts(f.answer_due),
        ts(f.resolve_due),
        _maybe_ts(f.taken_at),
        _maybe_ts(f.answered_at),
        _maybe_ts(f.resolved_at),
        _maybe_ts(f.rejected_at),
        f.seconds(f.taken_at),
        f.seconds(f.answered_at),
        f.seconds(f.resolved_at),
        _late(f.taken_at, f.take_due),
        _late(f.answered_at, f.answer_due),
        f.reopened,
        f.verdict.value if f.verdict else None,
        f.rating,
        f.follow_ups,
    )


def _late(done: datetime | None, due: datetime) -> int | None:
    return None if done is None else int(done > due)


def facts_of_row(row: Any) -> Facts:
    """Inverse of `row_of`."""
    return Facts(
        report_id=row["report_id"],
        created_at=from_ts(row["created_at"]),
        messenger=row["messenger"],
        category_id=row["category_id"],
        status=Status(row["status"]),
        take_due=from_ts(row["take_due_at"]),
        answer_due=from_ts(row["answer_due_at"]),
        resolve_due=from_ts(row["resolve_due_at"]),
        taken_at=_maybe(row["taken_at"]),
        answered_at=_maybe(row["answered_at"]),
        resolved_at=_maybe(row["resolved_at"]),
        rejected_at=_maybe(row["rejected_at"]),
        reopened=row["reopened"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        rating=row["rating"],
        follow_ups=row["follow_ups"],
    )


def insert(db: sqlite3.Connection, facts: Sequence[Facts]) -> None:
    """Keep the facts of reports just filed (or replayed)."""
    db.executemany(INSERT, [row_of(f) for f in facts])


def get(db: sqlite3.Connection, report_id: int) -> Facts | None:
    """One report's kept facts."""
    row = db.execute("SELECT * FROM report_facts WHERE report_id = ?", (report_id,)).fetchone()
    return facts_of_row(row) if row else None


def apply(db: sqlite3.Connection, changes: Sequence[Change]) -> None:
    """Fold the events of applied changes into their reports' facts."""
    for change in changes:
        facts = get(db, change.after.id)
        if facts is None:
            continue  # a report without facts is replayed whole by the upgrade, not patched here
        for event in change.events:
            facts = fold(facts, event, change.after)
        insert(db, [facts])


def backfill(db: sqlite3.Connection) -> None:
    """Replay the history of every report that has no facts yet (a database from before the figures)."""
    from storage.sqlite_records import event_of, report_of

    missing = db.execute(
        "SELECT * FROM reports WHERE id NOT IN (SELECT report_id FROM report_facts) ORDER BY id"
    ).fetchall()
    for row in missing:
        report = report_of(row)
        events = db.execute("SELECT * FROM events WHERE report_id = ? ORDER BY id", (report.id,)).fetchall()
        insert(db, [facts_of(report, [event_of(e) for e in events])])


def _where(start: datetime, end: datetime, categories: Sequence[int] | None, alias: str = "") -> tuple[str, list[Any]]:
    """The filter of a period (received in [start, end)) and, for a department, of its categories."""
    sql = f"{alias}created_at >= ? AND {alias}created_at < ?"
    args: list[Any] = [ts(start), ts(end)]
    if categories is not None:
        sql += f" AND {alias}category_id IN ({','.join('?' * len(categories))})" if categories else " AND 0"
        args += list(categories)
    return sql, args


def _index(name: str, categories: Sequence[int] | None) -> str:
    """Walk this covering index for a whole-city period; a department's few categories let the planner choose."""
    return f"INDEXED BY {name}" if categories is None else ""


def _spread(
    db: sqlite3.Connection, column: str, index: str, count: int, where: str, args: list[Any], categories: Any
) -> Spread:
    """Median and 90th percentile (interpolated, as `statistics.quantiles(method="inclusive")`), each read by
    walking the column's index in order to its position: no sort of the period's values."""
    if not count:
        return Spread(0, None, None)

    def at(position: float) -> timedelta:
        low = int(position)
        values = [
            v
            for (v,) in db.execute(
                f"SELECT {column} FROM report_facts {_index(index, categories)}"
                f" WHERE {column} IS NOT NULL AND {where} ORDER BY {column} LIMIT 2 OFFSET ?",
                [*args, low],
            )
        ]
        high = values[1] if len(values) > 1 else values[0]
        return timedelta(seconds=values[0] + (high - values[0]) * (position - low))

    return Spread(count, at(0.5 * (count - 1)), at(0.9 * (count - 1)))


def _counts(
    db: sqlite3.Connection, column: str, index: str, where: str, args: list[Any], categories: Any
) -> dict[Any, int]:
    sql = (
        f"SELECT {column}, COUNT(*) FROM report_facts {_index(index, categories)}"
        f" WHERE {column} IS NOT NULL AND {where} GROUP BY {column}"
    )
    return {key: count for key, count in db.execute(sql, args) }


def figures(
    db: sqlite3.Connection, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime
) -> Figures:
    """The figures of the reports received in [start, end), of these categories only if given, at `now`."""
    where, args = _where(start, end, categories)
    n = ts(now)
    by_status = {Status(k): v for k, v in _counts(db, "status", "report_facts_status", where, args, categories).items()}
    verdicts = _counts(db, "verdict", "report_facts_verdict", where, args, categories)
    row = db.execute(
        "SELECT COUNT(*), TOTAL(take_late), COUNT(take_late), TOTAL(answer_late), COUNT(answer_late),"
        " TOTAL(resolve_s IS NOT NULL AND reopened > 0), COUNT(resolve_s), COUNT(rating), AVG(rating)"
        f" FROM report_facts {_index('report_facts_sums', categories)} WHERE {where}",
        args,
    ).fetchone()
    received, late_take, taken, late_answer, answered, reopened, resolved, ratings, average = row
    # Not yet taken (answered) but past the due time: late too (a partial index holds only these few).
    (untaken,) = db.execute(
        f"SELECT COUNT(*) FROM report_facts {_index('report_facts_untaken', categories)}"
        f" WHERE taken_at IS NULL AND take_due_at < ? AND {where}",
        [n, *args],
    ).fetchone()
    (unanswered,) = db.execute(
        f"SELECT COUNT(*) FROM report_facts {_index('report_facts_unanswered', categories)}"
        f" WHERE answered_at IS NULL AND answer_due_at < ? AND {where}",
        [n, *args],
    ).fetchone()
    return Figures(
        received=received,
        by_status=by_status,
        by_category=_counts(db, "category_id", "report_facts_category", where, args, categories),
        by_messenger=_counts(db, "messenger", "report_facts_messenger", where, args, categories),
        not_taken_in_time=Share(int(late_take) + untaken, taken + untaken),
        not_answered_in_time=Share(int(late_answer) + unanswered, answered + unanswered),
        to_take=_spread(db, "take_s", "report_facts_take", taken, where, args, categories),
        to_answer=_spread(db, "answer_s", "report_facts_answer", answered, where, args, categories),
        to_resolve=_spread(db, "resolve_s", "report_facts_resolve", resolved, where, args, categories),
        overdue_now=overdue_now(db, start, end, categories, now),
        reopened=Share(int(reopened), resolved),
        verdicts={Verdict(k): v for k, v in verdicts.items()},
        ratings=ratings,
        average_rating=average,
    )


def overdue_now(
    db: sqlite3.Connection, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime
) -> dict[Term, int]:
    """How many of the period's open reports are past each of their current terms (from the reports' own rows)."""
    where, args = _where(start, end, categories)
    n = ts(now)
    row = db.execute(
        "SELECT TOTAL(taken_at IS NULL AND take_due_at < ?), TOTAL(answered_at IS NULL AND answer_due_at < ?),"
        " TOTAL(resolve_due_at < ?) FROM reports INDEXED BY reports_open"
        f" WHERE status IN ('new', 'in_progress', 'reopened') AND {where}",
        [n, n, n, *args],
    ).fetchone()
    return {term: int(value) for term, value in zip(TERMS, row, strict=True)}


def daily(
    db: sqlite3.Connection,
    start: datetime,
    end: datetime,
    categories: Sequence[int] | None,
    now: datetime,
    offset: timedelta,
) -> Iterator[tuple[str, int, int, int, int, int, int]]:
    """Per local day (UTC shifted by `offset`) and category: received, late and judged for taking and answering."""
    where, args = _where(start, end, categories)
    n = ts(now)
    shift = f"{offset.total_seconds():+.0f} seconds"
    yield from db.execute(
        "SELECT date(created_at, ?) AS day, category_id, COUNT(*),"
        " TOTAL(CASE WHEN taken_at IS NOT NULL THEN taken_at > take_due_at ELSE ? > take_due_at END),"
        " TOTAL(taken_at IS NOT NULL OR ? > take_due_at),"
        " TOTAL(CASE WHEN answered_at IS NOT NULL THEN answered_at > answer_due_at ELSE ? > answer_due_at END),"
        " TOTAL(answered_at IS NOT NULL OR ? > answer_due_at)"
        f" FROM report_facts WHERE {where} GROUP BY day, category_id ORDER BY day",
        [shift, n, n, n, n, *args],
    )


def problem_samples(
    db: sqlite3.Connection, start: datetime, end: datetime, categories: Sequence[int] | None
) -> list[Sample]:
    """What /problems clusters: each report of the period with its category, words and place (no personal data)."""
    from bot.figures.problems import Sample

    where, args = _where(start, end, categories, "f.")
    rows = db.execute(
        "SELECT r.id, r.category_id, r.description, r.latitude, r.longitude, r.address"
        f" FROM report_facts f JOIN reports r ON r.id = f.report_id WHERE {where} AND f.status != 'duplicate'",
        args,
    )
    return [Sample(*row) for row in rows]
