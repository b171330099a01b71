"""Demo data: histories the bot itself could have recorded, loaded so that storage reads back what was generated and
computes the same figures as their definition (bot.core.figures) does from the stored history."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.facts import facts_of
from bot.core.figures import Figures, figures
from bot.core.lifecycle import next_status
from bot.core.models import Category, Event, EventKind, Messenger, Report, Status, Verdict
from bot.figures.demo import BLOCK, generate
from bot.figures.demo_fill import fill, fill_sync
from storage.sqlite import SqliteStorage
from storage.sqlite_bulk import load

TZ = ZoneInfo("Europe/Moscow")
START = datetime(2026, 9, 1, tzinfo=TZ)
DAYS = 30
NOW = START + timedelta(days=DAYS)
COUNT = 2000
SEED = 15

Items = list[tuple[Report, list[Event]]]


def categories() -> list[Category]:
    keys = ("roads", "housing", "yards", "transport", "healthcare", "other")
    return [Category(i + 1, key.title(), key, False, i < 3, 24.0, None, 4.0, 8) for i, key in enumerate(keys)]


def made(count: int = COUNT, seed: int = SEED, cats: Sequence[Category] | None = None) -> Items:
    return list(generate(count, seed, START, DAYS, cats or categories(), NOW))


@pytest.fixture(scope="module")
def items() -> Items:
    return made()


def test_the_same_seed_gives_the_same_reports() -> None:
    first = list(islice(generate(COUNT, SEED, START, DAYS, categories(), NOW), 50))
    again = list(islice(generate(COUNT, SEED, START, DAYS, categories(), NOW), 50))
    other = list(islice(generate(COUNT, SEED + 1, START, DAYS, categories(), NOW), 50))
    assert first == again
    assert [r.description for r, _ in first] != [r.description for r, _ in other]


def test_every_history_is_one_the_lifecycle_allows(items: Items) -> None:
    assert [r.id for r, _ in items] == list(range(1, COUNT + 1))
    assert [r.created_at for r, _ in items] == sorted(r.created_at for r, _ in items)
    for report, history in items:
        status = Status.DRAFT
        for event in history:
            status = next_status(status, event.kind)
            assert event.status_after is status, (report.id, event)
            assert event.report_id == report.id
        assert status is report.status, report.id
        assert history[0].kind is EventKind.CREATED and history[0].dues is not None
        assert history[0].at == report.created_at
        times = [e.at for e in history]
        assert times == sorted(times), report.id
        assert times[-1] <= NOW
        assert report.version == len(history) - 1


def test_the_reports_look_like_a_city(items: Items) -> None:
    reports = [r for r, _ in items]
    telegram = sum(r.resident.messenger is Messenger.TELEGRAM for r in reports) / COUNT
    assert 0.6 < telegram < 0.8
    with_point = sum(r.location.has_point for r in reports) / COUNT
    assert 0.8 < with_point < 0.9
    addresses = Counter(r.location.address for r in reports if not r.location.has_point)
    assert addresses.most_common(1)[0][1] >= 5  # a few addresses recur
    by_category = Counter(r.category_id for r in reports)
    assert by_category.most_common(1)[0][0] == 1  # roads
    statuses = Counter(r.status for r in reports)
    assert statuses[Status.RESOLVED] > COUNT / 2
    assert statuses[Status.REJECTED] and statuses[Status.DUPLICATE]
    assert sum(statuses[s] for s in (Status.NEW, Status.IN_PROGRESS, Status.REOPENED)) > 0
    # More in the day than at night, more on weekdays than at weekends.
    local = [r.created_at.astimezone(TZ) for r in reports]
    assert sum(10 <= t.hour < 12 for t in local) > 4 * sum(2 <= t.hour < 4 for t in local)
    assert sum(t.weekday() < 5 for t in local) / 5 > sum(t.weekday() >= 5 for t in local) / 2
    # Growing: the last third of the period has more than the first.
    third = timedelta(days=DAYS / 3)
    assert sum(r.created_at >= NOW - third for r in reports) > sum(r.created_at < START + third for r in reports)


def test_terms_are_mostly_met_and_residents_answer(items: Items) -> None:
    facts = [facts_of(r, h) for r, h in items]
    taken = [f for f in facts if f.taken_at is not None]
    assert 0.05 < sum(f.taken_at > f.take_due for f in taken if f.taken_at) / len(taken) < 0.3
    answered = [f for f in facts if f.answered_at is not None]
    assert 0.05 < sum(f.answered_at > f.answer_due for f in answered if f.answered_at) / len(answered) < 0.35
    by_id = {r.id: r for r, _ in items}
    kinds = Counter(e.kind for _, h in items for e in h)
    assert kinds[EventKind.CONFIRMED] and kinds[EventKind.RATED] and kinds[EventKind.FOLLOWED_UP]
    for report, history in items:
        for event in history:
            if event.kind is EventKind.REOPENED:
                assert event.author == report.resident.key  # "not fixed", said by the resident
            if event.kind is EventKind.RATED:
                assert event.text in {"1", "2", "3", "4", "5"}
            if event.kind is EventKind.DUPLICATE_LINKED:
                original = by_id[report.duplicate_of or 0]
                assert original.id < report.id and original.category_id == report.category_id
                assert _metres(original, report) < 600  # the same hot spot
    reopened = [r for r, h in items if any(e.kind is EventKind.REOPENED for e in h)]
    assert reopened and any(r.verdict is Verdict.NOT_FIXED for r in reopened)


def _metres(a: Report, b: Report) -> float:
    la, lb = a.location, b.location
    assert la.latitude is not None and la.longitude is not None and lb.latitude is not None and lb.longitude is not None
    dy = (la.latitude - lb.latitude) * 111_200
    dx = (la.longitude - lb.longitude) * 111_200 * math.cos(math.radians(la.latitude))
    return math.hypot(dx, dy)


def test_hot_spots_make_clusters_of_one_problem(items: Items) -> None:
    points = [r for r, _ in items if r.location.has_point]
    cell = 300 / 111_200
    grid: dict[tuple[int, int], list[int]] = {}
    for i, r in enumerate(points):
        grid.setdefault((int((r.location.latitude or 0) / cell), int((r.location.longitude or 0) / cell)), []).append(i)
    near: list[set[int]] = []
    for r in points:
        y, x = int((r.location.latitude or 0) / cell), int((r.location.longitude or 0) / cell)
        around = [j for dy in (-1, 0, 1) for dx in (-2, -1, 0, 1, 2) for j in grid.get((y + dy, x + dx), [])]
        near.append({j for j in around if _metres(r, points[j]) <= 300})
    left = set(range(len(points)))
    clusters = []
    while left:
        best = max(left, key=lambda i: len(near[i] & left))
        members = near[best] & left
        if len(members) < 10:
            break
        clusters.append(Counter(points[j].category_id for j in members))
        left -= members
    one_problem = [c for c in clusters if c.most_common(1)[0][1] >= 0.8 * sum(c.values())]
    assert len(one_problem) >= 5, clusters


def test_now_before_the_end_of_the_period_is_refused() -> None:
    with pytest.raises(ValueError):
        next(generate(10, SEED, START, DAYS, categories(), NOW - timedelta(hours=1)))


async def _categories_of(path: Path) -> list[Category]:
    storage = await SqliteStorage.open(path)
    try:
        return await storage.list_categories()
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Items]:
    """A database filled by `fill`, and what it was filled with (generated again)."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    assert asyncio.run(fill(path, COUNT, SEED, START, DAYS, TZ)) == COUNT
    return path, made(cats=asyncio.run(_categories_of(path)))


