"""A due time in words, as residents read it: "9 декабря, 14:00 (МСК)"."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime

# Russia's zones (tzdata's zone.tab and zone1970.tab); their residents read time relative to Moscow.
RUSSIAN_ZONES = frozenset(
    {
        "Europe/Kaliningrad",
        "Europe/Moscow",
        "Europe/Simferopol",
        "Europe/Kirov",
        "Europe/Volgograd",
        "Europe/Astrakhan",
        "Europe/Saratov",
        "Europe/Ulyanovsk",
        "Europe/Samara",
        "Asia/Yekaterinburg",
        "Asia/Omsk",
        "Asia/Novosibirsk",
        "Asia/Barnaul",
        "Asia/Tomsk",
        "Asia/Novokuznetsk",
        "Asia/Krasnoyarsk",
        "Asia/Irkutsk",
        "Asia/Chita",
        "Asia/Yakutsk",
        "Asia/Khandyga",
        "Asia/Vladivostok",
        "Asia/Ust-Nera",
        "Asia/Magadan",
        "Asia/Sakhalin",
        "Asia/Srednekolymsk",
        "Asia/Kamchatka",
        "Asia/Anadyr",
    }
)
_MOSCOW = ZoneInfo("Europe/Moscow")
_MINUS = "−"


def _offset(delta: timedelta) -> str:
    """`+4`, `−1`, `+5:30`, or empty for no offset."""
    minutes = round(delta.total_seconds() / 60)
    if minutes == 0:
        return ""
    sign = "+" if minutes > 0 else _MINUS
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}:{rest:02d}" if rest else f"{sign}{hours}"


def _zone_label(at: datetime, tz: ZoneInfo, language: str) -> str:
    local_offset = at.astimezone(tz).utcoffset() or timedelta(0)
    if tz.key in RUSSIAN_ZONES:
        moscow_offset = at.astimezone(_MOSCOW).utcoffset() or timedelta(0)
        return ("МСК" if language == "ru" else "MSK") + _offset(local_offset - moscow_offset)
    return "UTC" + _offset(local_offset)


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en")


def until(at: datetime, tz: ZoneInfo, language: str, now: datetime) -> str:
    """The due time `at` in words in `tz`: "9 декабря, 14:00 (МСК)" (ru), "9 December, 14:00 (MSK)" (en).

    The year is shown when it differs from the year of `now` in `tz`. The zone is relative to Moscow for
    Russia's zones (МСК+4, MSK−1) and to UTC for any other (UTC+5:30, UTC−5, UTC).
    """
    local = at.astimezone(tz)
    pattern = "d MMMM, HH:mm" if local.year == now.astimezone(tz).year else "d MMMM y, HH:mm"
    text = format_datetime(local, pattern, locale=_locale(language))
    return f"{text} ({_zone_label(at, tz, language)})"


def days_span(first: date, last: date, language: str) -> str:
    """Local days in words: "7 декабря 2026", "1–7 December 2026", "28 November – 4 December 2026"."""
    locale = _locale(language)
    whole = format_date(last, "d MMMM y", locale=locale)
    if first == last:
        return whole
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{whole}"
    start = format_date(first, "d MMMM" if first.year == last.year else "d MMMM y", locale=locale)
    return f"{start} – {whole}"
