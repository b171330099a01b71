"""The SQL of reports, their history, the messages that show them and the staff chats that hold them.

Plain functions of a `sqlite3.Connection`, run by `SqliteStorage` inside its units of work (and transactions).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.lifecycle import Change
from bot.core.models import ChatRef, Dues, Event, EventKind, Location, Report, ResidentRef, Status, Term, Verdict
from bot.core.outbox import Card
from storage import sqlite_facts as facts
from storage.base import AlreadyApplied, BrokenChat, Conflict, OpenSummary, Pending
from storage.sqlite_times import from_ts, ts


def _chat(key: str | None) -> ChatRef | None:
    return ChatRef.parse(key) if key else None


def _maybe_ts(moment: datetime | None) -> str | None:
    return ts(moment) if moment is not None else None


def _maybe(text: str | None) -> datetime | None:
    return from_ts(text) if text else None


def dues_json(dues: Dues) -> str:
    """Due times as kept with an event."""
    return json.dumps(
        {
            "start": ts(dues.start),
            "take": ts(dues.take),
            "answer": ts(dues.answer),
            "resolve": ts(dues.resolve),
            "remind_at": dues.remind_at,
        }
    )


def dues_of_json(text: str) -> Dues:
    """Inverse of `dues_json`."""
    d = json.loads(text)
    return Dues(
        from_ts(d["start"]), from_ts(d["take"]), from_ts(d["answer"]), from_ts(d["resolve"]), float(d["remind_at"])
    )


def report_of(row: Any) -> Report:
    """A report from its row."""
    return Report(
        id=row["id"],
        resident=ResidentRef.parse(row["resident"]),
        resident_name=row["resident_name"],
        category_id=row["category_id"],
        description=row["description"],
        location=Location(latitude=row["latitude"], longitude=row["longitude"], address=row["address"]),
        photos=tuple(json.loads(row["photos"])),
        status=Status(row["status"]),
        created_at=from_ts(row["created_at"]),
        dues=_dues(row),
        staff_chat=_chat(row["staff_chat"]),
        assignee=row["assignee"],
        assignee_name=row["assignee_name"],
        duplicate_of=row["duplicate_of"],
        follow_ups=row["follow_ups"],
        version=row["version"],
        taken_at=_maybe(row["taken_at"]),
        answered_at=_maybe(row["answered_at"]),
        reminded=row["reminded"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        rating=row["rating"],
    )


def _dues(row: Any) -> Dues:
    # A report kept before terms existed has the answer time only: it stands for all three.
    answer = from_ts(row["answer_due_at"])
    return Dues(
        start=_maybe(row["terms_from"]) or from_ts(row["created_at"]),
        take=_maybe(row["take_due_at"]) or answer,
        answer=answer,
        resolve=_maybe(row["resolve_due_at"]) or answer,
        remind_at=row["remind_at"],
    )


def event_of(row: Any) -> Event:
    """An event from its row."""
    return Event(
        report_id=row["report_id"],
        kind=EventKind(row["kind"]),
        at=from_ts(row["at"]),
        author=row["author"],
        status_after=Status(row["status_after"]),
        text=row["text"],
        source=row["source"],
        author_name=row["author_name"],
        photos=tuple(json.loads(row["photos"])) if row["photos"] else (),
        dues=dues_of_json(row["dues"]) if row["dues"] else None,
    )


def insert_report(db: sqlite3.Connection, report: Report, draft_key: str) -> Report:
    """Insert a new report (its id is given by the database) and return it with its number."""
    loc = report.location
    dues = report.dues
    cur = db.execute(
        "INSERT INTO reports (resident, resident_name, category_id, description, latitude, longitude, address,"
        " photos, status, created_at, answer_due_at, draft_key, staff_chat, terms_from, take_due_at,"
        " resolve_due_at, remind_at, next_alert_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " RETURNING *",
        (
            report.resident.key,
            report.resident_name,
            report.category_id,
            report.description,
            loc.latitude,
            loc.longitude,
            loc.address,
            json.dumps(list(report.photos)),
            report.status.value,
            ts(report.created_at),
            ts(dues.answer),
            draft_key,
            report.staff_chat.key if report.staff_chat else None,
            ts(dues.start),
            ts(dues.take),
            ts(dues.resolve),
            dues.remind_at,
            _maybe_ts(report.next_alert_at),
        ),
    )
    inserted = report_of(cur.fetchone())
    note_photos(db, inserted.id, inserted.photos)
    return inserted


def note_photos(db: sqlite3.Connection, report_id: int, digests: Sequence[str]) -> None:
    """Remember that a report uses these archived photos (so erasing one report never deletes another's)."""
    db.executemany(
        "INSERT OR IGNORE INTO photo_uses (digest, report_id) VALUES (?,?)", [(d, report_id) for d in digests]
    )


def report_by_draft(db: sqlite3.Connection, draft_key: str) -> Report | None:
    """The report a draft became, if it was sent already."""
    row = db.execute("SELECT * FROM reports WHERE draft_key = ?", (draft_key,)).fetchone()
    return report_of(row) if row else None


def insert_events(db: sqlite3.Connection, events: Sequence[Event]) -> None:
    """Record events (a source recorded before raises AlreadyApplied)."""
    for event in events:
        if event.source is not None and db.execute("SELECT 1 FROM events WHERE source = ?", (event.source,)).fetchone():
            raise AlreadyApplied(event.source)
        db.execute(
            "INSERT INTO events (report_id, kind, at, author, status_after, text, source, author_name, photos, dues)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                event.report_id,
                event.kind.value,
                ts(event.at),
                event.author,
                event.status_after.value,
                event.text,
                event.source,
                event.author_name,
                json.dumps(list(event.photos)) if event.photos else None,
                dues_json(event.dues) if event.dues else None,
            ),
        )
        note_photos(db, event.report_id, event.photos)


