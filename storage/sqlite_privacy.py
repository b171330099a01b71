"""The SQL of residents' personal data and abuse: consent, erasure (at request or after the retention period),
bans, flood counters and a resident's record on the card.

Plain functions of a `sqlite3.Connection`, run by `SqliteStorage` inside its units of work (and transactions).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.core.lifecycle import Change
from bot.core.models import Ban, Report, ResidentRef, Status
from storage.base import Gate, ResidentRecord
from storage.sqlite_records import apply_changes, report_of
from storage.sqlite_times import from_ts, ts

# Flood counters older than this many minutes are pruned: the limit looks at the current minute only.
FLOOD_KEEP_MINUTES = 2
_CLOSED = (Status.RESOLVED.value, Status.REJECTED.value, Status.DUPLICATE.value)


def consent_version(db: sqlite3.Connection, ref: ResidentRef) -> int | None:
    """The version of the notice the resident agreed to, if any."""
    row = db.execute("SELECT version FROM consents WHERE resident = ?", (ref.key,)).fetchone()
    return int(row[0]) if row else None


def save_consent(db: sqlite3.Connection, ref: ResidentRef, version: int, at: datetime) -> None:
    """Record the resident's consent to a version of the notice, with its time."""
    db.execute(
        "INSERT INTO consents (resident, version, at) VALUES (?,?,?)"
        " ON CONFLICT (resident) DO UPDATE SET version = excluded.version, at = excluded.at",
        (ref.key, version, ts(at)),
    )


def consent_at(db: sqlite3.Connection, ref: ResidentRef) -> tuple[int, datetime] | None:
    """The version agreed to and when."""
    row = db.execute("SELECT version, at FROM consents WHERE resident = ?", (ref.key,)).fetchone()
    return (int(row[0]), from_ts(row[1])) if row else None


def reports_of(db: sqlite3.Connection, ref: ResidentRef) -> list[Report]:
    """Every report of a resident, oldest first."""
    rows = db.execute("SELECT * FROM reports WHERE resident = ? ORDER BY id", (ref.key,)).fetchall()
    return [report_of(r) for r in rows]


def anonymise(db: sqlite3.Connection, changes: Sequence[Change], forget: ResidentRef | None) -> list[str]:
    """Apply the changes that erase reports' residents, and erase what else names them; the photos no longer used.

    Each change's `before` names the resident whose key is removed from the report's history; its photos and the
    resident's own photos in the history go. With `forget`, everything else kept about that resident goes too:
    profile, draft, consent, links to their private chat, messages still queued to it.
    """
    apply_changes(db, changes)
    erased: set[str] = set()
    for change in changes:
        before = change.before
        if before is None:
            continue
        report_id = before.id
        erased.update(before.photos)
        rows = db.execute(
            "SELECT photos FROM events WHERE report_id = ? AND author = ? AND photos IS NOT NULL",
            (report_id, before.resident.key),
        ).fetchall()
        for row in rows:
            erased.update(json.loads(row[0]))
        db.execute(
            "UPDATE events SET author = 'resident', photos = NULL WHERE report_id = ? AND author = ?",
            (report_id, before.resident.key),
        )
        chat = before.resident.chat
        db.execute(
            "DELETE FROM message_links WHERE messenger = ? AND chat_id = ? AND report_id = ?",
            (chat.messenger.value, chat.chat_id, report_id),
        )
        still = {
            d
            for e in db.execute(
                "SELECT photos FROM events WHERE report_id = ? AND photos IS NOT NULL", (report_id,)
            ).fetchall()
            for d in json.loads(e[0])
        }
        db.executemany(
            "DELETE FROM photo_uses WHERE digest = ? AND report_id = ?",
            [(d, report_id) for d in erased if d not in still],
        )
    residents = {c.before.resident for c in changes if c.before is not None}
    if forget is not None:
        residents.add(forget)
        _forget(db, forget)
    for ref in residents:
        # A profile no report names any more is not kept (it comes back with the resident's next report).
        if not db.execute("SELECT 1 FROM reports WHERE resident = ? LIMIT 1", (ref.key,)).fetchone():
            db.execute("DELETE FROM residents WHERE key = ?", (ref.key,))
    return [d for d in sorted(erased) if not _in_use(db, d)]


