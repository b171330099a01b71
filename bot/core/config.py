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
class CoreConfig:
    """Deployment facts the core uses: where staff work, in which language and time zone, who administers."""

    staff_chat: ChatRef
    staff_language: str
    tz: ZoneInfo
    admin_ids: frozenset[int]
    default_answer_hours: int = 24
