"""The SQL of the figures: each report's facts kept beside it, and the figures of a period computed from them.

Plain functions of a `sqlite3.Connection`, run by `SqliteStorage` inside its units of work (and transactions).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
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


def add(db: sqlite3.Connection, facts: Facts) -> None:
    """Keep a report's facts and count them (a report just filed)."""
    insert(db, [facts])
    _count(db, facts, 1)


def apply(db: sqlite3.Connection, changes: Sequence[Change]) -> None:
    """Fold the events of applied changes into their reports' facts, and move their counts."""
    for change in changes:
        before = get(db, change.after.id)
        if before is None:
            continue  # a report without facts is replayed whole by the upgrade, not patched here
        facts = before
        for event in change.events:
            facts = fold(facts, event, change.after)
        if facts != before:
            insert(db, [facts])
            _count(db, before, -1)
            _count(db, facts, 1)


def hour_of(moment: datetime) -> int:
    """Hours since the epoch (UTC): the bucket a report is counted in."""
    return int(moment.timestamp() // 3600)


_MEASURES = "reports, take_late, taken, answer_late, answered, resolved, reopened, rated, rating_sum"
_UPSERT = (
    f"INSERT INTO report_counts (hour, category_id, messenger, status, verdict, {_MEASURES})"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (status, category_id, messenger, verdict, hour) DO UPDATE SET "
    + ", ".join(f"{m} = {m} + excluded.{m}" for m in _MEASURES.split(", "))
)


def _count(db: sqlite3.Connection, f: Facts, sign: int) -> None:
    resolved = f.resolved_at is not None
    measures = (
        1,
        _late(f.taken_at, f.take_due) or 0,
        f.taken_at is not None,
        _late(f.answered_at, f.answer_due) or 0,
        f.answered_at is not None,
        resolved,
        resolved and f.reopened > 0,
        f.rating is not None,
        f.rating or 0,
    )
    key = (hour_of(f.created_at), f.category_id, f.messenger, f.status.value, f.verdict.value if f.verdict else "")
    db.execute(_UPSERT, (*key, *(sign * int(m) for m in measures)))


def recount(db: sqlite3.Connection) -> None:
    """Count every report's facts afresh (after a bulk load, or for a database from before the counts)."""
    db.execute("DELETE FROM report_counts")
    db.execute(
        f"INSERT INTO report_counts (hour, category_id, messenger, status, verdict, {_MEASURES})"
        " SELECT CAST(unixepoch(created_at) / 3600 AS INTEGER) AS h, category_id, messenger, status,"
        " COALESCE(verdict, '') AS v, COUNT(*), TOTAL(take_late), COUNT(take_late), TOTAL(answer_late),"
        " COUNT(answer_late), COUNT(resolve_s), TOTAL(resolve_s IS NOT NULL AND reopened > 0), COUNT(rating),"
        " TOTAL(rating) FROM report_facts GROUP BY h, category_id, messenger, status, v"
    )


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
    counted = db.execute("SELECT 1 FROM report_counts LIMIT 1").fetchone()
    if missing or (counted is None and db.execute("SELECT 1 FROM report_facts LIMIT 1").fetchone()):
        recount(db)


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
    walking the column's index in order to its position, from the nearer end: no sort of the period's values."""
    if not count:
        return Spread(0, None, None)

    def at(position: float) -> timedelta:
        low = int(position)
        high = min(low + 1, count - 1)
        # From the top, the value at `high` comes first: LIMIT 2 OFFSET (count - 1 - high) gives high, then low.
        descending = high > count // 2
        offset = count - 1 - high if descending else low
        values = [
            v
            for (v,) in db.execute(
                f"SELECT {column} FROM report_facts {_index(index, categories)}"
                f" WHERE {column} IS NOT NULL AND {where}"
                f" ORDER BY {column} {'DESC' if descending else ''} LIMIT 2 OFFSET ?",
                [*args, offset],
            )
        ]
        if descending:
            values.reverse()
        below, above = (values[0], values[-1]) if high > low else (values[0], values[0])
        if descending and high == low:
            below = above = values[-1]
        return timedelta(seconds=below + (above - below) * (position - low))

    return Spread(count, at(0.5 * (count - 1)), at(0.9 * (count - 1)))


def _hours(start: datetime, end: datetime, categories: Sequence[int] | None) -> tuple[str, list[Any]]:
    """The filter of `report_counts` for reports received in [start, end) (whole hours: every zone of Russia)."""
    sql = "hour >= ? AND hour < ?"
    args: list[Any] = [hour_of(start), hour_of(end)]
    if categories is not None:
        sql += f" AND category_id IN ({','.join('?' * len(categories))})" if categories else " AND 0"
        args += list(categories)
    return sql, args


def _untaken(
    db: sqlite3.Connection, term: str, where: str, args: list[Any], categories: Any, n: str
) -> list[tuple[str, int]]:
    """Reports of the period not yet taken (`take`) or answered (`answer`) and past that due time: late too."""
    done = "taken_at" if term == "take" else "answered_at"
    index = "report_facts_untaken" if term == "take" else "report_facts_unanswered"
    return db.execute(
        f"SELECT created_at, category_id FROM report_facts {_index(index, categories)}"
        f" WHERE {done} IS NULL AND {term}_due_at < ? AND {where}",
        [n, *args],
    ).fetchall()


def figures(
    db: sqlite3.Connection, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime
) -> Figures:
    """The figures of the reports received in [start, end), of these categories only if given, at `now`."""
    where, args = _where(start, end, categories)
    hours, hour_args = _hours(start, end, categories)
    n = ts(now)
    by_status: Counter[Status] = Counter()
    by_category: Counter[int] = Counter()
    by_messenger: Counter[str] = Counter()
    verdicts: Counter[Verdict] = Counter()
    sums = [0] * 8
    for status, category_id, messenger, verdict, reports, *measures in db.execute(
        f"SELECT status, category_id, messenger, verdict, SUM(reports), SUM(take_late), SUM(taken),"
        f" SUM(answer_late), SUM(answered), SUM(resolved), SUM(reopened), SUM(rated), SUM(rating_sum)"
        # `+hour`: read in key order and summed as read, never through the hour index and a sort.
        f" FROM report_counts WHERE {hours.replace('hour', '+hour')} GROUP BY status, category_id, messenger, verdict",
        hour_args,
    ):
        if not reports:
            continue
        by_status[Status(status)] += reports
        by_category[category_id] += reports
        by_messenger[messenger] += reports
        if verdict:
            verdicts[Verdict(verdict)] += reports
        sums = [a + b for a, b in zip(sums, measures, strict=True)]
    late_take, taken, late_answer, answered, resolved, reopened, ratings, rating_sum = sums
    untaken = len(_untaken(db, "take", where, args, categories, n))
    unanswered = len(_untaken(db, "answer", where, args, categories, n))
    return Figures(
        received=sum(by_status.values()),
        by_status=dict(by_status),
        by_category=dict(by_category),
        by_messenger=dict(by_messenger),
        not_taken_in_time=Share(late_take + untaken, taken + untaken),
        not_answered_in_time=Share(late_answer + unanswered, answered + unanswered),
        to_take=_spread(db, "take_s", "report_facts_take", taken, where, args, categories),
        to_answer=_spread(db, "answer_s", "report_facts_answer", answered, where, args, categories),
        to_resolve=_spread(db, "resolve_s", "report_facts_resolve", resolved, where, args, categories),
        overdue_now=overdue_now(db, start, end, categories, now),
        reopened=Share(reopened, resolved),
        verdicts=dict(verdicts),
        ratings=ratings,
        average_rating=rating_sum / ratings if ratings else None,
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
) -> list[tuple[str, int, int, int, int, int, int]]:
    """Per local day (UTC shifted by `offset`) and category: received, late and judged for taking and answering."""
    hours, hour_args = _hours(start, end, categories)
    shift = offset.total_seconds()
    days: dict[tuple[str, int], list[int]] = {}

    def day_of(hour: int) -> str:
        return datetime.fromtimestamp(hour * 3600 + shift, UTC).date().isoformat()

    day_cache: dict[int, str] = {}
    for hour, category_id, reports, late_take, taken, late_answer, answered in db.execute(
        "SELECT hour, category_id, SUM(reports), SUM(take_late), SUM(taken), SUM(answer_late), SUM(answered)"
        f" FROM report_counts INDEXED BY report_counts_by_hour WHERE {hours} GROUP BY hour, category_id",
        hour_args,
    ):
        day = day_cache.get(hour) or day_cache.setdefault(hour, day_of(hour))
        row = days.setdefault((day, category_id), [0] * 5)
        for k, v in enumerate((reports, late_take, taken, late_answer, answered)):
            row[k] += v
    where, args = _where(start, end, categories)
    for slot, term in ((1, "take"), (3, "answer")):
        for created_at, category_id in _untaken(db, term, where, args, categories, ts(now)):
            row = days.setdefault((day_of(hour_of(from_ts(created_at))), category_id), [0] * 5)
            row[slot] += 1
            row[slot + 1] += 1
    return [(day, category_id, *row) for (day, category_id), row in sorted(days.items()) if row[0]]  # type: ignore[misc]


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
