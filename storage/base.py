"""The interfaces the rest of the code uses to keep its data; backends implement every method declared here.

Storage keeps what it is given: every event it writes was made by the core (bot/core/lifecycle.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.core.facts import Facts
from bot.core.figures import Figures
from bot.core.lifecycle import Change
from bot.core.models import (
    Ban,
    Category,
    ChatRef,
    Draft,
    Dues,
    Event,
    Messenger,
    Report,
    ResidentProfile,
    ResidentRef,
    Term,
)
from bot.core.outbox import Card, OutboxMessage
from bot.figures.export import ExportRow

if TYPE_CHECKING:
    from bot.figures.problems import Sample

Effects = tuple[Sequence[Event], Sequence[OutboxMessage]]
EffectsFor = Callable[[Report], Effects]
"""What a new report records and owes, once its number is known: its first events and its messages."""


class Unset:
    """Marks an argument that was not given (where None is a meaningful value)."""


UNSET = Unset()


class NotFound(Exception):
    """The record asked for does not exist."""


class Conflict(Exception):
    """The change lost a race: the record changed meanwhile."""


class AlreadyApplied(Exception):
    """A change from this source (`Event.source`) was recorded before: it is not applied twice."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A resolution waiting for its official to confirm it goes without an after photo."""

    report_id: int
    chat: ChatRef
    author: str
    author_name: str | None
    text: str


@dataclass(frozen=True, slots=True)
class BrokenChat:
    """A staff chat that refused the bot for good, or moved (a group upgraded to a supergroup)."""

    chat: ChatRef
    reason: str
    at: datetime
    moved_to: ChatRef | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """A resident's message counted at the door: this minute's count so far, or that they are banned."""

    count: int
    banned: bool
    # Banned, and this is the first message since: the one time they are told.
    first_notice: bool


@dataclass(frozen=True, slots=True)
class OpenSummary:
    """The open reports of one staff chat (None: the default one), for the daily summary."""

    chat: ChatRef | None
    open: int
    not_taken: int
    overdue: dict[Term, int]
    # Who has taken how many, the most first (display names as the assignments recorded them).
    taken: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ResidentRecord:
    """What a card says of its resident: reports filed, how many rejected, and whether they are banned."""

    filed: int
    rejected: int
    banned: bool


