"""Times as SQLite keeps them: UTC ISO-8601 text with microseconds, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def ts(moment: datetime) -> str:
    """A datetime as sortable UTC text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_ts(text: str) -> datetime:
    """Inverse of `ts`."""
    return datetime.fromisoformat(text)