def apply_changes(db: sqlite3.Connection, changes: Sequence[Change]) -> None:
    """Apply changes made on reports read at their `before.version`; Conflict if one changed meanwhile."""
    for change in changes:
        if change.before is not None:
            after = change.after
            closing = after.status.closed and not change.before.status.closed
            closed_at = ts(max(e.at for e in change.events)) if closing and change.events else None
            dues = after.dues
            cur = db.execute(
                "UPDATE reports SET status = ?, category_id = ?, answer_due_at = ?, staff_chat = ?, assignee = ?,"
                " assignee_name = ?, duplicate_of = ?, follow_ups = ?, version = ?, resident = ?, resident_name = ?,"
                " photos = ?, closed_at = CASE WHEN ? THEN ? WHEN ? THEN closed_at ELSE NULL END,"
                " terms_from = ?, take_due_at = ?, resolve_due_at = ?, remind_at = ?, taken_at = ?, answered_at = ?,"
                " reminded = ?, next_alert_at = ?, verdict = ?, rating = ?"
                " WHERE id = ? AND version = ?",
                (
                    after.status.value,
                    after.category_id,
                    ts(dues.answer),
                    after.staff_chat.key if after.staff_chat else None,
                    after.assignee,
                    after.assignee_name,
                    after.duplicate_of,
                    after.follow_ups,
                    after.version,
                    after.resident.key,
                    after.resident_name,
                    json.dumps(list(after.photos)),
                    closing,
                    closed_at,
                    after.status.closed,
                    ts(dues.start),
                    ts(dues.take),
                    ts(dues.resolve),
                    dues.remind_at,
                    _maybe_ts(after.taken_at),
                    _maybe_ts(after.answered_at),
                    after.reminded,
                    _maybe_ts(after.next_alert_at),
                    after.verdict.value if after.verdict else None,
                    after.rating,
                    after.id,
                    change.before.version,
                ),
            )
            if cur.rowcount != 1:
                raise Conflict(after.id)
        insert_events(db, change.events)
    facts.apply(db, changes)


def get_report(db: sqlite3.Connection, report_id: int) -> Report | None:
    """One report by number."""
    row = db.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
    return report_of(row) if row else None


def duplicates_of(db: sqlite3.Connection, report_id: int) -> list[Report]:
    """The reports marked as duplicates of this one, oldest first."""
    rows = db.execute("SELECT * FROM reports WHERE duplicate_of = ? ORDER BY id", (report_id,)).fetchall()
    return [report_of(r) for r in rows]