class CategoryStore(Protocol):
    """Categories that residents choose from."""

    async def list_categories(self, include_hidden: bool = False) -> list[Category]: ...
    async def get_category(self, category_id: int) -> Category | None: ...
    async def add_category(
        self, name: str, answer_hours: float, take_hours: float = 4.0, resolve_days: int = 8
    ) -> Category: ...
    async def update_category(
        self,
        category_id: int,
        *,
        name: str | None = None,
        hidden: bool | None = None,
        photo_required: bool | None = None,
        answer_hours: float | None = None,
        take_hours: float | None = None,
        resolve_days: int | None = None,
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
    """Residents' dialog states (reports being written), one per resident."""

    async def get_draft(self, ref: ResidentRef) -> Draft | None: ...
    async def save_draft(self, ref: ResidentRef, draft: Draft) -> None: ...
    async def delete_draft(self, ref: ResidentRef) -> bool: ...


class CardIndex(Protocol):
    """Which sent messages show which report: cards to edit, and messages a reply may refer to."""

    async def link_messages(
        self, chat: ChatRef, message_ids: Sequence[int], report_id: int, card: Card | None = None
    ) -> None:
        """Remember that these messages in `chat` show the report (and which of them is its card, if one is)."""
        ...

    async def report_for_message(self, chat: ChatRef, message_id: int) -> int | None:
        """The report a message of the bot's in this chat is about, if any."""
        ...

    async def card_of(self, chat: ChatRef, report_id: int) -> Card | None:
        """The report's card in this chat, if it was posted."""
        ...


class ReportStore(Protocol):
    """Sent reports, their history, and the changes officials and residents make."""

    async def submit_report(
        self,
        profile: ResidentProfile,
        draft: Draft,
        created_at: datetime,
        dues: Dues,
        staff_chat: ChatRef,
        effects: EffectsFor,
        consent: int | None = None,
    ) -> Report:
        """Atomically: create the report, record its events and the resident's profile (and their consent to notice
        version `consent`, given with this report), drop the draft, queue its messages. A draft sent before (same
        key) returns its report and records nothing again."""
        ...

    async def get_report(self, report_id: int) -> Report | None: ...
    async def list_reports(self, ref: ResidentRef, limit: int) -> list[Report]:
        """A resident's reports, newest first."""
        ...

    async def history(self, report_id: int) -> list[Event]: ...

    async def duplicates_of(self, report_id: int) -> list[Report]:
        """The reports marked as duplicates of this one."""
        ...

    async def record(self, changes: Sequence[Change], outbox: Sequence[OutboxMessage] = ()) -> None:
        """Atomically: apply each change if its report is still at `change.before.version`, record its events and
        queue the messages. Raises Conflict (nothing changed) if one lost a race, AlreadyApplied if an event's
        source was recorded before."""
        ...

    async def save_pending(self, pending: Pending, created_at: datetime) -> int: ...
    async def take_pending(self, pending_id: int, chat: ChatRef) -> Pending | None:
        """Remove and return a pending resolution asked in `chat`; None if it is gone (or asked elsewhere)."""
        ...


class RouteStore(Protocol):
    """Staff chats that hold reports, and the ones that broke."""

    async def report_chats(self) -> set[ChatRef]:
        """The staff chats holding the cards of open reports."""
        ...

    async def reports_in_chat(self, chat: ChatRef) -> list[Report]:
        """The reports whose cards are in this staff chat."""
        ...

    async def broken_chats(self) -> list[BrokenChat]: ...

    async def break_chat(self, broken: BrokenChat, changes: Sequence[Change], outbox: Sequence[OutboxMessage]) -> bool:
        """Atomically, once per chat: remember it broke (or moved), point the categories routed to it to the default
        chat (or where it moved), apply the changes (the reports moved out of it) and queue the messages.
        False (nothing done) if it was recorded before."""
        ...

    async def mend_chat(self, chat: ChatRef) -> None:
        """A chat that broke takes the bot again: it is used like any other from now on."""
        ...

    async def move_chat(self, broken: BrokenChat) -> bool:
        """Once per chat, for a chat that moved (`broken.moved_to`): its categories, reports, cards and messages
        now live at the new id. False if it was recorded before."""
        ...


class PrivacyStore(Protocol):
    """Residents' consent, and erasing their personal data (at their request, or after the retention period)."""

    async def consent(self, ref: ResidentRef) -> tuple[int, datetime] | None:
        """The version of the notice the resident agreed to, and when; None if they have not."""
        ...

    async def save_consent(self, ref: ResidentRef, version: int, at: datetime) -> None: ...
    async def reports_of(self, ref: ResidentRef) -> list[Report]:
        """Every report of a resident, oldest first."""
        ...

    async def anonymise(
        self, changes: Sequence[Change], outbox: Sequence[OutboxMessage] = (), forget: ResidentRef | None = None
    ) -> list[str]:
        """Atomically: apply the changes that erase reports' residents (Conflict if one lost a race), remove their
        keys and own photos from the reports' history, queue the messages; with `forget`, also delete that
        resident's profile, draft, consent, links and queued messages. Returns the photos no record uses any more."""
        ...

    async def closed_before(self, cutoff: datetime, limit: int) -> list[Report]:
        """Reports closed before `cutoff` whose residents are not erased yet, the longest closed first."""
        ...


class GuardStore(Protocol):
    """Flood counters and bans, kept in the database so restarts and several processes share them."""

    async def gate(self, ref: ResidentRef, minute: int) -> Gate:
        """Count a message of the resident in `minute` (minutes since the epoch), or say they are banned."""
        ...

    async def reports_since(self, ref: ResidentRef, since: datetime) -> int: ...
    async def get_ban(self, ref: ResidentRef) -> Ban | None: ...
    async def set_ban(self, ref: ResidentRef, ban: Ban | None, changes: Sequence[Change]) -> bool:
        """Atomically: keep the resident out (`ban`) or let them in (None), and record the changes on their
        reports; False (nothing done) if they already were so."""
        ...

    async def resident_record(self, ref: ResidentRef) -> ResidentRecord: ...


class OutboxStore(Protocol):
    """The durable delivery queue."""

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None: ...
    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The oldest pending message of each chat lane (`OutboxMessage.lane`) that is due, highest priority first."""
        ...

    async def mark_sent(self, message: OutboxMessage, message_ids: Sequence[int]) -> None:
        """Delivered: forget it, and link the sent messages to its report if it asks (the card, if it is one)."""
        ...

    async def mark_retry(self, message: OutboxMessage, at: datetime, error: str) -> None: ...
    async def mark_failed(
        self,
        message: OutboxMessage,
        error: str,
        at: datetime,
        changes: Sequence[Change] = (),
        notices: Sequence[OutboxMessage] = (),
    ) -> None:
        """Refused for good: keep it as failed, apply the changes (recording it on the report), queue the notices."""
        ...

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


class OutboxSource(Protocol):
    """The records' transactional outbox, drained into another queue (Redis) by the relay."""

    async def peek_outbox(self, limit: int) -> list[OutboxMessage]:
        """The oldest pending messages, in queue order."""
        ...

    async def forget_outbox(self, ids: Sequence[int]) -> None:
        """Drop relayed messages."""
        ...


class DeadlineStore(Protocol):
    """What watching the terms reads: reports with a reminder due, open reports per chat, once-a-slot jobs."""

    async def due_alerts(self, until: datetime, limit: int) -> list[Report]:
        """Reports whose next reminder falls due by `until`, the earliest first (an index, not a scan)."""
        ...

    async def open_summaries(self, now: datetime) -> list[OpenSummary]:
        """Open reports per staff chat: counts, overdue by term at `now`, and who has taken what."""
        ...

    async def start_slots(self, name: str, slot: str) -> str:
        """Record `slot` as job `name`'s last one if the job has none yet (a new database starts counting); the
        job's last slot done."""
        ...

    async def claim_slot(self, name: str, slot: str, messages: Sequence[OutboxMessage] = ()) -> bool:
        """Mark job `name` done for `slot` and queue its messages, atomically; False (and nothing queued) if any
        process did it for this slot (or a later one) already."""
        ...


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One local day's reports of one category: received, and late of judged for taking and for answering."""

    day: str
    category_id: int
    received: int
    late_take: float
    judged_take: float
    late_answer: float
    judged_answer: float


class FigureStore(Protocol):
    """What the figures read: a period's figures and its days, computed from the facts kept beside each report."""

    async def figures(
        self, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime
    ) -> Figures:
        """The figures of the reports received in [start, end) (of these categories only, if given) at `now`."""
        ...

    async def daily(
        self, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime, offset: timedelta
    ) -> list[DayFigures]:
        """Per local day (UTC + `offset`) and category: received, and late of judged for taking and answering."""
        ...

    async def report_facts(self, report_id: int) -> Facts | None:
        """The facts kept for one report's figures."""
        ...

    async def problem_samples(self, start: datetime, end: datetime, categories: Sequence[int] | None) -> list[Sample]:
        """The reports received in [start, end) (of these categories only, if given) as /problems clusters them."""
        ...


class ExportStore(Protocol):
    """What `/export` reads: a period's reports streamed in batches, one row each."""

    def export(
        self,
        start: datetime,
        end: datetime,
        categories: Sequence[int] | None,
        now: datetime,
        names: bool,
        batch: int = 5000,
    ) -> AsyncIterator[list[ExportRow]]:
        """The reports received in [start, end) (of these categories only, if given) in number order, `batch` at a
        time, their terms judged at `now`; the resident's name and id only if `names` (personal data)."""
        ...


class SendLog(Protocol):
    """When messages went into groups, kept across restarts for the send budgets."""

    async def log_send(self, messenger: Messenger, chat_id: int, cost: int, at: float) -> None: ...
    async def recent_sends(self, seconds: float) -> list[tuple[Messenger, int, int, float]]: ...


class Storage(
    CategoryStore,
    ResidentStore,
    DraftStore,
    CardIndex,
    ReportStore,
    RouteStore,
    PrivacyStore,
    GuardStore,
    OutboxStore,
    OutboxSource,
    DeadlineStore,
    FigureStore,
    ExportStore,
    SendLog,
    Protocol,
):
    """Everything the bot keeps; one object per backend."""

    async def close(self) -> None: ...
