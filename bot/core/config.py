"""What the core needs to know of the deployment, passed in rather than read from globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from bot.core.models import ChatRef
from bot.core.workdays import NO_DAYS_OFF, DaysOff, WorkHours

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PrivacyTerms:
    """What the personal-data notice says, and how long personal data are kept."""

    operator_name: str | None = None
    operator_contact: str | None = None
    # Bumped by the operator when the notice changes: residents who agreed to an earlier one are asked again.
    notice_version: int = 1
    retention_days: int = 365


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-resident limits against floods (0 switches one off)."""

    reports_per_day: int = 5
    messages_per_minute: int = 30


@dataclass(frozen=True, slots=True)
class TermRules:
    """How terms are counted and watched: defaults for new categories, the calendar, reminders and the verdict."""

    default_take_hours: float = 4.0
    default_resolve_days: int = 8
    # Officials are reminded when this share of a term has passed, and again when all of it has.
    remind_at: float = 0.75
    # How long after a resolution its resident may say "not fixed" and reopen it.
    reopen_days: int = 15
    days_off: DaysOff = NO_DAYS_OFF
    work_hours: WorkHours | None = None
    # When each staff chat gets the day's summary (local time); None: no summary.
    daily_summary_at: time | None = time(9, 0)
    # When each staff chat gets the past week's figures (weekday 0 = Monday, local time); None: no weekly summary.
    weekly_summary_at: tuple[int, time] | None = (0, time(9, 0))


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Deployment facts the core uses: where staff work, in which language and time zone, who administers."""

    staff_chat: ChatRef
    staff_language: str
    tz: ZoneInfo
    admin_ids: frozenset[int]
    default_answer_hours: float = 24
    terms: TermRules = TermRules()
    privacy: PrivacyTerms = PrivacyTerms()
    limits: Limits = Limits()
    # Reports this close in place (metres) may form one key problem (/problems).
    problem_radius_m: float = 300.0
