"""The `/export` files: one row per report, as CSV or XLSX, written batch by batch as storage streams them.

A long period holds hundreds of thousands of reports: the writers never hold more than one batch, and every write
to the file happens in a worker thread, so the event loop keeps serving residents while a file is being made.
Column titles are translated with the caller's gettext function; statuses, verdicts, messengers and categories
with the labels the caller passes.
"""

from __future__ import annotations

import asyncio
import csv
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TextIO

from bot.text.i18n import mark

Gettext = Callable[[str], str]
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_NO_CATEGORIES: Mapping[int, str] = MappingProxyType({})

# One sheet holds 1,048,576 rows in Excel: the header and this many reports; the rest go on the next sheets.
ROWS_PER_SHEET = 1_048_575
# Text that Excel would run as a formula when it opens a CSV file (a resident's description is anyone's text).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One report as the export shows it."""

    number: int
    messenger: str
    category_id: int
    # The category's stored name; a built-in category's translated name is passed to the writers by id.
    category: str
    status: str
    received: datetime
    taken: datetime | None
    answered: datetime | None
    # When it was first resolved or rejected.
    closed: datetime | None
    # The due times set when it was filed; met: done by then (True), done late or undone past it (False), or
    # undone and not yet due (None).
    take_due: datetime
    take_met: bool | None
    answer_due: datetime
    answer_met: bool | None
    resolve_due: datetime
    resolve_met: bool | None
    rating: int | None
    verdict: str | None
    duplicate_of: int | None
    address: str | None
    latitude: float | None
    longitude: float | None
    description: str
    follow_ups: int
    # Personal data: filled only when names are asked for.
    resident_name: str | None = None
    resident_id: str | None = None


def met(done: datetime | None, due: datetime, now: datetime) -> bool | None:
    """Whether a term was met: done by its due time; False if done late or still undone past it; None if open."""
    if done is not None:
        return done <= due
    return False if now > due else None


# Column titles (translated where shown) and their widths in an XLSX sheet, in the order of `cells`.
_COLUMNS: tuple[tuple[str, int], ...] = (
    (mark("Number"), 9),
    (mark("Messenger"), 10),
    (mark("Category"), 24),
    (mark("Status"), 13),
    (mark("Received"), 17),
    (mark("Taken into work"), 17),
    (mark("First answer"), 17),
    (mark("Closed"), 17),
    (mark("Due to take"), 17),
    (mark("Taken in time"), 9),
    (mark("Due to answer"), 17),
    (mark("Answered in time"), 9),
    (mark("Due to resolve"), 17),
    (mark("Resolved in time"), 9),
    (mark("Rating"), 8),
    (mark("Verdict"), 12),
    (mark("Duplicate of"), 10),
    (mark("Address"), 32),
    (mark("Latitude"), 11),
    (mark("Longitude"), 11),
    (mark("Description"), 60),
    (mark("Follow-ups"), 10),
)
_NAME_COLUMNS: tuple[tuple[str, int], ...] = ((mark("Resident"), 24), (mark("Resident ID"), 14))
_SHEET = mark("Reports")


def _columns(names: bool) -> tuple[tuple[str, int], ...]:
    return _COLUMNS + _NAME_COLUMNS if names else _COLUMNS


def headers(_: Gettext, names: bool) -> list[str]:
    """The column titles in the reader's language (with the resident's name and id when names are asked for)."""
    return [_(title) for title, _width in _columns(names)]


def cells(
    row: ExportRow,
    tz: tzinfo,
    _: Gettext,
    names: bool,
    labels: Mapping[str, str] = _NO_LABELS,
    category_names: Mapping[int, str] = _NO_CATEGORIES,
) -> list[object]:
    """One report's cells, in the order of `headers`: local naive datetimes, "yes"/"no"/"" for the terms met,
    statuses, verdicts and messengers through `labels` and categories through `category_names` where given."""

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz).replace(tzinfo=None) if moment is not None else None

    def yes_no(value: bool | None) -> str:
        return "" if value is None else _("yes") if value else _("no")

    values: list[object] = [
        row.number,
        labels.get(row.messenger, row.messenger),
        category_names.get(row.category_id, row.category),
        labels.get(row.status, row.status),
        local(row.received),
        local(row.taken),
        local(row.answered),
        local(row.closed),
        local(row.take_due),
        yes_no(row.take_met),
        local(row.answer_due),
        yes_no(row.answer_met),
        local(row.resolve_due),
        yes_no(row.resolve_met),
        row.rating,
        labels.get(row.verdict, row.verdict) if row.verdict is not None else None,
        row.duplicate_of,
        row.address,
        row.latitude,
        row.longitude,
        row.description,
        row.follow_ups,
    ]
    if names:
        values += [row.resident_name, row.resident_id]
    return values


class _Sink(Protocol):
    """A file being written, called from a worker thread: batches of rows in order, then finished (or abandoned)."""

    def write(self, rows: Sequence[ExportRow], to_cells: Callable[[ExportRow], list[object]]) -> None: ...
    def finish(self) -> None: ...
    def abandon(self) -> None: ...