def history(db: sqlite3.Connection, report_id: int) -> list[Event]:
    """Every event of a report, oldest first."""
    rows = db.execute("SELECT * FROM events WHERE report_id = ? ORDER BY id", (report_id,)).fetchall()
    return [event_of(r) for r in rows]


# Messages that show a report


def link(db: sqlite3.Connection, chat: ChatRef, message_ids: Sequence[int], report_id: int, card: Card | None) -> None:
    """Remember which messages of a chat show a report, and its card there."""
    db.executemany(
        "INSERT OR IGNORE INTO message_links (messenger, chat_id, message_id, report_id) VALUES (?,?,?,?)",
        [(chat.messenger.value, chat.chat_id, mid, report_id) for mid in message_ids],
    )
    if card is not None:
        db.execute(
            "INSERT INTO cards (messenger, chat_id, report_id, message_id, caption) VALUES (?,?,?,?,?)"
            " ON CONFLICT (messenger, chat_id, report_id) DO UPDATE SET message_id = excluded.message_id,"
            " caption = excluded.caption",
            (chat.messenger.value, chat.chat_id, report_id, card.message_id, _flag(card.caption)),
        )


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def report_for_message(db: sqlite3.Connection, chat: ChatRef, message_id: int) -> int | None:
    """The report a message of the bot's shows, if any."""
    row = db.execute(
        "SELECT report_id FROM message_links WHERE messenger = ? AND chat_id = ? AND message_id = ?",
        (chat.messenger.value, chat.chat_id, message_id),
    ).fetchone()
    return int(row[0]) if row else None


def card_of(db: sqlite3.Connection, chat: ChatRef, report_id: int) -> Card | None:
    """The report's card in a chat, if it was posted."""
    row = db.execute(
        "SELECT message_id, caption FROM cards WHERE messenger = ? AND chat_id = ? AND report_id = ?",
        (chat.messenger.value, chat.chat_id, report_id),
    ).fetchone()
    if row is None:
        return None
    return Card(int(row[0]), None if row[1] is None else bool(row[1]))


# Resolutions waiting for a confirmation


def save_pending(db: sqlite3.Connection, pending: Pending, created_at: datetime) -> int:
    """Keep a resolution that waits for its official to confirm it has no photo."""
    row = db.execute(
        "INSERT INTO pending_resolutions (report_id, author, text, created_at, chat, author_name)"
        " VALUES (?,?,?,?,?,?) RETURNING id",
        (pending.report_id, pending.author, pending.text, ts(created_at), pending.chat.key, pending.author_name),
    ).fetchone()
    return int(row[0])


def take_pending(db: sqlite3.Connection, pending_id: int, chat: ChatRef) -> Pending | None:
    """Remove and return a pending resolution asked in `chat` (one asked elsewhere is left alone)."""
    row = db.execute(
        "DELETE FROM pending_resolutions WHERE id = ? AND chat = ? RETURNING report_id, author, text, author_name",
        (pending_id, chat.key),
    ).fetchone()
    if row is None:
        return None
    return Pending(int(row[0]), chat, str(row[1]), row[3], str(row[2]))


# Staff chats


def report_chats(db: sqlite3.Connection) -> set[ChatRef]:
    """The staff chats holding open reports' cards."""
    rows = db.execute(
        "SELECT DISTINCT staff_chat FROM reports WHERE staff_chat IS NOT NULL AND status IN (?,?,?)",
        (Status.NEW.value, Status.IN_PROGRESS.value, Status.REOPENED.value),
    ).fetchall()
    return {ChatRef.parse(r[0]) for r in rows}


def reports_in_chat(db: sqlite3.Connection, chat: ChatRef) -> list[Report]:
    """The reports whose cards are in a staff chat, oldest first."""
    rows = db.execute("SELECT * FROM reports WHERE staff_chat = ? ORDER BY id", (chat.key,)).fetchall()
    return [report_of(r) for r in rows]


