"""`/export`: a period's reports, one row each, as CSV and XLSX files read back as an official would open them.

Reports are filed through the dialog and worked through storage on a real SQLite file with a clock we move; the
files are streamed from `SqliteStorage.export` and read back with the csv module and openpyxl.
"""

from __future__ import annotations

import csv
import sqlite3
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from bot.core.lifecycle import Actor, change
from bot.core.models import EventKind
from bot.figures import export
from bot.figures.export import ExportRow, write_csv, write_xlsx
from storage.sqlite import SqliteStorage
from storage.sqlite_times import ts
from tests.test_reminders import MONDAY, MSK, Clock, Desk, file, process, resolve, take

OTHER = 6  # a default category whose photo is optional
TRICKY = 'Яма на дороге, "глубокая"\nвторая строка; и запятая, тоже'
HEADER = [
    "Number",
    "Messenger",
    "Category",
    "Status",
    "Received",
    "Taken into work",
    "First answer",
    "Closed",
    "Due to take",
    "Taken in time",
    "Due to answer",
    "Answered in time",
    "Due to resolve",
    "Resolved in time",
    "Rating",
    "Verdict",
    "Duplicate of",
    "Address",
    "Latitude",
    "Longitude",
    "Description",
    "Follow-ups",
]
PERIOD = (MONDAY - timedelta(days=1), MONDAY + timedelta(days=6))
LABELS = {"new": "Новое", "resolved": "Решено", "tg": "Telegram"}


def _(text: str) -> str:
    return text


async def file_other(desk: Desk, user_id: int, description: str) -> int:
    """A resident files an "Other" report (its photo is optional too); its number."""
    return await file(desk, user_id, description, category=OTHER)


async def answer(desk: Desk, number: int, clock: Clock) -> None:
    report = await desk.storage.get_report(number)
    assert report is not None
    await desk.storage.record([change(report, EventKind.ANSWERED, Actor("staff:tg:7", "Olga"), clock(), text="On it")])


async def period_of_four(path: Path) -> tuple[list[int], datetime]:
    """An old report before the period; a Transport report taken, answered and resolved at once; an Other report
    left alone; a fresh one. Their numbers and when the export is made."""
    clock = Clock(MONDAY - timedelta(days=7))
    async with process(path, clock) as desk:
        old = await file(desk, 104, "An old report")
        clock.now = MONDAY
        done = await file(desk, 101, TRICKY)
        clock.advance(minutes=30)
        await take(desk, done, clock)
        clock.advance(hours=1)
        await answer(desk, done, clock)
        clock.advance(hours=1)
        await resolve(desk, done, clock)
        clock.now = MONDAY + timedelta(days=1)
        left = await file_other(desk, 102, "Broken bench")
        clock.now = MONDAY + timedelta(days=5)
        fresh = await file(desk, 103, '=HYPERLINK("http://evil")')
        left_report = await desk.storage.get_report(left)
        assert left_report is not None and left_report.dues.answer < clock() + timedelta(minutes=1)
    return [old, done, left, fresh], clock() + timedelta(minutes=1)


async def export_files(
    path: Path,
    tmp: Path,
    now: datetime,
    names: bool = False,
    period: tuple[datetime, datetime] = PERIOD,
    categories: Sequence[int] | None = None,
) -> tuple[list[list[str]], list[list[object]]]:
    """Export the period to CSV and XLSX; both files' rows as read back (header first)."""
    start, end = period
    storage = await SqliteStorage.open(path)
    try:
        written_csv = await write_csv(
            storage.export(start, end, categories, now, names),
            tmp / "out.csv",
            MSK,
            _,
            names,
            labels=LABELS,
        )
        written_xlsx = await write_xlsx(
            storage.export(start, end, categories, now, names),
            tmp / "out.xlsx",
            MSK,
            _,
            names,
            labels=LABELS,
        )
    finally:
        await storage.close()
    csv_rows = read_csv(tmp / "out.csv")
    xlsx_rows = read_xlsx(tmp / "out.xlsx")
    assert written_csv == written_xlsx == len(csv_rows) - 1 == len(xlsx_rows) - 1
    return csv_rows, xlsx_rows


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte order mark Excel needs to read UTF-8
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def read_xlsx(path: Path) -> list[list[object]]:
    book = openpyxl.load_workbook(path)
    [sheet] = book.worksheets
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def near(value: object, expected: datetime) -> bool:
    """An Excel date read back equals the expected local time (Excel keeps times as fractions of a day)."""
    return isinstance(value, datetime) and abs(value - expected) < timedelta(seconds=1)


def local(moment: datetime) -> datetime:
    return moment.astimezone(MSK).replace(tzinfo=None)


