"""The SQLite storage: reports, history, drafts, categories and the outbox, on a real database file."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.lifecycle import Actor, InvalidTransition, change, created
from bot.core.models import (
    ChatRef,
    Draft,
    Dues,
    EventKind,
    Location,
    Messenger,
    Official,
    Report,
    ResidentProfile,
    ResidentRef,
    Status,
)
from bot.core.outbox import Card, OutboxKind, OutboxMessage, Role
from bot.delivery.budgets import BudgetConfig, SendBudgets, acquire
from storage.base import AlreadyApplied, Conflict, Effects, NotFound, Pending
from storage.defaults import DEFAULT_CATEGORIES
from storage.sqlite import SqliteStorage

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ALICE = ResidentProfile(ResidentRef(Messenger.TELEGRAM, 101), "Alice", "en")
STAFF = ChatRef(Messenger.TELEGRAM, -100)
OLEG = Actor("staff:tg:7", "Oleg")


@pytest.fixture
async def storage(tmp_path: Path):
    s = await SqliteStorage.open(tmp_path / "db.sqlite3")
    yield s
    await s.close()


def _draft() -> Draft:
    return Draft(category_id=1, description="Pothole", location=Location(address="Main st 1"), photos=["a" * 64])


def _card(report: Report) -> Effects:
    card = OutboxMessage(Messenger.TELEGRAM, -100, OutboxKind.TEXT, text=f"#{report.id}", report_id=report.id)
    return [created(report, Actor(report.resident.key))], [card]


async def _submit(
    storage: SqliteStorage,
    profile: ResidentProfile = ALICE,
    draft: Draft | None = None,
    effects: Callable[[Report], Effects] = _card,
) -> Report:
    dues = Dues(T0, T0 + timedelta(hours=4), T0 + timedelta(hours=24), T0 + timedelta(days=10))
    return await storage.submit_report(profile, draft or _draft(), T0, dues, STAFF, effects)


async def test_default_categories_seeded_once(tmp_path: Path) -> None:
    s = await SqliteStorage.open(tmp_path / "db.sqlite3")
    keys = [c.builtin_key for c in await s.list_categories()]
    await s.close()
    s = await SqliteStorage.open(tmp_path / "db.sqlite3")
    assert [c.builtin_key for c in await s.list_categories()] == keys
    assert keys == ["roads", "housing", "yards", "transport", "healthcare", "other"]
    await s.close()


async def test_processes_opening_a_new_database_together_all_succeed(tmp_path: Path) -> None:
    # Scale-out starts intake and workers at once on a fresh data volume; SQLite answers "locked" to all but one
    # switching a new file to WAL, and a failed opening must not leave its database thread behind.
    for round_ in range(20):
        path = tmp_path / f"db{round_}.sqlite3"
        opened = await asyncio.gather(*(SqliteStorage.open(path) for _ in range(4)))
        # Seeded once, whoever won: every process sees the same default categories.
        assert [len(await s.list_categories(include_hidden=True)) for s in opened] == [len(DEFAULT_CATEGORIES)] * 4
        for s in opened:
            await s.close()


async def test_category_changes(storage: SqliteStorage) -> None:
    added = await storage.add_category("Snow", 12)
    assert added.name == "Snow" and added.photo_required and not added.hidden and added.answer_hours == 12
    hidden = await storage.update_category(added.id, hidden=True)
    assert hidden.hidden
    assert added.id not in [c.id for c in await storage.list_categories()]
    assert added.id in [c.id for c in await storage.list_categories(include_hidden=True)]
    renamed = await storage.update_category(1, name="Streets")
    assert renamed.name == "Streets" and renamed.builtin_key is None
    with pytest.raises(NotFound):
        await storage.update_category(999, hidden=True)


async def test_submit_is_atomic_and_survives_reopen(tmp_path: Path) -> None:
    s = await SqliteStorage.open(tmp_path / "db.sqlite3")
    await s.save_resident(ALICE)
    await s.save_draft(ALICE.ref, _draft())
    report = await _submit(s)
    assert report.id == 1 and report.status is Status.NEW
    assert await s.get_draft(ALICE.ref) is None
    await s.close()

    s = await SqliteStorage.open(tmp_path / "db.sqlite3")
    again = await s.get_report(1)
    assert again == report
    assert [e.kind for e in await s.history(1)] == [EventKind.CREATED]
    due = await s.claim_due(T0, 10)
    assert [m.text for m in due] == ["#1"]
    await s.close()


async def test_submit_rolls_back_when_queueing_fails(storage: SqliteStorage) -> None:
    await storage.save_draft(ALICE.ref, _draft())

    def broken(report: Report) -> Effects:
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError):
        await _submit(storage, effects=broken)
    assert await storage.get_report(1) is None
    assert await storage.get_draft(ALICE.ref) is not None
    assert await storage.pending_count() == 0


async def test_changes_follow_the_lifecycle_and_detect_races(storage: SqliteStorage) -> None:
    report = await _submit(storage)
    answered = change(report, EventKind.ANSWERED, OLEG, T0 + timedelta(hours=1), text="On it", assignee=OLEG.author)
    await storage.record([answered])
    # A second writer that read the report before the answer loses the race instead of overwriting it.
    with pytest.raises(Conflict):
        await storage.record([change(report, EventKind.REJECTED, OLEG, T0, text="no")])
    current = await storage.get_report(report.id)
    assert current is not None and current.status is Status.IN_PROGRESS and current.assignee == OLEG.author
    assert current.version == report.version + 1
    resolved = change(current, EventKind.RESOLVED, OLEG, T0 + timedelta(hours=2), photos=("b" * 64,))
    await storage.record([resolved])
    history = await storage.history(report.id)
    assert [(e.kind, e.status_after, e.author_name) for e in history] == [
        (EventKind.CREATED, Status.NEW, None),
        (EventKind.ANSWERED, Status.IN_PROGRESS, "Oleg"),
        (EventKind.RESOLVED, Status.RESOLVED, "Oleg"),
    ]
    assert history[-1].photos == ("b" * 64,)
    closed = await storage.get_report(report.id)
    assert closed is not None
    with pytest.raises(InvalidTransition):
        change(closed, EventKind.REJECTED, OLEG, T0)


async def test_a_change_of_two_reports_is_all_or_nothing(storage: SqliteStorage) -> None:
    first, second = await _submit(storage), await _submit(storage, draft=_draft())
    linked = change(first, EventKind.DUPLICATE_LINKED, OLEG, T0, text="#2", duplicate_of=second.id)
    joined = change(second, EventKind.DUPLICATE_JOINED, OLEG, T0, text="#1")
    stale = change(second, EventKind.TAKEN, OLEG, T0)
    await storage.record([stale])
    with pytest.raises(Conflict):
        await storage.record([linked, joined])  # the second report moved on meanwhile: the first is not changed
    again = await storage.get_report(first.id)
    assert again is not None and again.status is Status.NEW and again.duplicate_of is None
    fresh = await storage.get_report(second.id)
    assert fresh is not None
    await storage.record([linked, change(fresh, EventKind.DUPLICATE_JOINED, OLEG, T0, text="#1")])
    assert [r.id for r in await storage.duplicates_of(second.id)] == [first.id]


async def test_outbox_heads_per_chat_priority_and_retry(storage: SqliteStorage) -> None:
    def msg(chat: int, text: str, priority: int = 0) -> OutboxMessage:
        return OutboxMessage(Messenger.TELEGRAM, chat, OutboxKind.TEXT, text=text, priority=priority)

    await storage.enqueue([msg(1, "a1"), msg(1, "a2"), msg(2, "b1", priority=10), msg(3, "c1")])
    heads = await storage.claim_due(datetime.now(UTC), 10)
    assert [m.text for m in heads] == ["b1", "a1", "c1"]
    a1 = heads[1]
    await storage.mark_retry(a1, datetime.now(UTC) + timedelta(hours=1), "429")
    heads = await storage.claim_due(datetime.now(UTC), 10)
    # a2 must wait behind a1: order inside a chat is kept even while a1 is backing off.
    assert [m.text for m in heads] == ["b1", "c1"]
    await storage.mark_sent(heads[0], [55])
    assert await storage.pending_count() == 3


async def test_a_chat_lane_takes_its_next_message_with_the_acknowledgement(storage: SqliteStorage) -> None:
    def msg(chat: int, text: str) -> OutboxMessage:
        return OutboxMessage(Messenger.TELEGRAM, chat, OutboxKind.TEXT, text=text)

    await storage.enqueue([msg(-100, "card 1"), msg(7, "confirmation"), msg(-100, "card 2"), msg(-100, "card 3")])
    now = datetime.now(UTC)
    first = next(m for m in await storage.claim_due(now, 10) if m.text == "card 1")
    second = await storage.mark_sent_and_next(first, [501], now)
    assert second is not None and second.text == "card 2"  # the same chat, in order; never another chat's
    await storage.mark_retry(second, now + timedelta(hours=1), "429")
    # Card 2 backs off and card 3 waits behind it: only the resident's confirmation is due.
    assert [m.text for m in await storage.claim_due(now, 10)] == ["confirmation"]
    later = now + timedelta(hours=2)
    second = next(m for m in await storage.claim_due(later, 10) if m.chat_id == -100)
    assert second.text == "card 2"
    third = await storage.mark_sent_and_next(second, [502], later)
    assert third is not None and third.text == "card 3"
    assert await storage.mark_sent_and_next(third, [503], later) is None
    assert [m.text for m in await storage.claim_due(later, 10)] == ["confirmation"]


async def test_mark_sent_links_messages_and_cards_and_failure_is_recorded(storage: SqliteStorage) -> None:
    report = await _submit(storage)
    card = OutboxMessage(
        Messenger.TELEGRAM,
        -100,
        OutboxKind.PHOTO,
        text="card",
        photos=("a" * 64,),
        report_id=report.id,
        link_to_report=True,
        role=Role.CARD,
    )
    await storage.enqueue([card])
    heads = await storage.claim_due(datetime.now(UTC), 10)
    await storage.mark_sent(heads[0], [])  # the first card from _card, not linked
    heads = await storage.claim_due(datetime.now(UTC), 10)
    await storage.mark_sent(heads[0], [700, 701])
    assert await storage.report_for_message(STAFF, 701) == report.id
    assert await storage.report_for_message(STAFF, 702) is None
    assert await storage.report_for_message(ChatRef(Messenger.VK, -100), 701) is None
    assert await storage.card_of(STAFF, report.id) == Card(701, caption=True)
    # An edit of the card changes what the card shows, never which message it is.
    edit = OutboxMessage(Messenger.TELEGRAM, -100, OutboxKind.EDIT, text="card", report_id=report.id, role=Role.CARD)
    await storage.enqueue([edit])
    [head] = await storage.claim_due(datetime.now(UTC), 10)
    await storage.mark_sent(head, [701])
    assert await storage.card_of(STAFF, report.id) == Card(701, caption=True)

    to_resident = OutboxMessage(Messenger.TELEGRAM, 101, OutboxKind.TEXT, text="answer", report_id=report.id)
    await storage.enqueue([to_resident])
    [head] = await storage.claim_due(datetime.now(UTC), 10)
    notice = OutboxMessage(Messenger.TELEGRAM, -100, OutboxKind.TEXT, text="not delivered")
    current = await storage.get_report(report.id)
    assert current is not None
    failed = change(current, EventKind.DELIVERY_FAILED, Actor("system"), T0, text="Forbidden: bot was blocked")
    await storage.mark_failed(head, "Forbidden: bot was blocked by the user", T0, [failed], [notice])
    assert await storage.failed_count() == 1
    assert [m.text for m in await storage.claim_due(datetime.now(UTC), 10)] == ["not delivered"]
    last = (await storage.history(report.id))[-1]
    assert last.kind is EventKind.DELIVERY_FAILED and "blocked" in (last.text or "")


async def test_pending_resolution_taken_once_and_only_in_its_chat(storage: SqliteStorage) -> None:
    report = await _submit(storage)
    pending = Pending(report.id, STAFF, "staff:tg:7", "Oleg", "Fixed")
    pid = await storage.save_pending(pending, T0)
    assert await storage.take_pending(pid, ChatRef(Messenger.TELEGRAM, -200)) is None  # asked elsewhere: left alone
    assert await storage.take_pending(pid, STAFF) == pending
    assert await storage.take_pending(pid, STAFF) is None


async def test_resident_profile_and_reports_listing(storage: SqliteStorage) -> None:
    await storage.save_resident(ALICE)
    await storage.save_resident(ResidentProfile(ALICE.ref, "Alice B", "ru"))
    profile = await storage.get_resident(ALICE.ref)
    assert profile is not None and profile.display_name == "Alice B" and profile.language == "ru"
    for _ in range(3):
        await _submit(storage)
    other = ResidentProfile(ResidentRef(Messenger.VK, 101), "Bob", "ru")
    await _submit(storage, other)
    assert [r.id for r in await storage.list_reports(ALICE.ref, 2)] == [3, 2]
    assert [r.id for r in await storage.list_reports(other.ref, 10)] == [4]
    # The report's own transaction records the profile of whoever sent it (the answers go out in their language).
    stored = await storage.get_resident(other.ref)
    assert stored is not None and stored.display_name == "Bob" and stored.language == "ru"


async def test_the_same_draft_sent_twice_makes_one_report(storage: SqliteStorage) -> None:
    draft = _draft()
    first = await _submit(storage, draft=draft)
    again = await _submit(storage, draft=draft)
    assert again.id == first.id
    assert [r.id for r in await storage.list_reports(ALICE.ref, 10)] == [first.id]
    assert await storage.pending_count() == 1


async def test_messages_queued_before_lanes_existed_keep_their_chat_order(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    await (await SqliteStorage.open(path)).close()

    def as_before_lanes() -> None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("DROP INDEX outbox_lanes")
            db.execute("ALTER TABLE outbox DROP COLUMN lane")
            db.executemany(
                "INSERT INTO outbox (messenger, chat_id, kind, body, report_id, link, priority, status,"
                " next_attempt_at) VALUES ('tg', -100, 'text', ?, ?, 0, 0, 'pending', '2026-01-01T00:00:00.000000')",
                [(f'{{"text": "card {i}", "photos": [], "buttons": []}}', i) for i in (1, 2)],
            )
            db.commit()

    await asyncio.to_thread(as_before_lanes)
    storage = await SqliteStorage.open(path)
    try:
        # The old rows share their chat's one lane: card 2 still waits for card 1.
        [head] = await storage.claim_due(datetime.now(UTC), 10)
        assert head.text == "card 1"
        await storage.mark_sent(head, [])
        [head] = await storage.claim_due(datetime.now(UTC), 10)
        assert head.text == "card 2"
    finally:
        await storage.close()


async def test_sends_into_groups_are_logged_before_they_go(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "db.sqlite3")
    budgets = SendBudgets(BudgetConfig(telegram_group_per_minute=3), journal=storage.log_send)
    await acquire(budgets, Messenger.TELEGRAM, -100, 2)  # an album of two into a group
    await acquire(budgets, Messenger.TELEGRAM, 7)  # a private chat's one-second window needs no log
    # Logged at the reservation, before any send was acknowledged: a process killed mid-send forgets nothing.
    [(messenger, chat, cost, _)] = await storage.recent_sends(60.0)
    assert (messenger, chat, cost) == (Messenger.TELEGRAM, -100, 2)
    assert await storage.recent_sends(0.0) == []
    restarted = SendBudgets(BudgetConfig(telegram_group_per_minute=3))
    restarted.replay(await storage.recent_sends(60.0))
    assert restarted.wait_time(Messenger.TELEGRAM, -100, 2) > 50
    assert restarted.wait_time(Messenger.TELEGRAM, -100, 1) == 0.0
    await storage.close()


async def test_an_event_from_the_same_source_is_applied_once(storage: SqliteStorage) -> None:
    report = await _submit(storage)
    answer = OutboxMessage(Messenger.TELEGRAM, 5, OutboxKind.TEXT, text="Answer to your report #1")
    answered = change(report, EventKind.ANSWERED, OLEG, T0, text="Soon", source="tg:-1:9")
    pending = await storage.pending_count()
    await storage.record([answered], [answer])
    current = await storage.get_report(report.id)
    assert current is not None
    with pytest.raises(AlreadyApplied):
        await storage.record([change(current, EventKind.ANSWERED, OLEG, T0, text="Soon", source="tg:-1:9")], [answer])
    assert [e.source for e in await storage.history(report.id) if e.kind is EventKind.ANSWERED] == ["tg:-1:9"]
    assert await storage.pending_count() == pending + 1


async def test_a_database_from_before_event_sources_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    old = await SqliteStorage.open(path)
    report = await _submit(old)
    await old.close()

    def as_before_sources() -> None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("DROP INDEX events_by_source")
            db.execute("ALTER TABLE events DROP COLUMN source")
            db.commit()

    await asyncio.to_thread(as_before_sources)
    storage = await SqliteStorage.open(path)
    try:
        await storage.record([change(report, EventKind.ANSWERED, OLEG, T0, text="On it", source="tg:-1:3")])
        current = await storage.get_report(report.id)
        assert current is not None
        with pytest.raises(AlreadyApplied):
            await storage.record([change(current, EventKind.ANSWERED, OLEG, T0, text="On it", source="tg:-1:3")])
        assert [e.source for e in await storage.history(report.id)] == [None, "tg:-1:3"]
    finally:
        await storage.close()


async def test_a_database_from_before_the_desk_keeps_its_cards_and_routes(tmp_path: Path) -> None:
    """A database made before cards were edited: its cards are found (the last linked message), its reports know
    their staff chat, and the reports work on."""
    path = tmp_path / "db.sqlite3"
    await (await SqliteStorage.open(path)).close()

    def as_before_the_desk() -> None:
        with contextlib.closing(sqlite3.connect(path)) as db:
            for table in ("message_links", "cards", "broken_chats"):
                db.execute(f"DROP TABLE {table}")
            db.execute("DROP INDEX IF EXISTS reports_by_chat")
            db.execute("DROP INDEX IF EXISTS reports_by_original")
            for column in ("staff_chat", "assignee", "assignee_name", "duplicate_of", "follow_ups", "version"):
                db.execute(f"ALTER TABLE reports DROP COLUMN {column}")
            for column in ("author_name", "photos"):
                db.execute(f"ALTER TABLE events DROP COLUMN {column}")
            for column in ("chat", "author_name"):
                db.execute(f"ALTER TABLE pending_resolutions DROP COLUMN {column}")
            db.execute(
                "CREATE TABLE staff_messages (chat_id INTEGER NOT NULL, message_id INTEGER NOT NULL,"
                " report_id INTEGER NOT NULL, PRIMARY KEY (chat_id, message_id)) WITHOUT ROWID"
            )
            db.execute(
                "INSERT INTO reports (resident, resident_name, category_id, description, address, photos, status,"
                " created_at, answer_due_at) VALUES ('tg:101', 'Alice', 1, 'Pothole', 'Main st 1', '[]', 'new',"
                " '2026-11-22T09:00:00.000000+00:00', '2026-11-23T09:00:00.000000+00:00')"
            )
            db.execute("INSERT INTO events (report_id, kind, at, author, status_after) VALUES (1, 'created',"
                       " '2026-11-22T09:00:00.000000+00:00', 'tg:101', 'new')")
            db.executemany(
                "INSERT INTO staff_messages (chat_id, message_id, report_id) VALUES (?,?,?)",
                [(-555, 40, 1), (-555, 41, 1)],  # an album, then the card
            )
            db.commit()

    await asyncio.to_thread(as_before_the_desk)
    storage = await SqliteStorage.open(path)
    try:
        department = ChatRef(Messenger.TELEGRAM, -555)
        assert await storage.card_of(department, 1) == Card(41, caption=None)
        assert await storage.report_for_message(department, 40) == 1
        report = await storage.get_report(1)
        assert report is not None and report.staff_chat == department and report.version == 0
        official = Official(Messenger.TELEGRAM, 7, "Oleg")
        await storage.record([change(report, EventKind.TAKEN, Actor(official.author, official.name), T0)])
        assert [e.kind for e in await storage.history(1)] == [EventKind.CREATED, EventKind.TAKEN]
    finally:
        await storage.close()
