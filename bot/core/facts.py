"""What the figures need to know of one report, folded from its history event by event.

Storage keeps these facts beside each report, updated in the same transaction as the events they fold, so the
figures of a year are one scan of a narrow table instead of a replay of millions of events; `facts_of` replays a
whole history and is the definition the kept facts are tested against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.lifecycle import ANSWERS, TAKES
from bot.core.models import Event, EventKind, Report, Status, Verdict


@dataclass(frozen=True, slots=True)
class Facts:
    """One report's facts for the figures: the terms it was filed under and when each thing first happened."""

    report_id: int
    created_at: datetime
    messenger: str
    category_id: int
    status: Status
    # The due times set when it was filed: whether it was taken and answered in time is judged against these.
    take_due: datetime
    answer_due: datetime
    resolve_due: datetime
    taken_at: datetime | None = None
    answered_at: datetime | None = None
    resolved_at: datetime | None = None
    rejected_at: datetime | None = None
    reopened: int = 0
    # The resident's latest verdict and rating, kept when a new resolution clears them on the report.
    verdict: Verdict | None = None
    rating: int | None = None
    follow_ups: int = 0

    @property
    def closed_at(self) -> datetime | None:
        """When it was first resolved or rejected."""
        return self.resolved_at or self.rejected_at

    def seconds(self, moment: datetime | None) -> float | None:
        """Seconds from its filing to `moment`."""
        return (moment - self.created_at).total_seconds() if moment is not None else None


def filed(report: Report) -> Facts:
    """The facts of a report just filed."""
    return Facts(
        report_id=report.id,
        created_at=report.created_at,
        messenger=report.resident.messenger.value,
        category_id=report.category_id,
        status=report.status,
        take_due=report.dues.take,
        answer_due=report.dues.answer,
        resolve_due=report.dues.resolve,
    )


def fold(facts: Facts, event: Event, after: Report) -> Facts:
    """The facts once `event` happened, leaving the report as `after`."""
    kind, at = event.kind, event.at
    return dataclasses.replace(
        facts,
        category_id=after.category_id,
        status=after.status,
        taken_at=facts.taken_at or (at if kind in TAKES else None),
        answered_at=facts.answered_at or (at if kind in ANSWERS else None),
        resolved_at=facts.resolved_at or (at if kind is EventKind.RESOLVED else None),
        rejected_at=facts.rejected_at or (at if kind is EventKind.REJECTED else None),
        reopened=facts.reopened + (kind is EventKind.REOPENED),
        verdict=after.verdict or facts.verdict,
        rating=after.rating or facts.rating,
        follow_ups=after.follow_ups,
    )


def facts_of(report: Report, history: Sequence[Event]) -> Facts:
    """A report's facts replayed from its whole history (oldest event first), as it stands now as `report`."""
    created = next((e for e in history if e.kind is EventKind.CREATED), None)
    dues = created.dues if created is not None and created.dues is not None else report.dues
    facts = Facts(
        report_id=report.id,
        created_at=report.created_at,
        messenger=report.resident.messenger.value,
        category_id=report.category_id,
        status=report.status,
        take_due=dues.take,
        answer_due=dues.answer,
        resolve_due=dues.resolve,
    )
    for event in history:
        if event.kind is not EventKind.CREATED:
            facts = fold(facts, event, report)
    verdict = _last_verdict(history, report.resident.key)
    return dataclasses.replace(facts, verdict=verdict or report.verdict, rating=_last_rating(history))


def _last_verdict(history: Sequence[Event], resident: str) -> Verdict | None:
    """The resident's last verdict: confirming a resolution, or reopening it themselves ("not fixed")."""
    verdict = None
    for event in history:
        if event.kind is EventKind.CONFIRMED:
            verdict = Verdict.FIXED
        elif event.kind is EventKind.REOPENED and event.author == resident:
            verdict = Verdict.NOT_FIXED
    return verdict


def _last_rating(history: Sequence[Event]) -> int | None:
    rated = [e.text for e in history if e.kind is EventKind.RATED and e.text and e.text.isdigit()]
    return int(rated[-1]) if rated else None
