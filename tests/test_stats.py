"""`/stats` over a real SQLite file, driven as the bot drives it, checked against values worked out by hand.

Four Transport reports (take within 2 h, answer within 4 h), Monday 7 December 2026 from 10:00 in Moscow:

    A  10:00  taken 11:00, answered 13:00, resolved 13:00     take on time, answer on time
    B  10:10  taken 13:10, answered 15:10                      take late (3 h), answer late (5 h)
    C  10:20  nothing                                          past both terms at 16:00: late, late
    D  15:30  nothing                                          not yet due at 16:00: not judged

At 16:00: not taken in time 2 of 3, not answered in time 2 of 3. Times to take 1 h and 3 h: median 2 h, 90th
percentile 1 h + 0.9 × 2 h = 2 h 48 min. Times to answer 3 h and 5 h: median 4 h, p90 4 h 48 min. Resolved: A after
3 h. Overdue now: taking C (D is not due yet), answering C; B (taken, answered) is not. A reopened by an official at
16:00 makes one reopen of one resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

from bot.core.facts import facts_of
from bot.core.figures import Share, figures
from bot.core.lifecycle import Actor, change
from bot.core.models import ChatRef, EventKind, Messenger, Status, Term
from bot.core.stats import FiguresRequest
from tests.test_reminders import MONDAY, STAFF, Clock, Desk, process, set_terms
from tests.test_reminders import file as file_report

OLGA = Actor("staff:tg:7", "Olga")
ADMIN = 42


async def act(desk: Desk, number: int, kind: EventKind, clock: Clock, **fields: object) -> None:
    report = await desk.storage.get_report(number)
    assert report is not None
    await desk.storage.record([change(report, kind, OLGA, clock(), text="ok", **fields)])


async def fixture(desk: Desk, clock: Clock) -> list[int]:
    """The four reports of the module's docstring; the clock ends at 16:00."""
    await set_terms(desk, take=2, answer=4, resolve=3)
    start = clock.now
    numbers = []
    for minutes, user in ((0, 201), (10, 202), (20, 203)):
        clock.now = start + timedelta(minutes=minutes)
        numbers.append(await file_report(desk, user))
    a, b, _c = numbers
    clock.now = start + timedelta(hours=1)
    await act(desk, a, EventKind.TAKEN, clock)
    clock.now = start + timedelta(hours=3)
    await act(desk, a, EventKind.RESOLVED, clock)
    clock.now = start + timedelta(hours=3, minutes=10)
    await act(desk, b, EventKind.TAKEN, clock)
    clock.now = start + timedelta(hours=5, minutes=10)
    await act(desk, b, EventKind.ANSWERED, clock)
    clock.now = start + timedelta(hours=5, minutes=30)
    numbers.append(await file_report(desk, 204))
    clock.now = start + timedelta(hours=6)
    return numbers


