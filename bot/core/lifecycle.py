"""A report's life in one place: which event may happen in which state, the state after it, and its record.

Every change of a report goes through `change` (or `created` for the first), so no status is ever set anywhere
else and every change leaves an event with its time and author.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.models import Event, EventKind, Report, Status

# What each event does for the terms: taking into work, and answering (which takes it into work too).
TAKES = (EventKind.TAKEN, EventKind.ANSWERED, EventKind.RESOLVED, EventKind.REJECTED, EventKind.DUPLICATE_LINKED)
ANSWERS = (EventKind.ANSWERED, EventKind.RESOLVED, EventKind.REJECTED, EventKind.DUPLICATE_LINKED)

_OPEN = (Status.NEW, Status.IN_PROGRESS, Status.REOPENED)
_CLOSED = (Status.RESOLVED, Status.REJECTED, Status.DUPLICATE)
_SENT = _OPEN + _CLOSED

_TRANSITIONS: dict[tuple[Status, EventKind], Status] = {
    (Status.DRAFT, EventKind.CREATED): Status.NEW,
    **{(s, EventKind.TAKEN): Status.IN_PROGRESS for s in _OPEN},
    (Status.IN_PROGRESS, EventKind.REASSIGNED): Status.IN_PROGRESS,
    (Status.NEW, EventKind.ANSWERED): Status.IN_PROGRESS,
    (Status.REOPENED, EventKind.ANSWERED): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, EventKind.ANSWERED): Status.IN_PROGRESS,
    # Officials may still write to the resident after closing, e.g. to clarify.
    **{(s, EventKind.ANSWERED): s for s in _CLOSED},
    **{(s, EventKind.RESOLVED): Status.RESOLVED for s in _OPEN},
    **{(s, EventKind.REJECTED): Status.REJECTED for s in _OPEN},
    **{(s, EventKind.REOPENED): Status.REOPENED for s in _CLOSED},
    **{(s, EventKind.MOVED): s for s in _OPEN},
    **{(s, EventKind.DUPLICATE_LINKED): Status.DUPLICATE for s in _OPEN},
    # A report that others wait on; a duplicate re-pointed to the report that covers it stays a duplicate.
    **{(s, EventKind.DUPLICATE_JOINED): s for s in _OPEN},
    (Status.DUPLICATE, EventKind.DUPLICATE_LINKED): Status.DUPLICATE,
    # The resident writes more; the officials' chat changes; a message is refused: the state stays.
    **{
        (s, kind): s
        for s in _SENT
        for kind in (
            EventKind.FOLLOWED_UP,
            EventKind.REROUTED,
            EventKind.DELIVERY_FAILED,
            EventKind.CONSENT_WITHDRAWN,
            EventKind.ANONYMISED,
            EventKind.BANNED,
            EventKind.UNBANNED,
            EventKind.RATED,
        )
    },
    **{(s, EventKind.REMINDED): s for s in _OPEN},
    (Status.RESOLVED, EventKind.CONFIRMED): Status.RESOLVED,
}

SYSTEM = "system"
"""The author of what the bot does on its own (rerouting, failed deliveries)."""


class InvalidTransition(Exception):
    """The event cannot happen to a report in its current state."""

    def __init__(self, status: Status, kind: EventKind) -> None:
        super().__init__(f"{kind.value} is not allowed in {status.value}")
        self.status = status
        self.kind = kind


def next_status(status: Status, kind: EventKind) -> Status:
    """The state after `kind` happens in `status`, or InvalidTransition."""
    try:
        return _TRANSITIONS[(status, kind)]
    except KeyError:
        raise InvalidTransition(status, kind) from None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who causes a change: an author key for the history and the display name at the time."""

    author: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a report: its state before (as read) and after, and the events that record it.

    Storage applies it only if the report is still at `before.version`, so two changes made at once cannot both
    win; `before` is None for the report's creation.
    """

    before: Report | None
    after: Report
    events: tuple[Event, ...]


def change(
    report: Report,
    kind: EventKind,
    actor: Actor,
    at: datetime,
    *,
    text: str | None = None,
    source: str | None = None,
    photos: tuple[str, ...] = (),
    **fields: Any,
) -> Change:
    """The change `kind` makes to `report` (with other `fields` of the report changed too), checked and recorded.

    Raises InvalidTransition when the report's state does not allow it.
    """
    if "status" in fields or "version" in fields:
        raise ValueError("the status and version follow from the event")
    status = next_status(report.status, kind)
    if kind in TAKES and report.taken_at is None and "taken_at" not in fields:
        fields["taken_at"] = at
    if kind in ANSWERS and report.answered_at is None and "answered_at" not in fields:
        fields["answered_at"] = at
    after = dataclasses.replace(report, status=status, version=report.version + 1, **fields)
    dues = after.dues if "dues" in fields else None
    event = Event(report.id, kind, at, actor.author, status, text, source, actor.name, photos, dues)
    return Change(report, after, (event,))


def created(report: Report, actor: Actor) -> Event:
    """The first event of a report just sent by its resident."""
    status = next_status(Status.DRAFT, EventKind.CREATED)
    return Event(report.id, EventKind.CREATED, report.created_at, actor.author, status, dues=report.dues)