def broken_chats(db: sqlite3.Connection) -> list[BrokenChat]:
    """Every staff chat that broke or moved."""
    rows = db.execute("SELECT chat, reason, at, moved_to FROM broken_chats ORDER BY at").fetchall()
    return [BrokenChat(ChatRef.parse(r[0]), r[1], from_ts(r[2]), _chat(r[3])) for r in rows]


def note_broken(db: sqlite3.Connection, broken: BrokenChat) -> bool:
    """Record a broken (or moved) chat; False if it was recorded before."""
    cur = db.execute(
        "INSERT OR IGNORE INTO broken_chats (chat, reason, at, moved_to) VALUES (?,?,?,?)",
        (broken.chat.key, broken.reason, ts(broken.at), broken.moved_to.key if broken.moved_to else None),
    )
    return cur.rowcount == 1


def route_away(db: sqlite3.Connection, chat: ChatRef, to: ChatRef | None) -> None:
    """Categories routed to a chat go to `to` (None: the default staff chat) from now on."""
    db.execute(
        "UPDATE categories SET staff_chat_id = ? WHERE staff_chat_id = ?",
        (to.chat_id if to else None, chat.chat_id),
    )


def move_chat(db: sqlite3.Connection, old: ChatRef, new: ChatRef) -> None:
    """Everything that lived in a chat now lives at its new id (a group upgraded to a supergroup keeps its history)."""
    route_away(db, old, new)
    db.execute("UPDATE reports SET staff_chat = ? WHERE staff_chat = ?", (new.key, old.key))
    for table in ("cards", "message_links"):
        db.execute(
            f"UPDATE OR IGNORE {table} SET chat_id = ? WHERE messenger = ? AND chat_id = ?",
            (new.chat_id, old.messenger.value, old.chat_id),
        )


# Terms and reminders


def due_alerts(db: sqlite3.Connection, until: datetime, limit: int) -> list[Report]:
    """Reports with a reminder due by `until`, the earliest first (read from the partial index)."""
    rows = db.execute(
        "SELECT * FROM reports WHERE next_alert_at IS NOT NULL AND next_alert_at <= ? ORDER BY next_alert_at LIMIT ?",
        (ts(until), limit),
    ).fetchall()
    return [report_of(r) for r in rows]


def open_summaries(db: sqlite3.Connection, now: datetime) -> list[OpenSummary]:
    """Open reports per staff chat: how many, not taken, overdue by term (at `now`), and who has taken what."""
    statuses = (Status.NEW.value, Status.IN_PROGRESS.value, Status.REOPENED.value)
    at = ts(now)
    rows = db.execute(
        "SELECT staff_chat, COUNT(*), SUM(taken_at IS NULL), SUM(taken_at IS NULL AND take_due_at < ?),"
        " SUM(answered_at IS NULL AND answer_due_at < ?), SUM(resolve_due_at < ?)"
        " FROM reports WHERE status IN (?,?,?) GROUP BY staff_chat",
        (at, at, at, *statuses),
    ).fetchall()
    taken: dict[str | None, list[tuple[str, int]]] = {}
    for chat, name, count in db.execute(
        "SELECT staff_chat, assignee_name, COUNT(*) FROM reports WHERE status IN (?,?,?) AND assignee IS NOT NULL"
        " GROUP BY staff_chat, assignee ORDER BY COUNT(*) DESC",
        statuses,
    ):
        taken.setdefault(chat, []).append((name or "?", int(count)))
    return [
        OpenSummary(
            chat=_chat(r[0]),
            open=int(r[1]),
            not_taken=int(r[2]),
            overdue={Term.TAKE: int(r[3]), Term.ANSWER: int(r[4]), Term.RESOLVE: int(r[5])},
            taken=tuple(taken.get(r[0], ())),
        )
        for r in rows
    ]


def claim_slot(db: sqlite3.Connection, name: str, slot: str) -> bool:
    """Mark job `name` done for `slot` (text that sorts in time order); False if it was done for it already."""
    cur = db.execute(
        "INSERT INTO schedule (name, slot) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET slot = excluded.slot"
        " WHERE schedule.slot < excluded.slot",
        (name, slot),
    )
    return cur.rowcount == 1
