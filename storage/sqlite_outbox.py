"""The SQL of the transactional outbox: messages queued with the change that owes them, each chat lane in order.

Plain functions of a `sqlite3.Connection`, run by `SqliteStorage` inside its units of work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.models import Button, Buttons, Messenger
from bot.core.outbox import OutboxKind, OutboxMessage, Role
from storage import sqlite_records as records
from storage.sqlite_times import ts

# Each chat lane's oldest pending message: messages of one lane go out strictly in order.
HEADS = "SELECT MIN(id) AS id FROM outbox WHERE status = 'pending' GROUP BY messenger, chat_id, lane"


def _buttons_to_json(buttons: Buttons) -> list[list[list[str]]]:
    return [[[b.label, b.action] for b in row] for row in buttons]


def _buttons_from_json(rows: list[list[list[str]]]) -> Buttons:
    return tuple(tuple(Button(label, action) for label, action in row) for row in rows)


def insert(db: sqlite3.Connection, messages: Sequence[OutboxMessage], now: datetime, report_lanes: bool) -> None:
    """Queue messages inside the caller's transaction; each message gets its id."""
    for m in messages:
        body: dict[str, Any] = {
            "text": m.text,
            "photos": list(m.photos),
            "buttons": _buttons_to_json(m.buttons),
            "extra": m.extra,
        }
        if m.role is not Role.NONE:
            body["role"] = m.role.value
        if m.reply_to_card:
            body["reply_to_card"] = True
        row = db.execute(
            "INSERT INTO outbox (messenger, chat_id, kind, body, report_id, link, priority, status,"
            " next_attempt_at, lane) VALUES (?,?,?,?,?,?,?,'pending',?,?) RETURNING id",
            (
                m.messenger.value,
                m.chat_id,
                m.kind.value,
                json.dumps(body, ensure_ascii=False),
                m.report_id,
                int(m.link_to_report),
                m.priority,
                ts(now),
                m.lane(report_lanes),
            ),
        ).fetchone()
        m.id = int(row[0])


def message_of(row: Any) -> OutboxMessage:
    """A queued message from its row."""
    body = json.loads(row["body"])
    return OutboxMessage(
        messenger=Messenger(row["messenger"]),
        chat_id=row["chat_id"],
        kind=OutboxKind(row["kind"]),
        text=body["text"],
        photos=tuple(body["photos"]),
        buttons=_buttons_from_json(body["buttons"]),
        report_id=row["report_id"],
        link_to_report=bool(row["link"]),
        priority=row["priority"],
        id=row["id"],
        attempts=row["attempts"],
        extra=body.get("extra", {}),
        role=Role(body.get("role", "")),
        reply_to_card=bool(body.get("reply_to_card", False)),
    )


def link_sent(db: sqlite3.Connection, message: OutboxMessage, message_ids: Sequence[int]) -> None:
    """Link what a sent message made to its report, as it asked (its card, if it is one)."""
    if (links := message.links(message_ids)) is not None:
        records.link(db, message.chat, message_ids, *links)


def claim_due(db: sqlite3.Connection, now: datetime, limit: int) -> list[OutboxMessage]:
    """The due heads of the chat lanes, residents' first."""
    # The heads by one pass over the index (a subquery per pending row grew with the backlog: 2.5 ms per claim
    # behind 2,000 cards, every other statement waiting in the database thread meanwhile).
    cur = db.execute(
        f"SELECT o.* FROM ({HEADS}) h JOIN outbox o ON o.id = h.id"
        " WHERE o.next_attempt_at <= ? ORDER BY o.priority DESC, o.id LIMIT ?",
        (ts(now), limit),
    )
    return [message_of(r) for r in cur.fetchall()]


def next_in_lane(
    db: sqlite3.Connection, message: OutboxMessage, now: datetime, report_lanes: bool
) -> OutboxMessage | None:
    """The oldest pending message of the message's chat lane, if it is due."""
    row = db.execute(
        "SELECT * FROM outbox WHERE status = 'pending' AND messenger = ? AND chat_id = ? AND lane = ?"
        " ORDER BY id LIMIT 1",
        (message.messenger.value, message.chat_id, message.lane(report_lanes)),
    ).fetchone()
    return message_of(row) if row is not None and row["next_attempt_at"] <= ts(now) else None
