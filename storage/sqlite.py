"""SQLite backend: one file, one connection, every change in one transaction."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.core.facts import Facts, filed
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
    Status,
)
from bot.core.outbox import Card, OutboxMessage
from bot.figures.export import ExportRow
from storage import sqlite_export as exports
from storage import sqlite_facts as figures
from storage import sqlite_outbox as outbox
from storage import sqlite_privacy as privacy
from storage import sqlite_records as records
from storage.base import (
    UNSET,
    BrokenChat,
    DayFigures,
    EffectsFor,
    Gate,
    NotFound,
    OpenSummary,
    Pending,
    ResidentRecord,
    Unset,
)
from storage.defaults import DEFAULT_CATEGORIES
from storage.sqlite_thread import SqliteThread
from storage.sqlite_times import ts
from storage.sqlite_upgrade import upgrade

if TYPE_CHECKING:
    from bot.figures.problems import Sample

SCHEMA = (Path(__file__).parent / "sqlite_schema.sql").read_text(encoding="utf-8")
# How long the in-memory copy of the categories is trusted: another process on the same file (scale-out) may
# change them; this process's own changes refresh it at once.
CATEGORIES_FRESH_SECONDS = 5.0


T = TypeVar("T")
BUSY_SECONDS = 5.0
OPEN_ATTEMPTS = 20
# The send log covers the longest budget window (a group's minute) with room to spare.
SENT_LOG_SECONDS = 120.0
SENT_LOG_PRUNE_EVERY = 500


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back if the block raises (in the database thread)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _add_column(db: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """Add a column that a database made by an older version lacks."""
    cur = db.execute(f"PRAGMA table_info({table})")
    if column not in {row[1] for row in cur.fetchall()}:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database made by an older version up to the current schema."""
    _add_column(db, "categories", "staff_chat_id", "INTEGER")
    _add_column(db, "reports", "draft_key", "TEXT")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS reports_by_draft ON reports (draft_key)")
    # Messages queued before lanes existed stay in their chat's one lane (0): their order is kept.
    _add_column(db, "outbox", "lane", "INTEGER NOT NULL DEFAULT 0")
    _add_column(db, "events", "source", "TEXT")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS events_by_source ON events (source) WHERE source IS NOT NULL")
    db.execute("DROP INDEX IF EXISTS outbox_heads")
    db.execute("CREATE INDEX IF NOT EXISTS outbox_lanes ON outbox (status, messenger, chat_id, lane, id)")


def _create_and_migrate(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)
    _migrate(db)


def _pragma(setting: str) -> Callable[[sqlite3.Connection], object]:
    return lambda db: db.execute(f"PRAGMA {setting}").fetchall()


async def _connect(path: Path | str, synchronous: str) -> SqliteThread:
    conn = await SqliteThread.connect(path, busy_timeout=BUSY_SECONDS, name=f"sqlite-{synchronous.lower()}")
    try:
        # Processes (or tasks) opening a new file together: switching it to WAL needs the file to itself, and
        # SQLite answers "locked" at once rather than waiting; try again shortly.
        for attempt in range(OPEN_ATTEMPTS):
            try:
                await conn.run(_pragma("journal_mode=WAL"))
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == OPEN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        await conn.run(_pragma(f"synchronous={synchronous}"))
        await conn.run(_pragma("foreign_keys=ON"))
        await conn.run(_pragma(f"busy_timeout={int(BUSY_SECONDS * 1000)}"))
    except BaseException:
        await conn.close()  # its thread ends with it
        raise
    return conn