async def _stream(
    sink: _Sink, batches: AsyncIterator[Sequence[ExportRow]], to_cells: Callable[[ExportRow], list[object]]
) -> int:
    """Write every batch in a worker thread as it comes, then finish the file; the number of rows written."""
    count = 0
    try:
        async for batch in batches:
            await asyncio.to_thread(sink.write, batch, to_cells)
            count += len(batch)
        await asyncio.to_thread(sink.finish)
    except BaseException:
        sink.abandon()
        raise
    return count


def _csv_text(value: object) -> object:
    """A cell as CSV text: times to the second, and text that Excel would run as a formula kept as text."""
    if isinstance(value, datetime):
        return value.isoformat(" ", "seconds")  # strftime costs six times as much, on every time of every row
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _CsvSink:
    """UTF-8 with a byte order mark (so Excel reads Cyrillic right), comma-separated, quoted where needed."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self._file: TextIO = path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(header)

    def write(self, rows: Sequence[ExportRow], to_cells: Callable[[ExportRow], list[object]]) -> None:
        self._writer.writerows([_csv_text(v) for v in to_cells(row)] for row in rows)

    def finish(self) -> None:
        self._file.close()

    def abandon(self) -> None:
        self._file.close()


class _XlsxSink:
    """A workbook written row by row ('constant_memory': each row goes to a temporary file once complete)."""

    def __init__(self, path: Path, header: list[str], widths: list[int], sheet_name: str) -> None:
        # Imported here: the writer is needed by exports only, not by every process that knows the row model.
        import xlsxwriter  # type: ignore[import-untyped]

        # Text is written as text only: no formulas or links made of what residents wrote.
        self._book: Any = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "strings_to_urls": False, "strings_to_formulas": False}
        )
        self._bold = self._book.add_format({"bold": True})
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self._header = header
        self._widths = widths
        self._sheet_name = sheet_name
        self._sheets = 0
        self._sheet: Any = None
        self._row = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self._end_sheet()
        self._sheets += 1
        name = self._sheet_name if self._sheets == 1 else f"{self._sheet_name} {self._sheets}"
        sheet = self._book.add_worksheet(name[:31])
        for col, width in enumerate(self._widths):
            sheet.set_column(col, col, width)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, self._header, self._bold)
        self._sheet, self._row = sheet, 0

    def _end_sheet(self) -> None:
        if self._sheet is not None:
            self._sheet.autofilter(0, 0, self._row, len(self._header) - 1)

    def write(self, rows: Sequence[ExportRow], to_cells: Callable[[ExportRow], list[object]]) -> None:
        for report in rows:
            if self._row >= ROWS_PER_SHEET:
                self._new_sheet()
            self._row += 1
            sheet, r = self._sheet, self._row
            for col, value in enumerate(to_cells(report)):
                if value is None or value == "":
                    continue  # an empty cell, not an empty text (Excel's filter lists it as blank)
                if isinstance(value, datetime):
                    sheet.write_datetime(r, col, value, self._date)
                elif isinstance(value, str):
                    sheet.write_string(r, col, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, col, value)
                else:
                    sheet.write_string(r, col, str(value))

    def finish(self) -> None:
        self._end_sheet()
        self._book.close()

    def abandon(self) -> None:
        """Nothing to close: the workbook's temporary files go with it, and no file is left at the path."""


def _to_cells(
    tz: tzinfo, _: Gettext, names: bool, labels: Mapping[str, str], category_names: Mapping[int, str]
) -> Callable[[ExportRow], list[object]]:
    # The few words a row repeats ("yes", "no") are looked up once, not three times a row.
    words = functools.lru_cache(maxsize=64)(_)
    return lambda row: cells(row, tz, words, names, labels, category_names)


async def write_csv(
    batches: AsyncIterator[Sequence[ExportRow]],
    path: Path,
    tz: tzinfo,
    _: Gettext,
    names: bool,
    labels: Mapping[str, str] = _NO_LABELS,
    category_names: Mapping[int, str] = _NO_CATEGORIES,
) -> int:
    """Write the reports to a CSV file as the batches come (see `cells`); the number of reports written."""
    sink = await asyncio.to_thread(_CsvSink, path, headers(_, names))
    return await _stream(sink, batches, _to_cells(tz, _, names, labels, category_names))


async def write_xlsx(
    batches: AsyncIterator[Sequence[ExportRow]],
    path: Path,
    tz: tzinfo,
    _: Gettext,
    names: bool,
    labels: Mapping[str, str] = _NO_LABELS,
    category_names: Mapping[int, str] = _NO_CATEGORIES,
) -> int:
    """Write the reports to an XLSX workbook as the batches come: times as Excel dates, a bold frozen header with
    filters; past Excel's row limit the reports go on to further sheets. The number of reports written."""
    columns = _columns(names)
    titles = headers(_, names)
    widths = [max(width, len(title) + 2) for (_title, width), title in zip(columns, titles, strict=True)]
    sink = await asyncio.to_thread(_XlsxSink, path, titles, widths, _(_SHEET))
    return await _stream(sink, batches, _to_cells(tz, _, names, labels, category_names))
