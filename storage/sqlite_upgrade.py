"""Bringing a database made by an older version up to the officials' desk: cards, links, assignments, routes.

Runs in one transaction at start-up, after the schema script; every step does nothing on a database that has it.
"""

from __future__ import annotations

import sqlite3

from storage.sqlite_facts import backfill


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _add_column(db: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    if column not in _columns(db, table):
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def upgrade(db: sqlite3.Connection) -> None:
    """Add what the desk needs to an older database (inside the caller's transaction)."""
    _add_column(db, "reports", "staff_chat", "TEXT")
    _add_column(db, "reports", "assignee", "TEXT")
    _add_column(db, "reports", "assignee_name", "TEXT")
    _add_column(db, "reports", "duplicate_of", "INTEGER REFERENCES reports(id)")
    _add_column(db, "reports", "follow_ups", "INTEGER NOT NULL DEFAULT 0")
    _add_column(db, "reports", "version", "INTEGER NOT NULL DEFAULT 0")
    _add_column(db, "events", "author_name", "TEXT")
    _add_column(db, "events", "photos", "TEXT")
    _add_column(db, "pending_resolutions", "chat", "TEXT")
    _add_column(db, "pending_resolutions", "author_name", "TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS reports_by_chat ON reports (staff_chat, status)")
    db.execute(
        "CREATE INDEX IF NOT EXISTS reports_by_original ON reports (duplicate_of) WHERE duplicate_of IS NOT NULL"
    )
    _personal_data(db)
    _terms(db)
    backfill(db)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "staff_messages" in tables:
        # Before cards were edited, only cards were linked, the card itself last (after its photos or album).
        db.execute(
            "INSERT OR IGNORE INTO message_links (messenger, chat_id, message_id, report_id)"
            " SELECT 'tg', chat_id, message_id, report_id FROM staff_messages"
        )
        db.execute(
            "INSERT OR IGNORE INTO cards (messenger, chat_id, report_id, message_id, caption)"
            " SELECT 'tg', chat_id, report_id, MAX(message_id), NULL FROM staff_messages GROUP BY chat_id, report_id"
        )
        db.execute(
            "UPDATE reports SET staff_chat = (SELECT 'tg:' || c.chat_id FROM cards c WHERE c.report_id = reports.id"
            " ORDER BY c.message_id DESC LIMIT 1) WHERE staff_chat IS NULL"
        )
        db.execute("DROP TABLE staff_messages")


def _personal_data(db: sqlite3.Connection) -> None:
    """What erasing personal data needs: when each report closed, and which reports use which photo."""
    if "closed_at" not in _columns(db, "reports"):
        db.execute("ALTER TABLE reports ADD COLUMN closed_at TEXT")
        db.execute(
            "UPDATE reports SET closed_at = (SELECT MAX(e.at) FROM events e WHERE e.report_id = reports.id"
            " AND e.kind IN ('resolved', 'rejected', 'duplicate_linked'))"
            " WHERE status IN ('resolved', 'rejected', 'duplicate')"
        )
        db.execute(
            "INSERT OR IGNORE INTO photo_uses (digest, report_id)"
            " SELECT j.value, r.id FROM reports r, json_each(r.photos) j"
        )
        db.execute(
            "INSERT OR IGNORE INTO photo_uses (digest, report_id)"
            " SELECT j.value, e.report_id FROM events e, json_each(e.photos) j WHERE e.photos IS NOT NULL"
        )
    db.execute(
        "CREATE INDEX IF NOT EXISTS reports_to_erase ON reports (closed_at)"
        " WHERE closed_at IS NOT NULL AND resident NOT GLOB '*:0'"
    )


def _terms(db: sqlite3.Connection) -> None:
    """Three terms per category and per report, what of them is done, and when to remind (issue 14)."""
    _add_column(db, "categories", "take_hours", "REAL NOT NULL DEFAULT 4")
    _add_column(db, "categories", "resolve_days", "INTEGER NOT NULL DEFAULT 8")
    _add_column(db, "events", "dues", "TEXT")
    if "take_due_at" not in _columns(db, "reports"):
        for column, declaration in (
            ("terms_from", "TEXT"),
            ("take_due_at", "TEXT"),
            ("resolve_due_at", "TEXT"),
            ("remind_at", "REAL NOT NULL DEFAULT 0.75"),
            ("taken_at", "TEXT"),
            ("answered_at", "TEXT"),
            ("reminded", "INTEGER NOT NULL DEFAULT 0"),
            ("next_alert_at", "TEXT"),
            ("verdict", "TEXT"),
            ("rating", "INTEGER"),
        ):
            _add_column(db, "reports", column, declaration)
        # Reports kept before terms existed: the answer time stands for all three, and their past is not reminded
        # (63: every reminder marked sent), so an upgrade does not flood the staff chat.
        db.execute(
            "UPDATE reports SET terms_from = created_at, take_due_at = answer_due_at, resolve_due_at = answer_due_at,"
            " reminded = 63,"
            " taken_at = (SELECT MIN(e.at) FROM events e WHERE e.report_id = reports.id"
            " AND e.kind IN ('taken', 'answered', 'resolved', 'rejected', 'duplicate_linked')),"
            " answered_at = (SELECT MIN(e.at) FROM events e WHERE e.report_id = reports.id"
            " AND e.kind IN ('answered', 'resolved', 'rejected', 'duplicate_linked'))"
        )
    db.execute("CREATE INDEX IF NOT EXISTS reports_alerts ON reports (next_alert_at) WHERE next_alert_at IS NOT NULL")
