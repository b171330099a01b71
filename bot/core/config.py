"""What the core needs to know of the deployment, passed in rather than read from globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.models import ChatRef

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
class CoreConfig:
    """Deployment facts the core uses: where staff work, in which language and time zone, who administers."""

    staff_chat: ChatRef
    staff_language: str
    tz: ZoneInfo
    admin_ids: frozenset[int]
    default_answer_hours: int = 24
    privacy: PrivacyTerms = PrivacyTerms()
    limits: Limits = Limits()