def _forget(db: sqlite3.Connection, ref: ResidentRef) -> None:
    chat = ref.chat
    db.execute("DELETE FROM residents WHERE key = ?", (ref.key,))
    db.execute("DELETE FROM drafts WHERE resident = ?", (ref.key,))
    db.execute("DELETE FROM consents WHERE resident = ?", (ref.key,))
    db.execute("DELETE FROM flood WHERE resident = ?", (ref.key,))
    db.execute("DELETE FROM message_links WHERE messenger = ? AND chat_id = ?", (chat.messenger.value, chat.chat_id))
    db.execute(
        "DELETE FROM outbox WHERE messenger = ? AND chat_id = ? AND status = 'pending'",
        (chat.messenger.value, chat.chat_id),
    )


def _in_use(db: sqlite3.Connection, digest: str) -> bool:
    if db.execute("SELECT 1 FROM photo_uses WHERE digest = ? LIMIT 1", (digest,)).fetchone():
        return True
    # A draft (a few thousand at most) may hold the same bytes, sent by someone else.
    return db.execute("SELECT 1 FROM drafts WHERE body LIKE ? LIMIT 1", (f"%{digest}%",)).fetchone() is not None


def closed_before(db: sqlite3.Connection, cutoff: datetime, limit: int) -> list[Report]:
    """Reports closed before `cutoff` whose residents are not erased yet, the longest closed first."""
    rows = db.execute(
        "SELECT * FROM reports WHERE closed_at IS NOT NULL AND resident NOT GLOB '*:0' AND closed_at < ?"
        " ORDER BY closed_at LIMIT ?",
        (ts(cutoff), limit),
    ).fetchall()
    return [report_of(r) for r in rows]


def gate(db: sqlite3.Connection, ref: ResidentRef, minute: int) -> Gate:
    """Count one message of the resident in this minute, unless they are banned (then: whether to tell them)."""
    row = db.execute("SELECT noticed FROM bans WHERE resident = ?", (ref.key,)).fetchone()
    if row is not None:
        if not row[0]:
            db.execute("UPDATE bans SET noticed = 1 WHERE resident = ?", (ref.key,))
        return Gate(count=0, banned=True, first_notice=not row[0])
    count = db.execute(
        "INSERT INTO flood (resident, minute, count) VALUES (?,?,1)"
        " ON CONFLICT (resident, minute) DO UPDATE SET count = count + 1 RETURNING count",
        (ref.key, minute),
    ).fetchone()[0]
    if count == 1:
        db.execute("DELETE FROM flood WHERE resident = ? AND minute < ?", (ref.key, minute - FLOOD_KEEP_MINUTES))
    return Gate(count=int(count), banned=False, first_notice=False)


def prune_flood(db: sqlite3.Connection, minute: int) -> None:
    """Drop every counter of past minutes."""
    db.execute("DELETE FROM flood WHERE minute < ?", (minute - FLOOD_KEEP_MINUTES,))


def reports_since(db: sqlite3.Connection, ref: ResidentRef, since: datetime) -> int:
    """How many reports the resident sent since `since`."""
    row = db.execute(
        "SELECT COUNT(*) FROM reports WHERE resident = ? AND created_at >= ?", (ref.key, ts(since))
    ).fetchone()
    return int(row[0])


def get_ban(db: sqlite3.Connection, ref: ResidentRef) -> Ban | None:
    """The resident's ban, if any."""
    row = db.execute("SELECT at, author, author_name, report_id FROM bans WHERE resident = ?", (ref.key,)).fetchone()
    return Ban(ref, from_ts(row[0]), row[1], row[2], row[3]) if row else None


def ban(db: sqlite3.Connection, record: Ban) -> bool:
    """Keep the resident out; False if they already were."""
    cur = db.execute(
        "INSERT OR IGNORE INTO bans (resident, at, author, author_name, report_id) VALUES (?,?,?,?,?)",
        (record.resident.key, ts(record.at), record.author, record.author_name, record.report_id),
    )
    return cur.rowcount == 1


def unban(db: sqlite3.Connection, ref: ResidentRef) -> bool:
    """Let the resident in again; False if they were not banned."""
    return db.execute("DELETE FROM bans WHERE resident = ?", (ref.key,)).rowcount == 1


def resident_record(db: sqlite3.Connection, ref: ResidentRef) -> ResidentRecord:
    """How many reports the resident filed, how many were rejected, and whether they are banned."""
    if ref.anonymous:
        return ResidentRecord(0, 0, False)
    row = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(status = ?), 0) FROM reports WHERE resident = ?",
        (Status.REJECTED.value, ref.key),
    ).fetchone()
    banned = db.execute("SELECT 1 FROM bans WHERE resident = ?", (ref.key,)).fetchone() is not None
    return ResidentRecord(int(row[0]), int(row[1]), banned)
