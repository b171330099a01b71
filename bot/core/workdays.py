"""Working days and working hours for report terms (taken into work, first answer, resolution).

Russia's calendar comes from the maintained `holidays` package: public holidays, the days off moved by
government decree and the Saturdays those decrees make working days. Regional days off (a republic's own
holidays) come from a setting and are added on top. Platform-neutral: no messenger, no storage.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

_ONE_DAY = timedelta(days=1)
# A calendar whose settings leave no working day at all must fail, not loop forever.
_MAX_DAYS_WITHOUT_WORK = 3660
# Regional days off are a few days long; a longer range is almost surely a typo in a year.
_MAX_RANGE_DAYS = 366
# Per-day answers of one calendar; the dates asked about are few (today and the next weeks), so this is a guard.
_MAX_CACHED_DAYS = 50_000

_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEARLY_DATE = re.compile(r"(\d{1,2})-(\d{1,2})")
_WORK_HOURS = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?")


@dataclass(frozen=True, slots=True)
class DaysOff:
    """Extra days off: `fixed` dates and `yearly` (month, day) pairs that recur every year."""

    fixed: frozenset[date]
    yearly: frozenset[tuple[int, int]]

    def __contains__(self, day: date) -> bool:
        """Whether `day` is one of these days off."""
        return day in self.fixed or (day.month, day.day) in self.yearly


NO_DAYS_OFF = DaysOff(frozenset(), frozenset())


@dataclass(frozen=True, slots=True)
class WorkHours:
    """The daily working time, local to the calendar's zone; `start` < `end`, both on the same day."""

    start: time
    end: time