@pytest.fixture
async def storage(filled: tuple[Path, Items]) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(filled[0])
    yield storage
    await storage.close()


async def test_storage_reads_back_what_was_generated(storage: SqliteStorage, filled: tuple[Path, Items]) -> None:
    items = filled[1]
    assert await storage.report_count() == COUNT
    for report, history in [*items[::37], items[-1]]:
        assert await storage.get_report(report.id) == report
        assert await storage.history(report.id) == history
    resident = items[0][0].resident
    profile = await storage.get_resident(resident)
    assert profile is not None and profile.display_name == items[0][0].resident_name and profile.language == "ru"


async def _stored(storage: SqliteStorage) -> Items:
    out = []
    for number in range(1, COUNT + 1):
        report = await storage.get_report(number)
        assert report is not None
        out.append((report, await storage.history(number)))
    return out


async def test_kept_facts_are_the_stored_history_replayed(storage: SqliteStorage) -> None:
    for report, history in await _stored(storage):
        assert await storage.report_facts(report.id) == facts_of(report, history), report.id


def _differences(got: Figures, want: Figures) -> dict[str, tuple[object, object]]:
    """The fields that differ (an average within float rounding is the same)."""
    out = {}
    for f in dataclasses.fields(Figures):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-12):
            continue
        if a != b:
            out[f.name] = (a, b)
    return out


