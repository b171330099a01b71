"""The working calendar (Russia's holidays and moved days from the `holidays` package) and due times in words."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.workdays import DaysOff, WorkCalendar, WorkHours, parse_days_off, parse_work_hours
from bot.text.when import until

MSK = ZoneInfo("Europe/Moscow")
NINE_TO_SIX = WorkHours(time(9), time(18))


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar(MSK)


@pytest.fixture
def office() -> WorkCalendar:
    return WorkCalendar(MSK, hours=NINE_TO_SIX)


# --- which days are working days ---


def test_ordinary_weekdays_work_and_weekends_do_not(calendar: WorkCalendar) -> None:
    week = days(date(2026, 3, 16), date(2026, 3, 22))  # Monday to Sunday, no holidays
    assert [calendar.is_working_day(day) for day in week] == [True] * 5 + [False] * 2


def test_russia_2025(calendar: WorkCalendar) -> None:
    assert not any(calendar.is_working_day(day) for day in days(date(2025, 1, 1), date(2025, 1, 8)))
    assert calendar.is_working_day(date(2025, 1, 9))
    # Moved by decree: 4 January -> 2 May, 23 February -> 8 May, 5 January -> 31 December.
    assert not calendar.is_working_day(date(2025, 5, 2))
    assert not calendar.is_working_day(date(2025, 5, 8))
    assert not calendar.is_working_day(date(2025, 12, 31))
    assert calendar.is_working_day(date(2025, 5, 7))
    # Saturday 1 November worked for Monday 3 November; 4 November is Unity Day.
    assert calendar.is_working_day(date(2025, 11, 1))
    assert not calendar.is_working_day(date(2025, 11, 3))
    assert not calendar.is_working_day(date(2025, 11, 4))
    assert calendar.is_working_day(date(2025, 11, 5))
    # 8 March was a Saturday, moved to Friday 13 June beside Russia Day.
    assert not calendar.is_working_day(date(2025, 6, 12))
    assert not calendar.is_working_day(date(2025, 6, 13))


def test_russia_2025_has_exactly_the_official_weekday_days_off(calendar: WorkCalendar) -> None:
    weekday_days_off = {
        day
        for day in days(date(2025, 1, 1), date(2025, 12, 31))
        if day.weekday() < 5 and not calendar.is_working_day(day)
    }
    official = {
        *days(date(2025, 1, 1), date(2025, 1, 3)),
        *days(date(2025, 1, 6), date(2025, 1, 8)),
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 5, 8),
        date(2025, 5, 9),
        date(2025, 6, 12),
        date(2025, 6, 13),
        date(2025, 11, 3),
        date(2025, 11, 4),
        date(2025, 12, 31),
    }
    assert weekday_days_off == official


def test_russia_2026(calendar: WorkCalendar) -> None:
    assert not any(calendar.is_working_day(day) for day in days(date(2026, 1, 1), date(2026, 1, 11)))
    assert calendar.is_working_day(date(2026, 1, 12))
    # 3 January (Saturday) -> Friday 9 January; 4 January (Sunday) -> Thursday 31 December.
    assert not calendar.is_working_day(date(2026, 1, 9))
    assert not calendar.is_working_day(date(2026, 12, 31))
    assert calendar.is_working_day(date(2026, 12, 30))
    # 8 March and 9 May fall on a weekend: the following Mondays are off.
    assert not calendar.is_working_day(date(2026, 3, 9))
    assert not calendar.is_working_day(date(2026, 5, 11))
    assert not calendar.is_working_day(date(2026, 2, 23))
    # No Saturday of 2026 is a working day.
    saturdays = [day for day in days(date(2026, 1, 1), date(2026, 12, 31)) if day.weekday() == 5]
    assert not any(calendar.is_working_day(day) for day in saturdays)


def test_russia_2027_as_the_library_has_its_decree(calendar: WorkCalendar) -> None:
    assert not any(calendar.is_working_day(day) for day in days(date(2027, 1, 1), date(2027, 1, 10)))
    assert calendar.is_working_day(date(2027, 1, 11))
    assert not calendar.is_working_day(date(2027, 2, 23))
    # Saturday 20 February works for Monday 22 February; 2 January -> 5 November; 3 January -> 31 December.
    assert calendar.is_working_day(date(2027, 2, 20))
    assert not calendar.is_working_day(date(2027, 2, 22))
    assert not calendar.is_working_day(date(2027, 11, 5))
    assert not calendar.is_working_day(date(2027, 12, 31))
    # Holidays on a weekend: 1 and 9 May, 12 June.
    assert not calendar.is_working_day(date(2027, 5, 3))
    assert not calendar.is_working_day(date(2027, 5, 10))
    assert not calendar.is_working_day(date(2027, 6, 14))


def test_a_working_saturday_moved_across_the_new_year(calendar: WorkCalendar) -> None:
    # 28 December 2024 (Saturday) worked for Monday 30 December.
    assert calendar.is_working_day(date(2024, 12, 28))
    assert not calendar.is_working_day(date(2024, 12, 30))
    assert not calendar.is_working_day(date(2024, 12, 31))


def test_a_year_without_a_decree_keeps_the_fixed_holidays() -> None:
    fresh = WorkCalendar(ZoneInfo("Asia/Yekaterinburg"))
    assert not fresh.is_working_day(date(2099, 1, 5))
    assert not fresh.is_working_day(date(2099, 2, 23))
    assert fresh.is_working_day(date(2099, 2, 24))


def test_regional_days_off_are_skipped() -> None:
    tatarstan = WorkCalendar(MSK, days_off=parse_days_off("08-30, 2026-05-27"))
    assert not tatarstan.is_working_day(date(2027, 8, 30))  # a Monday, every year
    assert not tatarstan.is_working_day(date(2028, 8, 30))
    assert not tatarstan.is_working_day(date(2026, 5, 27))  # that date only
    assert tatarstan.is_working_day(date(2027, 5, 27))
    assert tatarstan.after_working_days(msk(2027, 8, 27, 15), 1) == msk(2027, 9, 1).astimezone(UTC)
    assert tatarstan.after_working_days(msk(2026, 5, 26, 10), 1) == msk(2026, 5, 29).astimezone(UTC)


def test_a_regional_day_off_wins_over_a_working_saturday() -> None:
    regional = WorkCalendar(MSK, days_off=parse_days_off("2025-11-01"))
    assert not regional.is_working_day(date(2025, 11, 1))


# --- hour terms ---


def test_hours_without_working_hours_are_plain_hours(calendar: WorkCalendar) -> None:
    friday = msk(2026, 12, 4, 17)
    due = calendar.after_hours(friday, 4)
    assert due == msk(2026, 12, 4, 21)
    assert due.tzinfo is UTC
    assert calendar.after_hours(msk(2025, 12, 31, 22), 24) == msk(2026, 1, 1, 22)


def test_working_hours_skip_the_weekend(office: WorkCalendar) -> None:
    assert office.after_hours(msk(2026, 12, 4, 17), 4) == msk(2026, 12, 7, 12)


def test_working_hours_skip_holidays(office: WorkCalendar) -> None:
    # Tuesday 30 December 2025 16:00: two hours that day, then nothing until Monday 12 January.
    assert office.after_hours(msk(2025, 12, 30, 16), 5) == msk(2026, 1, 12, 12)


def test_working_hours_count_a_working_saturday(office: WorkCalendar) -> None:
    assert office.after_hours(msk(2025, 10, 31, 17), 4) == msk(2025, 11, 1, 12)


def test_working_hours_start_from_the_next_working_start(office: WorkCalendar) -> None:
    assert office.after_hours(msk(2026, 12, 8, 7, 30), 1) == msk(2026, 12, 8, 10)
    assert office.after_hours(msk(2026, 12, 8, 19), 1) == msk(2026, 12, 9, 10)
    assert office.after_hours(msk(2026, 12, 5, 11), 1) == msk(2026, 12, 7, 10)  # Saturday


def test_fractional_hours(office: WorkCalendar) -> None:
    assert office.after_hours(msk(2026, 12, 9, 17, 45), 0.5) == msk(2026, 12, 10, 9, 15)
    assert office.after_hours(msk(2026, 12, 9, 10), 0.5) == msk(2026, 12, 9, 10, 30)


def test_a_term_ending_at_closing_time_ends_that_day(office: WorkCalendar) -> None:
    assert office.after_hours(msk(2026, 12, 9, 14), 4) == msk(2026, 12, 9, 18)


def test_hours_accept_any_zone_and_answer_in_utc(office: WorkCalendar) -> None:
    start = datetime(2026, 12, 4, 14, tzinfo=UTC)  # 17:00 in Moscow, a Friday
    due = office.after_hours(start, 4)
    assert due == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_hours_in_another_zone_follow_its_local_day() -> None:
    vladivostok = ZoneInfo("Asia/Vladivostok")
    office = WorkCalendar(vladivostok, hours=parse_work_hours("9-18"))
    friday_evening = datetime(2026, 12, 4, 17, tzinfo=vladivostok)
    assert office.after_hours(friday_evening, 2) == datetime(2026, 12, 7, 10, tzinfo=vladivostok)


def test_bad_hour_arguments(office: WorkCalendar) -> None:
    with pytest.raises(ValueError):
        office.after_hours(datetime(2026, 12, 4, 17), 4)  # naive
    with pytest.raises(ValueError):
        office.after_hours(msk(2026, 12, 4, 17), -1)
    with pytest.raises(ValueError):
        office.after_hours(msk(2026, 12, 4, 17), float("nan"))


# --- day terms ---


def test_working_days_across_the_new_year(calendar: WorkCalendar, office: WorkCalendar) -> None:
    # From Monday 29 December 2025: 30 December, then 12-16 and 19-20 January 2026.
    filed = msk(2025, 12, 29, 10)
    assert calendar.after_working_days(filed, 8) == msk(2026, 1, 21).astimezone(UTC)
    assert office.after_working_days(filed, 8) == msk(2026, 1, 20, 18).astimezone(UTC)
    assert calendar.after_working_days(filed, 1) == msk(2025, 12, 31)
    assert calendar.after_working_days(filed, 2) == msk(2026, 1, 13)


def test_working_days_count_a_moved_working_saturday(calendar: WorkCalendar) -> None:
    assert calendar.after_working_days(msk(2025, 10, 30, 12), 2) == msk(2025, 11, 2)  # Friday, Saturday 1 Nov
    assert calendar.after_working_days(msk(2025, 10, 31, 12), 2) == msk(2025, 11, 6)  # 1 Nov, then 5 Nov
    assert calendar.after_working_days(msk(2027, 2, 19, 12), 1) == msk(2027, 2, 21)  # Saturday 20 Feb 2027
    assert calendar.after_working_days(msk(2027, 2, 19, 12), 2) == msk(2027, 2, 25)


def test_the_filing_day_never_counts(calendar: WorkCalendar) -> None:
    assert calendar.after_working_days(msk(2026, 12, 8, 0, 5), 1) == msk(2026, 12, 10)
    assert calendar.after_working_days(msk(2026, 12, 5, 12), 1) == msk(2026, 12, 8)  # filed on a Saturday


def test_working_days_use_the_local_date(calendar: WorkCalendar) -> None:
    # 22:30 UTC on Monday is already Tuesday in Moscow.
    late = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)
    due = calendar.after_working_days(late, 1)
    assert due == msk(2026, 12, 10)
    assert due.tzinfo is UTC


def test_working_days_must_be_at_least_one(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError):
        calendar.after_working_days(msk(2026, 12, 8), 0)
    with pytest.raises(ValueError):
        calendar.after_working_days(datetime(2026, 12, 8), 1)


def test_a_calendar_without_working_days_fails_instead_of_looping() -> None:
    every_day = frozenset((day.month, day.day) for day in days(date(2028, 1, 1), date(2028, 12, 31)))
    closed = WorkCalendar(MSK, days_off=DaysOff(frozenset(), every_day), hours=NINE_TO_SIX)
    with pytest.raises(ValueError, match="no working day"):
        closed.after_working_days(msk(2026, 12, 8), 1)
    with pytest.raises(ValueError, match="no working day"):
        closed.after_hours(msk(2026, 12, 8), 1)


def test_answers_are_fast(office: WorkCalendar) -> None:
    filed = msk(2026, 12, 4, 17)
    started = clock.perf_counter()
    for _ in range(5000):
        office.after_hours(filed, 4)
        office.after_working_days(filed, 8)
    assert clock.perf_counter() - started < 5


# --- parsers ---


def test_parse_days_off() -> None:
    assert parse_days_off("") == DaysOff(frozenset(), frozenset())
    assert parse_days_off("  ") == DaysOff(frozenset(), frozenset())
    parsed = parse_days_off("08-30, 2026-05-27 11-06,2026-01-12..2026-01-14")
    assert parsed.yearly == {(8, 30), (11, 6)}
    assert parsed.fixed == {date(2026, 5, 27), date(2026, 1, 12), date(2026, 1, 13), date(2026, 1, 14)}
    assert date(2031, 8, 30) in parsed
    assert date(2026, 1, 13) in parsed
    assert date(2026, 1, 15) not in parsed
    assert (2, 29) in parse_days_off("02-29").yearly


@pytest.mark.parametrize(
    "raw, bad",
    [
        ("2026-13-01", "2026-13-01"),
        ("08-30, 02-30", "02-30"),
        ("13-01", "13-01"),
        ("tomorrow", "tomorrow"),
        ("2026-1-9", "2026-1-9"),
        ("2026-05-27..2026-05-20", "2026-05-27..2026-05-20"),
        ("2026-01-01..08-30", "2026-01-01..08-30"),
        ("2026-01-01..2027-06-01", "2026-01-01..2027-06-01"),
        ("2026-01-01..", "2026-01-01.."),
    ],
)
def test_parse_days_off_names_the_bad_item(raw: str, bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        parse_days_off(raw)


@pytest.mark.parametrize(
    "raw, start, end",
    [
        ("9-18", time(9), time(18)),
        ("09:00-18:00", time(9), time(18)),
        ("8:30-17:15", time(8, 30), time(17, 15)),
        (" 9 - 18 ", time(9), time(18)),
    ],
)
def test_parse_work_hours(raw: str, start: time, end: time) -> None:
    assert parse_work_hours(raw) == WorkHours(start, end)


def test_parse_work_hours_empty() -> None:
    assert parse_work_hours("") is None
    assert parse_work_hours("   ") is None


@pytest.mark.parametrize("raw", ["18-9", "9-9", "25-26", "9:60-18", "nine to six", "9-18-20", "9:5-18", "9", "-18"])
def test_parse_work_hours_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="working hours"):
        parse_work_hours(raw)


# --- due times in words ---

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
DUE = datetime(2026, 12, 9, 11, tzinfo=UTC)  # 14:00 in Moscow


def test_until_in_russian_and_english() -> None:
    assert until(DUE, MSK, "ru", NOW) == "9 декабря, 14:00 (МСК)"
    assert until(DUE, MSK, "en", NOW) == "9 December, 14:00 (MSK)"


def test_until_shows_the_year_across_the_new_year() -> None:
    due = datetime(2027, 1, 9, 11, tzinfo=UTC)
    assert until(due, MSK, "ru", NOW) == "9 января 2027, 14:00 (МСК)"
    assert until(due, MSK, "en", NOW) == "9 January 2027, 14:00 (MSK)"
    # Already 1 January 2027 in Moscow, though still 2026 in UTC.
    new_years_night = datetime(2026, 12, 31, 22, tzinfo=UTC)
    assert until(due, MSK, "ru", new_years_night) == "9 января, 14:00 (МСК)"


def test_until_relative_to_moscow_in_russia() -> None:
    assert until(DUE, ZoneInfo("Asia/Novosibirsk"), "ru", NOW) == "9 декабря, 18:00 (МСК+4)"
    assert until(DUE, ZoneInfo("Asia/Novosibirsk"), "en", NOW) == "9 December, 18:00 (MSK+4)"
    assert until(DUE, ZoneInfo("Europe/Kaliningrad"), "ru", NOW) == "9 декабря, 13:00 (МСК−1)"
    assert until(DUE, ZoneInfo("Asia/Kamchatka"), "en", NOW) == "9 December, 23:00 (MSK+9)"


def test_until_relative_to_utc_elsewhere() -> None:
    assert until(DUE, ZoneInfo("Europe/Berlin"), "en", NOW) == "9 December, 12:00 (UTC+1)"
    summer = datetime(2026, 7, 1, 10, tzinfo=UTC)
    assert until(summer, ZoneInfo("Europe/Berlin"), "ru", NOW) == "1 июля, 12:00 (UTC+2)"
    assert until(DUE, ZoneInfo("America/New_York"), "en", NOW) == "9 December, 06:00 (UTC−5)"
    assert until(DUE, ZoneInfo("Asia/Kolkata"), "en", NOW) == "9 December, 16:30 (UTC+5:30)"
    assert until(DUE, ZoneInfo("UTC"), "en", NOW) == "9 December, 11:00 (UTC)"
