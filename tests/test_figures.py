"""The period's figures from the reports' history, checked against values worked out by hand on four reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.core.figures import Share, figures
from bot.core.models import (
    Dues,
    Event,
    EventKind,
    Location,
    Messenger,
    Report,
    ResidentRef,
    Status,
    Term,
    Verdict,
)

T0 = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def dues(start: datetime) -> Dues:
    return Dues(start, start + 4 * H, start + 24 * H, start + 10 * D)


def report(number: int, messenger: Messenger, status: Status, **fields: object) -> Report:
    base = Report(
        id=number,
        resident=ResidentRef(messenger, 100 + number),
        resident_name="R",
        category_id=1 if number % 2 else 2,
        description="d",
        location=Location(address="a"),
        photos=(),
        status=status,
        created_at=T0,
        dues=dues(T0),
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def event(number: int, kind: EventKind, at: datetime, text: str | None = None) -> Event:
    return Event(number, kind, at, "x", Status.NEW, text, dues=dues(T0) if kind is EventKind.CREATED else None)


def fixture() -> list[tuple[Report, list[Event]]]:
    r1 = report(
        1, Messenger.TELEGRAM, Status.RESOLVED, taken_at=T0 + H, answered_at=T0 + 2 * H, verdict=Verdict.FIXED, rating=5
    )
    h1 = [
        event(1, EventKind.CREATED, T0),
        event(1, EventKind.TAKEN, T0 + H),
        event(1, EventKind.ANSWERED, T0 + 2 * H),
        event(1, EventKind.RESOLVED, T0 + 3 * D),
        event(1, EventKind.CONFIRMED, T0 + 3 * D),
        event(1, EventKind.RATED, T0 + 3 * D, "5"),
    ]
    r2 = report(2, Messenger.VK, Status.IN_PROGRESS, taken_at=T0 + 30 * H, answered_at=T0 + 30 * H)
    h2 = [event(2, EventKind.CREATED, T0), event(2, EventKind.ANSWERED, T0 + 30 * H)]
    r3 = report(3, Messenger.TELEGRAM, Status.NEW)
    h3 = [event(3, EventKind.CREATED, T0)]
    # Resolved after a day, then "not fixed" the next day: its terms started again then.
    r4 = report(4, Messenger.TELEGRAM, Status.REOPENED, dues=dues(T0 + 2 * D), verdict=Verdict.NOT_FIXED, rating=2)
    h4 = [
        event(4, EventKind.CREATED, T0),
        event(4, EventKind.TAKEN, T0 + 2 * H),
        event(4, EventKind.RESOLVED, T0 + D),
        event(4, EventKind.RATED, T0 + D, "2"),
        event(4, EventKind.REOPENED, T0 + 2 * D),
    ]
    return [(r1, h1), (r2, h2), (r3, h3), (r4, h4)]


def test_each_figure_as_worked_out_by_hand() -> None:
    f = figures(fixture(), now=T0 + 3 * D + H)
    assert f.received == 4
    assert f.by_status == {Status.RESOLVED: 1, Status.IN_PROGRESS: 1, Status.NEW: 1, Status.REOPENED: 1}
    assert f.by_category == {1: 2, 2: 2}
    assert f.by_messenger == {"tg": 3, "vk": 1}
    # Taken late: #2 (first reaction at 30 h, due 4 h) and #3 (nothing, past 4 h); #1 at 1 h and #4 at 2 h in time.
    assert f.not_taken_in_time == Share(2, 4) and f.not_taken_in_time.value == 0.5
    # Answered late: #2 (30 h) and #3 (nothing, past 24 h); #1 at 2 h; #4's resolution at exactly 24 h is in time.
    assert f.not_answered_in_time == Share(2, 4)
    assert (f.to_take.count, f.to_take.median) == (3, 2 * H)  # 1 h, 2 h, 30 h
    assert f.to_take.p90 == 2 * H + 0.8 * 28 * H  # inclusive: 80% of the way from 2 h to 30 h
    assert (f.to_answer.count, f.to_answer.median) == (3, 24 * H)  # 2 h, 24 h, 30 h
    assert (f.to_resolve.count, f.to_resolve.median, f.to_resolve.p90) == (2, 2 * D, D + 0.9 * 2 * D)
    # #3 past its first terms; #4 past those of its reopening (4 h and 24 h after day 2).
    assert f.overdue_now == {Term.TAKE: 2, Term.ANSWER: 2, Term.RESOLVE: 0}
    assert f.reopened == Share(1, 2)
    assert f.verdicts == {Verdict.FIXED: 1, Verdict.NOT_FIXED: 1}
    assert (f.ratings, f.average_rating) == (2, 3.5)


def test_a_term_still_running_is_not_judged_yet() -> None:
    [(r3, h3)] = fixture()[2:3]
    f = figures([(r3, h3)], now=T0 + 3 * H)
    assert f.not_taken_in_time == Share(0, 0) and f.not_taken_in_time.value is None
    assert f.to_take.median is None and f.overdue_now[Term.TAKE] == 0