async def test_storage_figures_equal_their_definition(storage: SqliteStorage) -> None:
    stored = await _stored(storage)
    week = START + timedelta(days=10)
    cases: list[tuple[datetime, datetime, list[int] | None, datetime]] = [
        (START, NOW, None, NOW),
        (week, week + timedelta(days=7), None, NOW),
        (START, NOW, [1, 3], NOW + timedelta(days=5)),
        (NOW - timedelta(days=3), NOW, [2], NOW),
    ]
    for start, end, cats, now in cases:
        chosen = [
            (r, h)
            for r, h in stored
            if start <= r.created_at < end and (cats is None or facts_of(r, h).category_id in cats)
        ]
        got = await storage.figures(start, end, cats, now)
        want = figures(chosen, now)
        assert got.received == len(chosen) > 0
        assert not _differences(got, want), (start, end, cats, _differences(got, want))


async def test_a_database_with_reports_is_refused(storage: SqliteStorage, filled: tuple[Path, Items]) -> None:
    with pytest.raises(ValueError, match="already holds reports"):
        await fill(filled[0], 10, SEED + 1, START, DAYS, TZ)
    assert await storage.report_count() == COUNT
    report = await storage.get_report(1)
    assert report is not None and report == filled[1][0][0]


async def test_load_writes_what_storage_reads(tmp_path: Path) -> None:
    path = tmp_path / "load.sqlite3"
    items = made(300, cats=await _categories_of(path))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert load(db, items, batch=128) == 300
        with pytest.raises(ValueError, match="already holds reports"):
            load(db, items[:1])
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == sum(len(h) for _, h in items)
    finally:
        db.close()
    storage = await SqliteStorage.open(path)
    try:
        for report, history in items[::7]:
            assert await storage.get_report(report.id) == report
            assert await storage.history(report.id) == history
            assert await storage.report_facts(report.id) == facts_of(report, history)
    finally:
        await storage.close()


async def test_blocks_made_side_by_side_load_as_one_sequence(tmp_path: Path) -> None:
    path = tmp_path / "blocks.sqlite3"
    cats = await _categories_of(path)
    count = BLOCK + 40
    assert await asyncio.to_thread(fill_sync, path, count, SEED, START, DAYS, cats, 2) == count
    sample = {1, 2, BLOCK - 1, BLOCK, BLOCK + 1, count}
    want = {r.id: (r, h) for r, h in generate(count, SEED, START, DAYS, cats, NOW) if r.id in sample}
    storage = await SqliteStorage.open(path)
    try:
        assert await storage.report_count() == count
        for number in sorted(sample):
            assert (await storage.get_report(number), await storage.history(number)) == want[number]
    finally:
        await storage.close()
    assert [want[n][0].created_at for n in sorted(sample)] == sorted(want[n][0].created_at for n in sample)
