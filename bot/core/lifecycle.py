"""A report's life in one place: which event may happen in which state, and the state after it."""

from __future__ import annotations

from datetime import datetime

from bot.core.models import Event, EventKind, Status

_OPEN = (Status.NEW, Status.IN_PROGRESS)

_TRANSITIONS: dict[tuple[Status, EventKind], Status] = {
    (Status.DRAFT, EventKind.CREATED): Status.NEW,
    (Status.NEW, EventKind.TAKEN): Status.IN_PROGRESS,
    (Status.NEW, EventKind.ANSWERED): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, EventKind.ANSWERED): Status.IN_PROGRESS,
    # Officials may still write to the resident after closing, e.g. to clarify.
    (Status.RESOLVED, EventKind.ANSWERED): Status.RESOLVED,
    (Status.REJECTED, EventKind.ANSWERED): Status.REJECTED,
    **{(s, EventKind.RESOLVED): Status.RESOLVED for s in _OPEN},
    **{(s, EventKind.REJECTED): Status.REJECTED for s in _OPEN},
    **{(s, EventKind.DELIVERY_FAILED): s for s in Status if s is not Status.DRAFT},
}


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


def make_event(
    report_id: int,
    status: Status,
    kind: EventKind,
    author: str,
    at: datetime,
    text: str | None = None,
    source: str | None = None,
) -> Event:
    """Build the event record of a change, checking that the change is allowed."""
    return Event(report_id, kind, at, author, next_status(status, kind), text, source)


def first_answer_at(history: list[Event]) -> datetime | None:
    """When the report was first taken into work or answered (from its history)."""
    for event in history:
        if event.kind in (EventKind.TAKEN, EventKind.ANSWERED, EventKind.RESOLVED, EventKind.REJECTED):
            return event.at
    return None
