"""The operators' figures of a period, computed from the reports' history alone (the groundwork of `/stats`).

A report counts in the period it was received in. Whether it was taken into work and answered in time is judged
against the due times recorded with its `created` event, so a later change of terms never changes the past.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.facts import facts_of
from bot.core.models import TERMS, Event, Report, Status, Term, Verdict


@dataclass(frozen=True, slots=True)
class Share:
    """A share of reports with the counts behind it: `late` of `of`."""

    late: int
    of: int

    @property
    def value(self) -> float | None:
        """The share between 0 and 1 (None when there is nothing to count)."""
        return self.late / self.of if self.of else None


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and 90th percentile of some durations, and how many there were."""

    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True, slots=True)
class Figures:
    """What `/stats` shows for a period."""

    received: int
    by_status: dict[Status, int]
    by_category: dict[int, int]
    by_messenger: dict[str, int]
    not_taken_in_time: Share
    not_answered_in_time: Share
    to_take: Spread
    to_answer: Spread
    to_resolve: Spread
    overdue_now: dict[Term, int]
    reopened: Share
    verdicts: dict[Verdict, int] = field(default_factory=dict)
    ratings: int = 0
    average_rating: float | None = None


def _late(done: datetime | None, due: datetime, now: datetime) -> bool | None:
    """Whether a term was missed: met late, or still unmet past its time; None while it may still be met."""
    if done is not None:
        return done > due
    return True if now > due else None


def _spread(values: list[timedelta]) -> Spread:
    if not values:
        return Spread(0, None, None)
    seconds = sorted(v.total_seconds() for v in values)
    p90 = statistics.quantiles(seconds, n=10, method="inclusive")[-1] if len(seconds) > 1 else seconds[0]
    return Spread(len(values), timedelta(seconds=statistics.median(seconds)), timedelta(seconds=p90))


def figures(items: Sequence[tuple[Report, Sequence[Event]]], now: datetime) -> Figures:
    """The figures of these reports (each with its whole history, oldest event first) as they stand at `now`.

    This is the definition; storage computes the same from the facts it keeps (`bot.core.facts`), much faster.
    """
    by_status: Counter[Status] = Counter()
    by_category: Counter[int] = Counter()
    by_messenger: Counter[str] = Counter()
    late_take = judged_take = late_answer = judged_answer = 0
    to_take: list[timedelta] = []
    to_answer: list[timedelta] = []
    to_resolve: list[timedelta] = []
    overdue: Counter[Term] = Counter()
    resolved = reopened = 0
    verdicts: Counter[Verdict] = Counter()
    ratings: list[int] = []
    for report, history in items:
        f = facts_of(report, history)
        by_status[f.status] += 1
        by_category[f.category_id] += 1
        by_messenger[f.messenger] += 1
        for done, due, kind in ((f.taken_at, f.take_due, "take"), (f.answered_at, f.answer_due, "answer")):
            late = _late(done, due, now)
            if late is None:
                continue
            if kind == "take":
                judged_take += 1
                late_take += late
            else:
                judged_answer += 1
                late_answer += late
        if f.taken_at is not None:
            to_take.append(f.taken_at - f.created_at)
        if f.answered_at is not None:
            to_answer.append(f.answered_at - f.created_at)
        if f.resolved_at is not None:
            to_resolve.append(f.resolved_at - f.created_at)
            resolved += 1
            reopened += f.reopened > 0
        for term in TERMS:
            overdue[term] += report.running(term) and now > report.dues.of(term)
        if f.verdict is not None:
            verdicts[f.verdict] += 1
        if f.rating is not None:
            ratings.append(f.rating)
    return Figures(
        received=len(items),
        by_status=dict(by_status),
        by_category=dict(by_category),
        by_messenger=dict(by_messenger),
        not_taken_in_time=Share(late_take, judged_take),
        not_answered_in_time=Share(late_answer, judged_answer),
        to_take=_spread(to_take),
        to_answer=_spread(to_answer),
        to_resolve=_spread(to_resolve),
        overdue_now={term: overdue[term] for term in TERMS},
        reopened=Share(reopened, resolved),
        verdicts=dict(verdicts),
        ratings=len(ratings),
        average_rating=sum(ratings) / len(ratings) if ratings else None,
    )
