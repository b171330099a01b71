"""The interfaces the core uses to keep its data; backends implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.core.models import (
    Category,
    Draft,
    Event,
    OutboxMessage,
    Report,
    ResidentProfile,
    ResidentRef,
)

OutboxFor = Callable[[Report], Sequence[OutboxMessage]]


class Unset:
    """Marks an argument that was not given (where None is a meaningful value)."""


UNSET = Unset()


class NotFound(Exception):
    """The record asked for does not exist."""


class Conflict(Exception):
    """The change lost a race: the record changed state meanwhile."""


class AlreadyApplied(Exception):
    """A change from this source (`Event.source`) was recorded before: it is not applied twice."""


class CategoryStore(Protocol):
    """Categories that residents choose from."""

    async def list_categories(self, include_hidden: bool = False) -> list[Category]: ...
    async def get_category(self, category_id: int) -> Category | None: ...
    async def add_category(self, name: str, answer_hours: int) -> Category: ...
    async def update_category(
        self,
        category_id: int,
        *,
        name: str | None = None,
        hidden: bool | None = None,
        photo_required: bool | None = None,
        answer_hours: int | None = None,
        staff_chat_id: int | Unset | None = UNSET,
    ) -> Category: ...

    async def staff_chats(self) -> set[int]:
        """The department chats categories are routed to."""
        ...


class ResidentStore(Protocol):
    """The minimum kept about residents: display name and language."""

    async def save_resident(self, profile: ResidentProfile) -> None: ...
    async def get_resident(self, ref: ResidentRef) -> ResidentProfile | None: ...


class DraftStore(Protocol):
    """Reports being written, one per resident."""

    async def get_draft(self, ref: ResidentRef) -> Draft | None: ...
    async def save_draft(self, ref: ResidentRef, draft: Draft) -> None: ...
    async def delete_draft(self, ref: ResidentRef) -> bool: ...


class ReportStore(Protocol):
    """Sent reports, their history, and the staff messages that show them."""

    async def submit_report(
        self,
        profile: ResidentProfile,
        draft: Draft,
        created_at: datetime,
        answer_due_at: datetime,
        outbox_for: OutboxFor,
    ) -> Report:
        """Atomically: create the report, record its creation and the resident's profile, drop the draft, queue its
        messages."""
        ...

    async def get_report(self, report_id: int) -> Report | None: ...
    async def list_reports(self, ref: ResidentRef, limit: int) -> list[Report]: ...
    async def history(self, report_id: int) -> list[Event]: ...

    async def record_event(self, event: Event, expected: Report, outbox: Sequence[OutboxMessage]) -> None:
        """Atomically: change status (if still `expected.status`), record the event, queue messages."""
        ...

    async def link_staff_messages(self, chat_id: int, message_ids: Sequence[int], report_id: int) -> None: ...
    async def report_for_staff_message(self, chat_id: int, message_id: int) -> int | None: ...

    async def save_pending(self, report_id: int, author: str, text: str, created_at: datetime) -> int: ...
    async def take_pending(self, pending_id: int) -> tuple[int, str, str] | None: ...


class OutboxStore(Protocol):
    """The durable delivery queue."""

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None: ...
    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The oldest pending message of each chat lane (`OutboxMessage.lane`) that is due, highest priority first."""
        ...

    async def mark_sent(self, message: OutboxMessage, message_ids: Sequence[int]) -> None: ...
    async def mark_retry(self, message: OutboxMessage, at: datetime, error: str) -> None: ...
    async def mark_failed(
        self, message: OutboxMessage, error: str, at: datetime, notices: Sequence[OutboxMessage] = ()
    ) -> None: ...
    async def pending_count(self) -> int: ...


@runtime_checkable
class ChatLanes(Protocol):
    """An outbox that can hand the worker the next message of a chat it has just sent to.

    Without it the worker goes back to `claim_due` after every message; with it a chat's backlog (a staff chat
    after a storm) drains without a scheduling round per message.
    """

    async def mark_sent_and_next(
        self, message: OutboxMessage, message_ids: Sequence[int], now: datetime
    ) -> OutboxMessage | None:
        """Acknowledge a sent message, then return the oldest pending message of its chat lane if it is due."""
        ...


class Storage(CategoryStore, ResidentStore, DraftStore, ReportStore, OutboxStore, Protocol):
    """Everything the bot keeps; one object per backend."""

    async def close(self) -> None: ...