async def test_each_figure_matches_the_hand_worked_values(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        numbers = await fixture(desk, clock)
        f = await desk.storage.figures(MONDAY - timedelta(hours=10), clock.now, None, clock.now)
        assert f.received == 4
        assert f.by_status == {Status.RESOLVED: 1, Status.IN_PROGRESS: 1, Status.NEW: 2}
        assert f.by_category == {4: 4} and f.by_messenger == {"tg": 4}
        assert f.not_taken_in_time == Share(2, 3) and f.not_answered_in_time == Share(2, 3)
        assert (f.to_take.count, f.to_take.median, f.to_take.p90) == (2, timedelta(hours=2), timedelta(minutes=168))
        assert (f.to_answer.median, f.to_answer.p90) == (timedelta(hours=4), timedelta(minutes=288))
        assert (f.to_resolve.count, f.to_resolve.median) == (1, timedelta(hours=3))
        assert f.overdue_now == {Term.TAKE: 1, Term.ANSWER: 1, Term.RESOLVE: 0}
        assert f.reopened == Share(0, 1) and f.verdicts == {} and f.average_rating is None
        [day] = await desk.storage.daily(MONDAY - timedelta(hours=10), clock.now, None, clock.now, timedelta(hours=3))
        assert (day.day, day.category_id, day.received) == ("2026-12-07", 4, 4)
        assert (day.late_take, day.judged_take, day.late_answer, day.judged_answer) == (2, 3, 2, 3)

        await act(desk, numbers[0], EventKind.REOPENED, clock)
        later = await desk.storage.figures(MONDAY - timedelta(hours=10), clock.now, None, clock.now)
        assert later.reopened == Share(1, 1)
        assert later.to_resolve.count == 1  # the first resolution still counts

        # The storage's figures are the definition's, replayed from every report's whole history.
        items = []
        for number in numbers:
            report = await desk.storage.get_report(number)
            assert report is not None
            items.append((report, await desk.storage.history(number)))
            assert await desk.storage.report_facts(number) is not None
        assert later == figures(items, clock.now)


async def test_stats_text_reads_the_figures_and_refuses_strangers(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await fixture(desk, clock)
        _ = desk.reception.locales.get("en")
        [reply] = await desk.reception.stats.handle(FiguresRequest(1, STAFF, False, "stats", "today"), _)
        text = reply.text.plain
        assert "Figures for 7 December 2026" in text, text
        assert "Received: 4" in text
        assert "By status: New 2, In progress 1, Resolved 1" in text
        assert "Not taken into work in time: 66.7% (2 of 3)" in text
        assert "Not answered in time: 66.7% (2 of 3)" in text
        assert "Time to take into work: median 2 h 0 min, 90% within 2 h 48 min (2)" in text
        assert "Overdue now: taking 1, first answer 1, resolution 0" in text
        assert "Average rating: no ratings yet" in text
        assert reply.files and reply.files[0].photo and (reply.files[0].data or b"").startswith(b"\x89PNG")

        ru = desk.reception.locales.get("ru")
        [russian] = await desk.reception.stats.handle(FiguresRequest(1, STAFF, False, "stats", "today"), ru)
        assert "Показатели за 7 декабря 2026" in russian.text.plain, russian.text.plain

        stranger = ChatRef(Messenger.TELEGRAM, -100999)
        [refused] = await desk.reception.stats.handle(FiguresRequest(1, stranger, False, "stats", ""), _)
        assert (
            refused.text.plain == "Figures are for administrators in a private chat, and for officials in staff chats."
        )
        [private] = await desk.reception.stats.handle(
            FiguresRequest(5, ChatRef(Messenger.TELEGRAM, 5), True, "stats"), _
        )
        assert "Figures are for administrators" in private.text.plain
        [bad] = await desk.reception.stats.handle(FiguresRequest(1, STAFF, False, "stats", "fortnight"), _)
        assert bad.text.plain.startswith("Usage: /stats [PERIOD] [CATEGORY_ID]")
        [unknown] = await desk.reception.stats.handle(FiguresRequest(1, STAFF, False, "stats", "week 99"), _)
        assert "There is no category with this number here" in unknown.text.plain


async def test_a_department_chat_sees_its_own_categories_only(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "bot.sqlite3", clock) as desk:
        await fixture(desk, clock)
        department = ChatRef(Messenger.TELEGRAM, -1002000)
        await desk.storage.update_category(1, staff_chat_id=department.chat_id)
        desk.reception.routing.invalidate()
        _ = desk.reception.locales.get("en")
        [own] = await desk.reception.stats.handle(FiguresRequest(1, department, False, "stats", "today"), _)
        assert "Received: 0" in own.text.plain, own.text.plain
        [other] = await desk.reception.stats.handle(FiguresRequest(1, department, False, "stats", "today 4"), _)
        assert "There is no category with this number here" in other.text.plain
        [everything] = await desk.reception.stats.handle(FiguresRequest(1, STAFF, False, "stats", "today"), _)
        assert "Received: 4" in everything.text.plain


async def test_the_command_line_prints_the_same_figures(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    async with process(tmp_path / "priemnaya.sqlite3", clock) as desk:
        await fixture(desk, clock)
    # No messenger setting at all: the command line reads the database only.
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_TOKEN", "STAFF_CHAT_ID")}
    env |= {"DATA_DIR": str(tmp_path), "STAFF_LANGUAGE": "en"}
    period = "2026-12-07..2026-12-07"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "stats",
        period,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    # Judged now, days later: D is past its terms too.
    assert "Received: 4" in text and "Not taken into work in time: 75% (3 of 4)" in text, text

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "stats",
        "yesterday",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await proc.communicate()
    assert proc.returncode == 2 and "Unknown period 'yesterday'" in err.decode()

    out_dir = tmp_path / "out"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "export",
        period,
        "--out",
        str(out_dir),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert sorted(p.suffix for p in out_dir.iterdir()) == [".csv", ".xlsx"]


async def test_a_database_from_before_the_figures_gets_its_facts_replayed(tmp_path: Path) -> None:
    clock = Clock(MONDAY)
    path = tmp_path / "bot.sqlite3"
    async with process(path, clock) as desk:
        numbers = await fixture(desk, clock)
        before = await desk.storage.figures(MONDAY - timedelta(hours=10), clock.now, None, clock.now)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("DROP TABLE report_facts")  # as an older version left it
    async with process(path, clock) as desk:
        assert await desk.storage.figures(MONDAY - timedelta(hours=10), clock.now, None, clock.now) == before
        for number in numbers:
            report = await desk.storage.get_report(number)
            assert report is not None
            assert await desk.storage.report_facts(number) == facts_of(report, await desk.storage.history(number))
