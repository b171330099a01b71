"""The periods figures are asked for: `today`, `week`, `month`, `7d`, `30d` or `YYYY-MM-DD..YYYY-MM-DD`.

Days are the city's local days. `week` is the calendar week so far (from Monday), `month` the calendar month so
far; `7d` and `30d` are the last 7 and 30 days with today. A range includes both of its dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT = "week"
NAMES = ("today", "week", "month", "7d", "30d")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
# Far enough back for any city's whole history, near enough to keep the figures' queries and charts sane.
LONGEST_DAYS = 3 * 366


class BadPeriod(ValueError):
    """The text names no period this bot knows."""


@dataclass(frozen=True, slots=True)
class Period:
    """Local days `first`..`last` (both included), as UTC instants [start, end) for storage."""

    first: date
    last: date
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        """The first instant of the period, in UTC."""
        return datetime.combine(self.first, time(0), self.tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period, in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(0), self.tz).astimezone(UTC)

    @property
    def days(self) -> int:
        """How many days it spans."""
        return (self.last - self.first).days + 1

    @property
    def weekly(self) -> bool:
        """Whether a chart shows it by weeks rather than by days."""
        return self.days > 45

    def buckets(self) -> list[date]:
        """The first day of each of the chart's buckets: each day, or each week (from the period's first day)."""
        step = 7 if self.weekly else 1
        return [self.first + timedelta(days=d) for d in range(0, self.days, step)]

    def bucket_of(self, day: date) -> int:
        """The index of the bucket holding `day`."""
        return (day - self.first).days // (7 if self.weekly else 1)

    @property
    def utc_offset(self) -> timedelta:
        """The zone's offset at the start (Russia's zones keep one offset all year)."""
        return self.start.astimezone(self.tz).utcoffset() or timedelta(0)


def parse_period(text: str, tz: ZoneInfo, now: datetime) -> Period:
    """The period `text` names (empty: this week so far), as of `now`; BadPeriod if it names none."""
    name = text.strip().lower() or DEFAULT
    today = now.astimezone(tz).date()
    if name == "today":
        return Period(today, today, tz)
    if name == "week":
        return Period(today - timedelta(days=today.weekday()), today, tz)
    if name == "month":
        return Period(today.replace(day=1), today, tz)
    if name in ("7d", "30d"):
        return Period(today - timedelta(days=int(name[:-1]) - 1), today, tz)
    match = _RANGE.match(name)
    if match is None:
        raise BadPeriod(text)
    try:
        first, last = (date.fromisoformat(match.group(i)) for i in (1, 2))
    except ValueError:
        raise BadPeriod(text) from None
    if last < first or (last - first).days >= LONGEST_DAYS:
        raise BadPeriod(text)
    return Period(first, last, tz)


def last_week(tz: ZoneInfo, now: datetime) -> Period:
    """The last whole calendar week (Monday to Sunday) before `now`'s week: what the weekly summary covers."""
    monday = now.astimezone(tz).date()
    monday -= timedelta(days=monday.weekday())
    return Period(monday - timedelta(days=7), monday - timedelta(days=1), tz)