async def test_each_report_of_the_period_is_a_row_in_both_files(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    (old, done, left, fresh), now = await period_of_four(path)
    csv_rows, xlsx_rows = await export_files(path, tmp_path, now)

    assert csv_rows[0] == HEADER and xlsx_rows[0] == HEADER
    c = {int(row[0]): dict(zip(HEADER, row, strict=True)) for row in csv_rows[1:]}
    x = {row[0]: dict(zip(HEADER, row, strict=True)) for row in xlsx_rows[1:]}
    assert old not in c and old not in x  # received before the period
    assert [int(row[0]) for row in csv_rows[1:]] == [done, left, fresh]
    assert [row[0] for row in xlsx_rows[1:]] == [done, left, fresh]

    # The report worked through at once: times in Moscow time, every term met.
    assert c[done]["Category"] == x[done]["Category"] == "Public transport"
    assert c[done]["Status"] == x[done]["Status"] == "Решено"
    assert c[done]["Messenger"] == x[done]["Messenger"] == "Telegram"
    assert c[done]["Received"] == "2026-12-07 10:00:00"
    assert c[done]["Taken into work"] == "2026-12-07 10:30:00"
    assert c[done]["First answer"] == "2026-12-07 11:30:00"
    assert c[done]["Closed"] == "2026-12-07 12:30:00"
    assert near(x[done]["Received"], datetime(2026, 12, 7, 10, 0))
    assert near(x[done]["Taken into work"], datetime(2026, 12, 7, 10, 30))
    assert near(x[done]["Closed"], datetime(2026, 12, 7, 12, 30))
    for flag in ("Taken in time", "Answered in time", "Resolved in time"):
        assert c[done][flag] == x[done][flag] == "yes"
    assert c[done]["Address"] == x[done]["Address"] == "Tverskaya 1"
    assert c[done]["Description"] == x[done]["Description"] == TRICKY
    assert float(c[done]["Latitude"]) == x[done]["Latitude"] == 55.75

    # Left alone: past its terms to take and answer, not yet past the one to resolve.
    assert c[left]["Category"] == x[left]["Category"] == "Other"
    assert c[left]["Status"] == x[left]["Status"] == "Новое"
    assert c[left]["Taken into work"] == "" and x[left]["Taken into work"] is None
    assert c[left]["Taken in time"] == x[left]["Taken in time"] == "no"
    assert c[left]["Answered in time"] == x[left]["Answered in time"] == "no"
    assert c[left]["Resolved in time"] == "" and x[left]["Resolved in time"] is None
    assert c[left]["Address"] == x[left]["Address"] == "Tverskaya 1"

    # Just filed: nothing judged yet; a description Excel would take for a formula stays text.
    assert c[fresh]["Taken in time"] == c[fresh]["Answered in time"] == c[fresh]["Resolved in time"] == ""
    assert c[fresh]["Received"] == "2026-12-12 10:00:00"
    assert c[fresh]["Description"] == '\'=HYPERLINK("http://evil")'
    assert x[fresh]["Description"] == '=HYPERLINK("http://evil")'


async def test_the_xlsx_header_is_bold_frozen_and_filtered(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    _numbers, now = await period_of_four(path)
    await export_files(path, tmp_path, now)
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").worksheets[0]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:V4"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.cell(2, 5).number_format == "yyyy-mm-dd hh:mm"
    assert sheet.column_dimensions["U"].width > sheet.column_dimensions["A"].width  # the description is wide


def file_text(path: Path) -> str:
    """Everything in a file as text (an XLSX workbook is a zip of XML parts)."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "".join(z.read(name).decode("utf-8") for name in z.namelist())
    return path.read_text(encoding="utf-8-sig")


async def test_residents_are_named_only_when_names_are_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    (_old, done, _left, _fresh), now = await period_of_four(path)
    csv_rows, xlsx_rows = await export_files(path, tmp_path, now)
    for out in ("out.csv", "out.xlsx"):
        text = file_text(tmp_path / out)
        assert "Resident 101" not in text and "tg:101" not in text
    assert "Resident" not in csv_rows[0] and "Resident" not in xlsx_rows[0]

    csv_rows, xlsx_rows = await export_files(path, tmp_path, now, names=True)
    header = [*HEADER, "Resident", "Resident ID"]
    assert csv_rows[0] == header and xlsx_rows[0] == header
    assert csv_rows[1][0] == str(done) and csv_rows[1][-2:] == ["Resident 101", "tg:101"]
    assert xlsx_rows[1][0] == done and xlsx_rows[1][-2:] == ["Resident 101", "tg:101"]
    assert "Resident 102" in file_text(tmp_path / "out.xlsx")


async def test_categories_and_periods_filter_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    (old, _done, left, _fresh), now = await period_of_four(path)
    csv_rows, xlsx_rows = await export_files(path, tmp_path, now, categories=[OTHER])
    assert [row[0] for row in csv_rows[1:]] == [str(left)] and [row[0] for row in xlsx_rows[1:]] == [left]

    week_before = (MONDAY - timedelta(days=8), MONDAY)
    csv_rows, xlsx_rows = await export_files(path, tmp_path, now, period=week_before)
    assert [row[0] for row in csv_rows[1:]] == [str(old)] and [row[0] for row in xlsx_rows[1:]] == [old]

    # The end is not in the period: a report received at that very moment belongs to the next one.
    csv_rows, _rows = await export_files(path, tmp_path, now, period=(MONDAY - timedelta(days=1), MONDAY))
    assert csv_rows == [HEADER]


async def test_an_empty_period_gives_the_header_alone(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    _numbers, now = await period_of_four(path)
    for categories, period in (([], PERIOD), (None, (MONDAY + timedelta(days=30), MONDAY + timedelta(days=60)))):
        csv_rows, xlsx_rows = await export_files(path, tmp_path, now, categories=categories, period=period)
        assert csv_rows == [HEADER] and xlsx_rows == [HEADER]


def bulk(path: Path, count: int, start: datetime) -> None:
    """`count` reports received a minute apart from `start`, written straight into the tables."""
    db = sqlite3.connect(path)
    reports, facts = [], []
    for i in range(count):
        at = ts(start + timedelta(minutes=i))
        due = ts(start + timedelta(minutes=i, hours=4))
        reports.append((f"tg:{5000 + i}", f"Resident {5000 + i}", 4, f"Report {i}", "[]", "new", at, due))
        facts.append((at, "tg", 4, "new", due, due, due))
    with db:
        first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM reports").fetchone()[0]
        db.executemany(
            "INSERT INTO reports (resident, resident_name, category_id, description, photos, status, created_at,"
            " answer_due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            reports,
        )
        db.executemany(
            "INSERT INTO report_facts (report_id, created_at, messenger, category_id, status, take_due_at,"
            " answer_due_at, resolve_due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(first + i, *row) for i, row in enumerate(facts)],
        )
    db.close()


async def test_twenty_thousand_reports_stream_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    storage = await SqliteStorage.open(path)
    await storage.close()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bulk(path, 20_000, start)
    sizes: list[int] = []

    async def counted(batches: AsyncIterator[list[ExportRow]]) -> AsyncIterator[Sequence[ExportRow]]:
        async for batch in batches:
            sizes.append(len(batch))
            yield batch

    storage = await SqliteStorage.open(path)
    try:
        end = start + timedelta(days=30)
        now = start + timedelta(days=31)
        rows = storage.export(start, end, None, now, False, batch=1000)
        assert await write_csv(counted(rows), tmp_path / "big.csv", MSK, _, False) == 20_000
        rows = storage.export(start, end, None, now, False, batch=1000)
        assert await write_xlsx(rows, tmp_path / "big.xlsx", MSK, _, False) == 20_000
    finally:
        await storage.close()
    assert sizes == [1000] * 20
    csv_rows = read_csv(tmp_path / "big.csv")
    assert len(csv_rows) == 20_001 and len({row[0] for row in csv_rows[1:]}) == 20_000
    assert csv_rows[-1][HEADER.index("Description")] == "Report 19999"
    book = openpyxl.load_workbook(tmp_path / "big.xlsx", read_only=True)
    assert sum(1 for _row in book.worksheets[0].iter_rows(values_only=True)) == 20_001
    book.close()


async def test_past_excel_s_row_limit_the_reports_go_on_to_more_sheets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.sqlite3"
    storage = await SqliteStorage.open(path)
    await storage.close()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bulk(path, 25, start)
    monkeypatch.setattr(export, "ROWS_PER_SHEET", 10)
    storage = await SqliteStorage.open(path)
    try:
        rows = storage.export(start, start + timedelta(days=1), None, start, False, batch=7)
        assert await write_xlsx(rows, tmp_path / "out.xlsx", MSK, _, False) == 25
    finally:
        await storage.close()
    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert book.sheetnames == ["Reports", "Reports 2", "Reports 3"]
    sheets = [[list(r) for r in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]
    assert all(sheet[0] == HEADER for sheet in sheets)
    assert [len(sheet) - 1 for sheet in sheets] == [10, 10, 5]
    numbers = [row[0] for sheet in sheets for row in sheet[1:]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 25


async def test_an_erased_resident_is_not_named_even_when_names_are_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    storage = await SqliteStorage.open(path)
    await storage.close()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bulk(path, 2, start)
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE reports SET resident = 'tg:0', resident_name = '' WHERE id = 1")
    db.close()
    storage = await SqliteStorage.open(path)
    try:
        rows = storage.export(start, start + timedelta(days=1), None, start, True)
        assert await write_csv(rows, tmp_path / "out.csv", MSK, _, True) == 2
    finally:
        await storage.close()
    csv_rows = read_csv(tmp_path / "out.csv")
    assert csv_rows[1][-2:] == ["", ""]
    assert csv_rows[2][-2:] == ["Resident 5001", "tg:5001"]