def _full_date(item: str, text: str) -> date:
    if not _FULL_DATE.fullmatch(text):
        raise ValueError(f"day off {item!r}: {text!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"day off {item!r}: {text!r} is not a real date") from None


def parse_days_off(raw: str) -> DaysOff:
    """Parse extra days off: items separated by commas or spaces.

    Each item is `YYYY-MM-DD` (that date), `MM-DD` (that day every year) or `YYYY-MM-DD..YYYY-MM-DD`
    (every date of the range, both ends included, at most a year long). An empty string gives no days off.
    Raises ValueError naming the bad item.
    """
    fixed: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    for item in re.split(r"[,\s]+", raw.strip()):
        if not item:
            continue
        if ".." in item:
            first_text, _, last_text = item.partition("..")
            first, last = _full_date(item, first_text), _full_date(item, last_text)
            if first > last:
                raise ValueError(f"day off {item!r}: the range ends before it starts")
            if (last - first).days >= _MAX_RANGE_DAYS:
                raise ValueError(f"day off {item!r}: the range is longer than a year")
            fixed.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        elif yearly_match := _YEARLY_DATE.fullmatch(item):
            month, day = int(yearly_match[1]), int(yearly_match[2])
            try:
                date(2000, month, day)  # a leap year, so that 02-29 is accepted
            except ValueError:
                raise ValueError(f"day off {item!r}: no such day of the year (MM-DD)") from None
            yearly.add((month, day))
        elif _FULL_DATE.fullmatch(item):
            fixed.add(_full_date(item, item))
        else:
            raise ValueError(f"day off {item!r}: expected YYYY-MM-DD, MM-DD (every year) or YYYY-MM-DD..YYYY-MM-DD")
    return DaysOff(frozenset(fixed), frozenset(yearly))


def _clock(raw: str, hour: str, minute: str | None) -> time:
    hours, minutes = int(hour), int(minute or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"working hours {raw!r}: {hour}:{minute or '00'} is not a time of day")
    return time(hours, minutes)


def parse_work_hours(raw: str) -> WorkHours | None:
    """Parse the daily working time: `9-18`, `09:00-18:00`, `8:30-17:15`; an empty string gives None.

    Raises ValueError when the text is not such a range or the start is not before the end.
    """
    text = raw.strip()
    if not text:
        return None
    found = _WORK_HOURS.fullmatch(text)
    if found is None:
        raise ValueError(f"working hours {raw!r}: expected START-END such as 9-18 or 08:30-17:15")
    start = _clock(raw, found[1], found[2])
    end = _clock(raw, found[3], found[4])
    if start >= end:
        raise ValueError(f"working hours {raw!r}: the start must be before the end")
    return WorkHours(start, end)


@functools.lru_cache(maxsize=256)
def _russian_days_off(year: int) -> frozenset[date]:
    """Every non-working day of `year` in Russia's calendar (weekends included), as `holidays` knows it."""
    # A decree can move a day off into one year from a weekend of a neighbouring one, and the library marks
    # that weekend as a working day only while generating the receiving year, hence the neighbours.
    calendar = holidays.country_holidays("RU", years=(year - 1, year, year + 1), language="ru")
    day, last = date(year, 1, 1), date(year, 12, 31)
    off: set[date] = set()
    while day <= last:
        if not calendar.is_working_day(day):
            off.add(day)
        day += _ONE_DAY
    return frozenset(off)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an aware datetime is required (with a time zone)")
    return at


class WorkCalendar:
    """Russia's working calendar in one time zone, with regional days off and optional working hours.

    Weekends are off unless a decree made that Saturday a working day; Russia's public holidays and the
    days off moved by decree are off; so are the extra `days_off`. All of Russia's calendar comes from the
    `holidays` package and is generated lazily, one year at a time, then cached. For a year whose decree
    the library does not carry yet (or years outside its range), the calendar falls back to what the
    library has for it: the fixed public holidays and the weekends, without moved days.
    """

    def __init__(self, tz: ZoneInfo, days_off: DaysOff = NO_DAYS_OFF, hours: WorkHours | None = None) -> None:
        """A calendar for officials working in `tz`; `hours` None means hour terms run round the clock."""
        self.tz = tz
        self.days_off = days_off
        self.hours = hours
        self._working: dict[date, bool] = {}
        self._windows: dict[date, tuple[datetime, datetime]] = {}

    def is_working_day(self, day: date) -> bool:
        """Whether officials work on `day` (a local date)."""
        answer = self._working.get(day)
        if answer is None:
            answer = day not in _russian_days_off(day.year) and day not in self.days_off
            if len(self._working) >= _MAX_CACHED_DAYS:
                self._working.clear()
            self._working[day] = answer
        return answer

    def _next_working_day(self, after: date) -> date:
        day = after
        for _ in range(_MAX_DAYS_WITHOUT_WORK):
            day += _ONE_DAY
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_DAYS_WITHOUT_WORK} days after {after.isoformat()}")

    def _window(self, day: date, hours: WorkHours) -> tuple[datetime, datetime]:
        """The working time of `day` as UTC instants (so that a DST change inside it is counted right)."""
        window = self._windows.get(day)
        if window is None:
            window = (
                datetime.combine(day, hours.start, self.tz).astimezone(UTC),
                datetime.combine(day, hours.end, self.tz).astimezone(UTC),
            )
            if len(self._windows) >= _MAX_CACHED_DAYS:
                self._windows.clear()
            self._windows[day] = window
        return window

    def after_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start` (aware, any zone); the result is aware UTC.

        Without working hours this is simply `start + hours`. With them only the time inside the working
        hours of working days counts, so Friday 17:00 + 4 h with 9-18 is Monday 12:00; a start outside
        working time counts from the next working start.
        """
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite number >= 0, not {hours!r}")
        moment = _aware(start).astimezone(UTC)
        remaining = timedelta(hours=hours)
        if self.hours is None:
            return moment + remaining
        day = moment.astimezone(self.tz).date()
        if not self.is_working_day(day):
            day = self._next_working_day(day)
        while True:
            opens, closes = self._window(day, self.hours)
            begin = max(moment, opens)
            if begin < closes:
                left = closes - begin
                if remaining <= left:
                    return begin + remaining
                remaining -= left
            day = self._next_working_day(day)

    def after_working_days(self, start: datetime, days: int) -> datetime:
        """The end of the `days`-th working day after the local date of `start`; the result is aware UTC.

        The day of `start` itself never counts. The end is the working hours' end when they are set,
        otherwise midnight at the start of the next calendar day (the whole day counts).
        """
        if days < 1:
            raise ValueError(f"days must be >= 1, not {days!r}")
        day = _aware(start).astimezone(self.tz).date()
        for _ in range(days):
            day = self._next_working_day(day)
        if self.hours is not None:
            return self._window(day, self.hours)[1]
        return datetime.combine(day + _ONE_DAY, time(0), self.tz).astimezone(UTC)