class SqliteStorage:
    """The embedded default storage (one bot process per database file, or several on one host's volume).

    Every method is one unit of work (a read, or a transaction) that runs whole in its connection's database thread
    (storage/sqlite_thread.py) in one round trip: units never interleave, and no lock is held on the event loop while
    the thread works (an asyncio lock held across round trips made every resident wait for every other one's loop
    turns).
    """

    def __init__(
        self,
        conn: SqliteThread,
        light: SqliteThread | None = None,
        delivery: SqliteThread | None = None,
        report_lanes: bool = False,
        reads: SqliteThread | None = None,
    ) -> None:
        self._conn = conn
        # A staff chat's lane per report (`OutboxMessage.lane`), or one lane per chat; the worker keys by the same.
        self.report_lanes = report_lanes
        self._logged = 0  # sends logged by `log_send`, to prune the log now and then
        # Writes a power cut may undo at no cost (see `open`): their own connection, thread and no fsync each.
        self._light = light or conn
        # The delivery worker's claims and acknowledgements: a staff chat's cards go one after another, and each
        # waited behind every resident's draft in the light connection's queue (10-50 ms per card under load).
        self._delivery = delivery or self._light
        # Figures and exports read for up to a second or stream for minutes: never in front of a resident's step.
        self._reads = reads or self._light
        # Every resident step looks at its category, and categories change a few times a year.
        self._categories: dict[int, Category] = {}
        self._categories_read_at = -math.inf

    @classmethod
    async def open(
        cls,
        path: Path | str,
        default_answer_hours: float = 24,
        report_lanes: bool = False,
        *,
        default_take_hours: float = 4.0,
        default_resolve_days: int = 8,
    ) -> SqliteStorage:
        """Open (creating if needed) the database, apply the schema and seed default categories.

        `report_lanes`: a staff chat's messages form a lane per report (see `OutboxMessage.lane`), so the cards of
        different reports may go out side by side; otherwise a chat is one lane.
        """
        in_memory = str(path) == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # FULL: a report confirmed to a resident survives a power cut, not only a killed process.
        conn = await _connect(path, "FULL")
        light = delivery = reads = None
        try:
            await conn.run(_create_and_migrate)
            # Two kinds of writes come often and cost nothing if a power cut undoes them: drafts (every step of
            # every resident; the last seconds of typing are lost, never a report, whose transaction on the FULL
            # connection drops its draft) and delivery acknowledgements (the message goes out once more, a
            # recognisable duplicate, as after a crash). They use a second connection (and thread) without an fsync
            # per commit; a killed process loses none of them, and the next FULL commit makes them durable too.
            light = None if in_memory else await _connect(path, "NORMAL")
            delivery = None if in_memory else await _connect(path, "NORMAL")
            reads = None if in_memory else await _connect(path, "NORMAL")
            storage = cls(conn, light, delivery, report_lanes, reads)
            await storage._seed(default_answer_hours, default_take_hours, default_resolve_days)
        except BaseException:
            for c in (reads, delivery, light, conn):
                if c is not None:
                    await c.close()
            raise
        return storage

    async def close(self) -> None:
        """Close the connections."""
        for conn in {id(c): c for c in (self._reads, self._delivery, self._light, self._conn)}.values():
            await conn.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T], conn: SqliteThread | None = None) -> T:
        """Run `work` on a connection in its database thread (each connection's thread runs units whole, in order)."""
        return await (conn or self._conn).run(work)

    async def _seed(self, answer_hours: float, take_hours: float, resolve_days: int) -> None:
        """Upgrade a database made by an older version, and give a new one the default categories."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                upgrade(db)
                row = db.execute("SELECT COUNT(*) FROM categories").fetchone()
                if row is not None and row[0] > 0:
                    return
                db.executemany(
                    "INSERT INTO categories (name, builtin_key, photo_required, answer_hours, take_hours, resolve_days)"
                    " VALUES (?,?,?,?,?,?)",
                    [
                        (name, key, int(photo_required), answer_hours, take_hours, resolve_days)
                        for key, name, photo_required in DEFAULT_CATEGORIES
                    ],
                )

        await self._run(work)

    # Categories

    @staticmethod
    def _category(row: Any) -> Category:
        return Category(
            id=row["id"],
            name=row["name"],
            builtin_key=row["builtin_key"],
            hidden=bool(row["hidden"]),
            photo_required=bool(row["photo_required"]),
            answer_hours=row["answer_hours"],
            staff_chat_id=row["staff_chat_id"],
            take_hours=row["take_hours"],
            resolve_days=row["resolve_days"],
        )

    async def _category_snapshot(self) -> dict[int, Category]:
        if time.monotonic() - self._categories_read_at > CATEGORIES_FRESH_SECONDS:

            def work(db: sqlite3.Connection) -> dict[int, Category]:
                return {row["id"]: self._category(row) for row in db.execute("SELECT * FROM categories ORDER BY id")}

            self._categories = await self._run(work)
            self._categories_read_at = time.monotonic()
        return self._categories

    def _categories_changed(self) -> None:
        self._categories_read_at = -math.inf

    async def list_categories(self, include_hidden: bool = False) -> list[Category]:
        """Categories in the order they were added."""
        snapshot = await self._category_snapshot()
        return [c for c in snapshot.values() if include_hidden or not c.hidden]

    async def get_category(self, category_id: int) -> Category | None:
        """One category, hidden or not."""
        return (await self._category_snapshot()).get(category_id)

    async def add_category(
        self, name: str, answer_hours: float, take_hours: float = 4.0, resolve_days: int = 8
    ) -> Category:
        """Add a visible category that requires a photo."""

        def work(db: sqlite3.Connection) -> Category:
            with _transaction(db):
                cur = db.execute(
                    "INSERT INTO categories (name, answer_hours, take_hours, resolve_days) VALUES (?,?,?,?)"
                    " RETURNING *",
                    (name, answer_hours, take_hours, resolve_days),
                )
                row = cur.fetchone()
            return self._category(row)

        category = await self._run(work)
        self._categories_changed()
        return category

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
    ) -> Category:
        """Change some fields of a category; renaming drops the built-in translation; chat None = default."""
        sets: list[str] = []
        args: list[Any] = []
        if name is not None:
            sets += ["name = ?", "builtin_key = NULL"]
            args.append(name)
        if hidden is not None:
            sets.append("hidden = ?")
            args.append(int(hidden))
        if photo_required is not None:
            sets.append("photo_required = ?")
            args.append(int(photo_required))
        for column, value in (
            ("answer_hours", answer_hours),
            ("take_hours", take_hours),
            ("resolve_days", resolve_days),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if not isinstance(staff_chat_id, Unset):
            sets.append("staff_chat_id = ?")
            args.append(staff_chat_id)
        if not sets:
            raise ValueError("nothing to change")

        def work(db: sqlite3.Connection) -> Category:
            with _transaction(db):
                cur = db.execute(
                    f"UPDATE categories SET {', '.join(sets)} WHERE id = ? RETURNING *", (*args, category_id)
                )
                row = cur.fetchone()
            if row is None:
                raise NotFound(category_id)
            return self._category(row)

        try:
            return await self._run(work)
        finally:
            self._categories_changed()

    # Residents

    async def save_resident(self, profile: ResidentProfile) -> None:
        """Insert or update a resident's name and language."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                self._upsert_resident(db, profile)

        await self._run(work)

    @staticmethod
    def _upsert_resident(db: sqlite3.Connection, profile: ResidentProfile) -> None:
        db.execute(
            "INSERT INTO residents (key, display_name, language) VALUES (?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET display_name = excluded.display_name, language = excluded.language",
            (profile.ref.key, profile.display_name, profile.language),
        )

    async def get_resident(self, ref: ResidentRef) -> ResidentProfile | None:
        """A resident's profile, if they ever wrote."""

        def work(db: sqlite3.Connection) -> ResidentProfile | None:
            cur = db.execute("SELECT * FROM residents WHERE key = ?", (ref.key,))
            row = cur.fetchone()
            return ResidentProfile(ref, row["display_name"], row["language"]) if row else None

        return await self._run(work)

    # Drafts

    async def get_draft(self, ref: ResidentRef) -> Draft | None:
        """The resident's draft, if any."""

        def work(db: sqlite3.Connection) -> Draft | None:
            rows = list(db.execute("SELECT body FROM drafts WHERE resident = ?", (ref.key,)))
            return Draft.model_validate_json(rows[0]["body"]) if rows else None

        return await self._run(work, self._light)

    async def save_draft(self, ref: ResidentRef, draft: Draft) -> None:
        """Store the draft, replacing the previous one."""

        def work(db: sqlite3.Connection) -> None:
            # One statement outside a transaction commits on its own.
            db.execute(
                "INSERT INTO drafts (resident, body, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(resident) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                (ref.key, draft.model_dump_json(), ts(datetime.now(UTC))),
            )

        await self._run(work, self._light)

    async def delete_draft(self, ref: ResidentRef) -> bool:
        """Drop the draft; False if there was none."""

        def work(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM drafts WHERE resident = ?", (ref.key,))
            return cur.rowcount > 0

        return await self._run(work, self._light)

    # Reports

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
        """Create the report with its events, record the resident's profile (name and language, for the answers),
        drop the draft and queue its messages, atomically (one commit: one fsync per report).

        A draft already sent (same key) returns its report and records nothing again.
        """
        if draft.category_id is None or draft.description is None or draft.location is None:
            raise ValueError("incomplete draft")
        new = Report(
            id=0,
            resident=profile.ref,
            resident_name=profile.display_name,
            category_id=draft.category_id,
            description=draft.description,
            location=draft.location,
            photos=tuple(draft.photos),
            status=Status.NEW,
            created_at=created_at,
            dues=dues,
            staff_chat=staff_chat,
        )

        def work(db: sqlite3.Connection) -> Report:
            with _transaction(db):
                existing = records.report_by_draft(db, draft.key)
                if consent is not None:
                    # In the report's commit: one fsync, and no report without the consent it was sent under.
                    privacy.save_consent(db, profile.ref, consent, created_at)
                if existing is None:
                    self._upsert_resident(db, profile)
                    report = records.insert_report(db, new, draft.key)
                    events, messages = effects(report)
                    records.insert_events(db, events)
                    figures.add(db, filed(report))
                    outbox.insert(db, messages, created_at, self.report_lanes)
                db.execute("DELETE FROM drafts WHERE resident = ?", (profile.ref.key,))
            return existing or report

        return await self._run(work)

    async def get_report(self, report_id: int) -> Report | None:
        """One report by number."""
        return await self._run(lambda db: records.get_report(db, report_id))

    async def list_reports(self, ref: ResidentRef, limit: int) -> list[Report]:
        """A resident's reports, newest first."""

        def work(db: sqlite3.Connection) -> list[Report]:
            cur = db.execute("SELECT * FROM reports WHERE resident = ? ORDER BY id DESC LIMIT ?", (ref.key, limit))
            return [records.report_of(r) for r in cur.fetchall()]

        return await self._run(work)

    async def history(self, report_id: int) -> list[Event]:
        """Every event of a report, oldest first."""
        return await self._run(lambda db: records.history(db, report_id))

    async def duplicates_of(self, report_id: int) -> list[Report]:
        """The reports marked as duplicates of this one."""
        return await self._run(lambda db: records.duplicates_of(db, report_id))

    async def record(self, changes: Sequence[Change], messages: Sequence[OutboxMessage] = ()) -> None:
        """Apply the changes if their reports are still as read, record their events and queue the messages.

        Raises `Conflict` or `AlreadyApplied`, changing nothing.
        """
        now = datetime.now(UTC)

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                records.apply_changes(db, changes)
                outbox.insert(db, messages, now, self.report_lanes)

        await self._run(work)

    async def save_pending(self, pending: Pending, created_at: datetime) -> int:
        """Keep a resolution that waits for its official to confirm it has no photo."""

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                return records.save_pending(db, pending, created_at)

        return await self._run(work)

    async def take_pending(self, pending_id: int, chat: ChatRef) -> Pending | None:
        """Remove and return a pending resolution asked in `chat`; None if gone (or asked elsewhere)."""

        def work(db: sqlite3.Connection) -> Pending | None:
            with _transaction(db):
                return records.take_pending(db, pending_id, chat)

        return await self._run(work)

    # Personal data and abuse

    async def consent(self, ref: ResidentRef) -> tuple[int, datetime] | None:
        """The version of the notice the resident agreed to, and when."""
        return await self._run(lambda db: privacy.consent_at(db, ref))

    async def save_consent(self, ref: ResidentRef, version: int, at: datetime) -> None:
        """Record the resident's consent to a version of the notice."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                privacy.save_consent(db, ref, version, at)

        await self._run(work)

    async def reports_of(self, ref: ResidentRef) -> list[Report]:
        """Every report of a resident, oldest first."""
        return await self._run(lambda db: privacy.reports_of(db, ref))

    async def anonymise(
        self, changes: Sequence[Change], outbox_: Sequence[OutboxMessage] = (), forget: ResidentRef | None = None
    ) -> list[str]:
        """Erase reports' residents (and, with `forget`, everything kept about that resident); see PrivacyStore."""
        now = datetime.now(UTC)

        def work(db: sqlite3.Connection) -> list[str]:
            with _transaction(db):
                freed = privacy.anonymise(db, changes, forget)
                outbox.insert(db, outbox_, now, self.report_lanes)
                return freed

        return await self._run(work)

    async def closed_before(self, cutoff: datetime, limit: int) -> list[Report]:
        """Reports closed before `cutoff` whose residents are not erased yet."""
        return await self._run(lambda db: privacy.closed_before(db, cutoff, limit))

    async def gate(self, ref: ResidentRef, minute: int) -> Gate:
        """Count a resident's message in this minute, or say they are banned (one unit of work per message)."""

        def work(db: sqlite3.Connection) -> Gate:
            with _transaction(db):
                return privacy.gate(db, ref, minute)

        # A power cut may forget a few counted messages: the light connection, like drafts.
        return await self._run(work, self._light)

    async def reports_since(self, ref: ResidentRef, since: datetime) -> int:
        """How many reports the resident sent since `since`."""
        return await self._run(lambda db: privacy.reports_since(db, ref, since))

    async def get_ban(self, ref: ResidentRef) -> Ban | None:
        """The resident's ban, if any."""
        return await self._run(lambda db: privacy.get_ban(db, ref))

    async def set_ban(self, ref: ResidentRef, ban: Ban | None, changes: Sequence[Change]) -> bool:
        """Keep the resident out (or let them in with None), recording the changes; False if they already were so."""

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                if not (privacy.ban(db, ban) if ban is not None else privacy.unban(db, ref)):
                    return False
                records.apply_changes(db, changes)
                return True

        return await self._run(work)

    async def resident_record(self, ref: ResidentRef) -> ResidentRecord:
        """Reports filed and rejected, and whether the resident is banned."""
        return await self._run(lambda db: privacy.resident_record(db, ref))

    # Messages that show a report

    async def link_messages(
        self, chat: ChatRef, message_ids: Sequence[int], report_id: int, card: Card | None = None
    ) -> None:
        """Remember which messages in a chat show a report (and which is its card)."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                records.link(db, chat, message_ids, report_id, card)

        await self._run(work, self._delivery)

    async def report_for_message(self, chat: ChatRef, message_id: int) -> int | None:
        """The report a message of the bot's in this chat shows, if any."""
        return await self._run(lambda db: records.report_for_message(db, chat, message_id))

    async def card_of(self, chat: ChatRef, report_id: int) -> Card | None:
        """The report's card in this chat, if it was posted."""
        return await self._run(lambda db: records.card_of(db, chat, report_id), self._delivery)

    # Staff chats

    async def staff_chats(self) -> set[int]:
        """The department chats categories are routed to."""
        snapshot = await self._category_snapshot()
        return {c.staff_chat_id for c in snapshot.values() if c.staff_chat_id is not None}

    async def report_chats(self) -> set[ChatRef]:
        """The staff chats holding the cards of open reports."""
        return await self._run(records.report_chats)

    async def reports_in_chat(self, chat: ChatRef) -> list[Report]:
        """The reports whose cards are in this staff chat."""
        return await self._run(lambda db: records.reports_in_chat(db, chat))

    async def broken_chats(self) -> list[BrokenChat]:
        """Staff chats that broke or moved."""
        return await self._run(records.broken_chats)

    async def break_chat(
        self, broken: BrokenChat, changes: Sequence[Change], messages: Sequence[OutboxMessage]
    ) -> bool:
        """Once per chat: record it broke, route its categories to the default chat, move its reports out."""

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                if not records.note_broken(db, broken):
                    return False
                records.route_away(db, broken.chat, None)
                records.apply_changes(db, changes)
                outbox.insert(db, messages, broken.at, self.report_lanes)
                return True

        try:
            return await self._run(work)
        finally:
            self._categories_changed()

    async def mend_chat(self, chat: ChatRef) -> None:
        """A chat that broke takes the bot again (an administrator routed a category there after a probe)."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute("DELETE FROM broken_chats WHERE chat = ? AND moved_to IS NULL", (chat.key,))

        await self._run(work)

    async def move_chat(self, broken: BrokenChat) -> bool:
        """Once per chat: everything of a chat that moved now lives at its new id."""
        assert broken.moved_to is not None

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                if not records.note_broken(db, broken):
                    return False
                assert broken.moved_to is not None
                records.move_chat(db, broken.chat, broken.moved_to)
                return True

        try:
            return await self._run(work)
        finally:
            self._categories_changed()

    # Outbox

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Queue messages on their own (not tied to a report change)."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                outbox.insert(db, messages, datetime.now(UTC), self.report_lanes)

        await self._run(work)

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The head (oldest pending) message of each chat's lane (`OutboxMessage.lane`), if due; residents' first."""
        return await self._run(lambda db: outbox.claim_due(db, now, limit), self._delivery)

    # Terms and reminders

    async def due_alerts(self, until: datetime, limit: int) -> list[Report]:
        """Reports whose next reminder falls due by `until`, the earliest first (an index, not a scan)."""
        return await self._run(lambda db: records.due_alerts(db, until, limit), self._light)

    async def open_summaries(self, now: datetime) -> list[OpenSummary]:
        """Open reports per staff chat: counts, overdue by term at `now`, and who has taken what."""
        return await self._run(lambda db: records.open_summaries(db, now), self._light)

    async def figures(
        self, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime
    ) -> Figures:
        """The figures of the reports received in [start, end) (of these categories only, if given) at `now`."""
        return await self._run(lambda db: figures.figures(db, start, end, categories, now), self._reads)

    async def daily(
        self, start: datetime, end: datetime, categories: Sequence[int] | None, now: datetime, offset: timedelta
    ) -> list[DayFigures]:
        """Per local day (UTC + `offset`) and category: received, and late of judged for taking and answering."""
        return await self._run(
            lambda db: [DayFigures(*row) for row in figures.daily(db, start, end, categories, now, offset)],
            self._reads,
        )

    async def problem_samples(self, start: datetime, end: datetime, categories: Sequence[int] | None) -> list[Sample]:
        """The reports received in [start, end) (of these categories only, if given) as /problems clusters them."""
        return await self._run(lambda db: figures.problem_samples(db, start, end, categories), self._reads)

    async def export(
        self,
        start: datetime,
        end: datetime,
        categories: Sequence[int] | None,
        now: datetime,
        names: bool,
        batch: int = 5000,
    ) -> AsyncIterator[list[ExportRow]]:
        """The reports received in [start, end) (of these categories only, if given) in number order, `batch` at a
        time, their terms judged at `now`; the resident's name and id only if `names`. Each batch is one short read
        on the reads connection, so other reads go between them and no snapshot is held for the whole export."""
        numbers = await self._run(lambda db: exports.span(db, start, end, categories), self._reads)
        while numbers:
            rows = await self._run(exports.reading(start, end, categories, now, names, numbers, batch), self._reads)
            if not rows:
                return
            yield rows
            numbers = range(rows[-1].number + 1, numbers.stop)

    async def report_facts(self, report_id: int) -> Facts | None:
        """The facts kept for one report's figures."""
        return await self._run(lambda db: figures.get(db, report_id), self._light)

    async def start_slots(self, name: str, slot: str) -> str:
        """Record `slot` as job `name`'s last one if the job has none yet (a new database starts counting); the
        job's last slot done."""

        def work(db: sqlite3.Connection) -> str:
            with _transaction(db):
                db.execute("INSERT OR IGNORE INTO schedule (name, slot) VALUES (?, ?)", (name, slot))
                return str(db.execute("SELECT slot FROM schedule WHERE name = ?", (name,)).fetchone()[0])

        return await self._run(work)

    async def claim_slot(self, name: str, slot: str, messages: Sequence[OutboxMessage] = ()) -> bool:
        """Mark job `name` done for `slot` and queue its messages, atomically; False if done for it already."""

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                if not records.claim_slot(db, name, slot):
                    return False
                outbox.insert(db, messages, datetime.now(UTC), self.report_lanes)
            return True

        return await self._run(work)

    async def log_send(self, messenger: Messenger, chat_id: int, cost: int, at: float) -> None:
        """Remember that `cost` messages go into this chat at `at` (wall clock), for budgets that outlive a restart.

        Called before the messages are sent: a process killed while Telegram accepts them must not leave the next
        one believing the window has room (it drew a 429 with up to a minute's wait). A send that then fails
        stays counted for its window, which only errs on the safe side.
        """

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "INSERT INTO sent_log (messenger, chat_id, cost, at) VALUES (?,?,?,?)",
                    (messenger.value, chat_id, cost, at),
                )
                self._logged += 1
                if self._logged % SENT_LOG_PRUNE_EVERY == 0:
                    db.execute("DELETE FROM sent_log WHERE at < ?", (at - SENT_LOG_SECONDS,))

        await self._run(work, self._delivery)

    async def recent_sends(self, seconds: float) -> list[tuple[Messenger, int, int, float]]:
        """Messages logged by `log_send` in the last `seconds` (messenger, chat, messages counted, wall-clock
        time), oldest first."""

        def work(db: sqlite3.Connection) -> list[tuple[Messenger, int, int, float]]:
            cur = db.execute(
                "SELECT messenger, chat_id, cost, at FROM sent_log WHERE at >= ? ORDER BY at",
                (time.time() - seconds,),
            )
            return [(Messenger(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in cur.fetchall()]

        return await self._run(work, self._delivery)

    def _mark_sent(self, db: sqlite3.Connection, message: OutboxMessage, message_ids: Sequence[int]) -> None:
        with _transaction(db):
            db.execute("DELETE FROM outbox WHERE id = ?", (message.id,))
            outbox.link_sent(db, message, message_ids)

    async def mark_sent(self, message: OutboxMessage, message_ids: Sequence[int]) -> None:
        """Delivered: forget it, and link the sent messages to the report if asked."""

        def work(db: sqlite3.Connection) -> None:
            self._mark_sent(db, message, message_ids)

        await self._run(work, self._delivery)

    async def mark_sent_and_next(
        self, message: OutboxMessage, message_ids: Sequence[int], now: datetime
    ) -> OutboxMessage | None:
        """`mark_sent`, then the next message of the same chat and lane if it is due, in one round trip."""

        def work(db: sqlite3.Connection) -> OutboxMessage | None:
            self._mark_sent(db, message, message_ids)
            return outbox.next_in_lane(db, message, now, self.report_lanes)

        return await self._run(work, self._delivery)

    async def mark_retry(self, message: OutboxMessage, at: datetime, error: str) -> None:
        """Not delivered this time: try again at `at`."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                    (ts(at), error[:500], message.id),
                )

        await self._run(work)

    async def mark_failed(
        self,
        message: OutboxMessage,
        error: str,
        at: datetime,
        changes: Sequence[Change] = (),
        notices: Sequence[OutboxMessage] = (),
    ) -> None:
        """Refused for good: keep it as failed, apply the changes (its record on the report), queue the notices."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
                    (error[:500], message.id),
                )
                records.apply_changes(db, changes)
                outbox.insert(db, notices, at, self.report_lanes)

        await self._run(work)

    async def peek_outbox(self, limit: int) -> list[OutboxMessage]:
        """The oldest pending messages, in queue order (for relaying them to another queue)."""

        def work(db: sqlite3.Connection) -> list[OutboxMessage]:
            cur = db.execute("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id LIMIT ?", (limit,))
            return [outbox.message_of(r) for r in cur.fetchall()]

        return await self._run(work)

    async def forget_outbox(self, ids: Sequence[int]) -> None:
        """Drop relayed messages."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

        await self._run(work)

    async def pending_count(self) -> int:
        """How many messages wait for delivery."""

        def work(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()
            return int(row[0]) if row else 0

        return await self._run(work)

    async def report_count(self) -> int:
        """How many reports were ever filed (for `python -m bot check`)."""

        def work(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT COUNT(*) FROM reports").fetchone()
            return int(row[0]) if row else 0

        return await self._run(work)

    async def failed_count(self) -> int:
        """How many messages were refused for good."""

        def work(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'failed'").fetchone()
            return int(row[0]) if row else 0

        return await self._run(work)
