"""`/stats`: the operators' figures of a period for officials and administrators, with a chart.

Who sees what: in the default staff chat, every category; in a department chat, the categories routed to it; in a
private chat, administrators only, every category. The figures are storage's (computed from the facts it folds from
each report's history, see bot/core/facts.py); this module reads the request, checks the right and words the answer.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from babel.numbers import format_decimal

from bot.core.config import Clock, CoreConfig
from bot.core.figures import Figures, Share, Spread
from bot.core.models import Category, ChatRef, Messenger, Status, Term, Verdict
from bot.core.periods import BadPeriod, Period, parse_period
from bot.core.replies import Attachment, Reply, say
from bot.core.routing import StaffRouting
from bot.text.i18n import Gettext, Locales
from bot.text.labels import category_name, status_label
from bot.text.rich import Rich, bold, fill, lines, link
from bot.text.when import days_span
from storage.base import CategoryStore, DayFigures, ExportStore, FigureStore


class Records(CategoryStore, FigureStore, ExportStore, Protocol):
    """What the figures read."""


COMMANDS = ("stats", "problems", "export")
# How many key problems `/problems` lists.
PROBLEMS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class FiguresRequest:
    """A figures command: who asked, in which chat, whether it is their private chat, and its arguments."""

    user_id: int
    chat: ChatRef
    private: bool
    command: str
    args: str = ""


class _Refused(Exception):
    """A request answered with one line and nothing else."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class Scope:
    """What a request may see: its period and categories (None: all of them)."""

    period: Period
    categories: list[int] | None
    names: dict[int, str]
    title: str


# Shares at or under this are the target drawn on the chart (a twentieth of the reports late).
TARGET_SHARE = 0.05


class Statistics:
    """Answers `/stats` for officials in staff chats and for administrators in private."""

    def __init__(
        self, storage: Records, config: CoreConfig, routing: StaffRouting, locales: Locales, clock: Clock
    ) -> None:
        self._storage = storage
        self._config = config
        self._routing = routing
        self._locales = locales
        self._clock = clock

    async def handle(self, request: FiguresRequest, _: Gettext) -> list[Reply]:
        """The answer to a figures command, or one polite line refusing it."""
        try:
            if request.command == "stats":
                return [await self._stats(request, _)]
            if request.command == "problems":
                return [await self._problems(request, _)]
            if request.command == "export":
                return [await self._export(request, _)]
        except _Refused as refused:
            return [say(refused.text)]
        return [say(_("Unknown command."))]

    async def scope(self, request: FiguresRequest, _: Gettext, words: Sequence[str] = ()) -> Scope:
        """The period and categories a request asks for and may see; `words` are other arguments it accepts."""
        allowed = await self._allowed(request, _)
        period_text = ""
        category_id: int | None = None
        for token in request.args.split():
            if token.isdigit() and category_id is None:
                category_id = int(token)
            elif token.lower() in words:
                continue
            elif not period_text:
                period_text = token
            else:
                raise _Refused(self._usage(request.command, _))
        try:
            period = parse_period(period_text, self._config.tz, self._clock())
        except BadPeriod:
            raise _Refused(self._usage(request.command, _)) from None
        categories = await self._storage.list_categories(include_hidden=True)
        names = {c.id: category_name(c, _) for c in categories}
        if category_id is not None:
            if category_id not in names or (allowed is not None and category_id not in allowed):
                raise _Refused(_("There is no category with this number here. See /categories."))
            return Scope(period, [category_id], names, names[category_id])
        return Scope(period, allowed, names, "")

    async def _allowed(self, request: FiguresRequest, _: Gettext) -> list[int] | None:
        """The categories this chat may see (None: all), or a refusal for people without the right."""
        if request.private:
            if request.user_id not in self._config.admin_ids:
                raise _Refused(_("Figures are for administrators in a private chat, and for officials in staff chats."))
            return None
        if not await self._routing.is_staff_chat(request.chat):
            raise _Refused(_("Figures are for administrators in a private chat, and for officials in staff chats."))
        if request.chat == self._routing.default_chat:
            return None
        categories = await self._storage.list_categories(include_hidden=True)
        return [c.id for c in categories if self._department(c) == request.chat]

    def _department(self, category: Category) -> ChatRef:
        return self._routing.chat_for(category)

    @staticmethod
    def _usage(command: str, _: Gettext) -> str:
        if command == "export":
            return _(
                "Usage: /export [PERIOD] [names], where PERIOD is today, week, month, 7d, 30d"
                " or YYYY-MM-DD..YYYY-MM-DD."
            )
        if command == "problems":
            return _(
                "Usage: /problems [PERIOD], where PERIOD is today, week, month, 7d, 30d or YYYY-MM-DD..YYYY-MM-DD."
            )
        return _(
            "Usage: /stats [PERIOD] [CATEGORY_ID], where PERIOD is today, week, month, 7d, 30d"
            " or YYYY-MM-DD..YYYY-MM-DD."
        )

    async def chats(self) -> dict[ChatRef, list[int] | None]:
        """Every staff chat with the categories it sees: the default one all (None), a department chat its own."""
        await self._routing.refresh()
        chats: dict[ChatRef, list[int] | None] = {self._routing.default_chat: None}
        for category in await self._storage.list_categories(include_hidden=True):
            chat = self._department(category)
            if chat != self._routing.default_chat:
                department = chats.setdefault(chat, [])
                assert department is not None
                department.append(category.id)
        return chats

    async def scope_of(self, period: Period, categories: list[int] | None, _: Gettext) -> Scope:
        """The scope of a period and categories (None: all), with the categories' names in the reader's language."""
        names = {c.id: category_name(c, _) for c in await self._storage.list_categories(include_hidden=True)}
        return Scope(period, categories, names, "")

    async def summary(self, scope: Scope, _: Gettext, top: int) -> tuple[Rich, bytes, Rich]:
        """What a weekly summary shows: the figures, their chart, and the `top` key problems."""
        reply = await self.stats_reply(scope, _)
        chart = reply.files[0].data or b""
        return reply.text, chart, await self.problems_text(scope, _, top)

    async def problems_text(self, scope: Scope, _: Gettext, limit: int = PROBLEMS_SHOWN) -> Rich:
        """The key problems of a scope: where and about what reports cluster, the largest first."""
        from bot.figures.problems import address_url, key_problems, map_url

        samples = await self._storage.problem_samples(scope.period.start, scope.period.end, scope.categories)
        found = await key_problems(samples, radius_m=self._config.problem_radius_m, limit=limit)
        language = self._locales.language_of(_)
        head = bold(fill(_("🔥 Key problems, {period}"), period=period_label(scope.period, language)))
        if not found:
            return lines(head, _("No places or topics where reports cluster."))
        rows: list[Rich | str] = [head]
        for i, problem in enumerate(found, 1):
            where = problem.address or ""
            row = fill(
                _("{n}. {label} — {count} reports ({category}), e.g. #{number}"),
                n=i,
                label=problem.label,
                count=problem.count,
                category=scope.names.get(problem.category_id, "?"),
                number=problem.representative,
            )
            if where:
                row = row + f", {where}"
            if problem.latitude is not None and problem.longitude is not None:
                row = row + " · " + link(_("map"), map_url(problem.latitude, problem.longitude))
            elif where:
                row = row + " · " + link(_("map"), address_url(where))
            rows.append(row)
        return lines(*rows)

    async def _problems(self, request: FiguresRequest, _: Gettext) -> Reply:
        scope = await self.scope(request, _)
        return Reply(await self.problems_text(scope, _))

    async def export_files(self, scope: Scope, _: Gettext, names: bool, folder: Path) -> list[Path]:
        """Write the scope's reports as CSV and XLSX files in `folder`, streamed; their paths."""
        from bot.figures.export import write_csv, write_xlsx

        now = self._clock()
        period = scope.period
        stem = f"reports-{period.first.isoformat()}-{period.last.isoformat()}"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        paths = [folder / f"{stem}.csv", folder / f"{stem}.xlsx"]
        labels = {status.value: status_label(status, _) for status in Status}
        labels |= {Verdict.FIXED.value: _("fixed"), Verdict.NOT_FIXED.value: _("not fixed")}
        labels |= {m.value: _messenger(m.value) for m in Messenger}
        for path, write in zip(paths, (write_csv, write_xlsx), strict=True):
            rows = self._storage.export(period.start, period.end, scope.categories, now, names)
            try:
                await write(rows, path, self._config.tz, _, names, labels, scope.names)
            except BaseException:
                await asyncio.to_thread(path.unlink, missing_ok=True)  # no half-written file is left behind
                raise
        return paths

    async def _export(self, request: FiguresRequest, _: Gettext) -> Reply:
        if request.user_id not in self._config.admin_ids:
            raise _Refused(_("Only administrators can export reports."))
        scope = await self.scope(request, _, words=("names",))
        names = "names" in request.args.lower().split()
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="priemnaya-export-"))
        paths = await self.export_files(scope, _, names, folder)
        text = fill(
            _("Reports for {period}: CSV and XLSX."), period=period_label(scope.period, self._locales.language_of(_))
        )
        if names:
            text = lines(text, _("The files hold residents' names and messenger ids: keep them as personal data."))
        return Reply(text, files=tuple(Attachment(p.name, path=p) for p in paths))

    async def _stats(self, request: FiguresRequest, _: Gettext) -> Reply:
        scope = await self.scope(request, _)
        return await self.stats_reply(scope, _)

    async def stats_reply(self, scope: Scope, _: Gettext) -> Reply:
        """The figures of a scope as text, with their chart."""
        now = self._clock()
        period = scope.period
        days = await self._storage.daily(period.start, period.end, scope.categories, now, period.utc_offset)
        # The chart is drawn in its thread while storage computes the figures in its own.
        figures, chart = await asyncio.gather(
            self._storage.figures(period.start, period.end, scope.categories, now), self.chart(days, scope, _)
        )
        return Reply(self.text(figures, scope, _), files=(Attachment("figures.png", data=chart, photo=True),))

    def text(self, f: Figures, scope: Scope, _: Gettext) -> Rich:
        """The figures in words, in the reader's language."""
        language = self._locales.language_of(_)
        head = fill(_("📊 Figures for {period}"), period=period_label(scope.period, language))
        if scope.title:
            head = head + f" · {scope.title}"
        parts: list[Rich | str] = [bold(head), fill(_("Received: {count}"), count=f.received)]
        if f.received:
            parts.append(
                fill(_("By status: {list}"), list=_listed({status_label(s, _): n for s, n in _ordered_status(f)}))
            )
            by_category = {scope.names.get(c, "?"): n for c, n in sorted(f.by_category.items(), key=lambda x: -x[1])}
            parts.append(fill(_("By category: {list}"), list=_listed(by_category)))
            parts.append(
                fill(_("By messenger: {list}"), list=_listed({_messenger(m): n for m, n in f.by_messenger.items()}))
            )
        parts += [
            "",
            fill(_("Not taken into work in time: {share}"), share=_share(f.not_taken_in_time, _, language)),
            fill(_("Not answered in time: {share}"), share=_share(f.not_answered_in_time, _, language)),
            "",
            fill(_("Time to take into work: {spread}"), spread=_spread(f.to_take, _)),
            fill(_("Time to the first answer: {spread}"), spread=_spread(f.to_answer, _)),
            fill(_("Time to resolution: {spread}"), spread=_spread(f.to_resolve, _)),
            "",
            fill(
                _("Overdue now: taking {take}, first answer {answer}, resolution {resolve}"),
                take=f.overdue_now.get(Term.TAKE, 0),
                answer=f.overdue_now.get(Term.ANSWER, 0),
                resolve=f.overdue_now.get(Term.RESOLVE, 0),
            ),
            fill(_("Reopened: {share} of the resolved"), share=_share(f.reopened, _, language))
            if f.reopened.of
            else _("Reopened: nothing resolved yet"),
            fill(
                _("Verdicts: fixed {fixed}, not fixed {not_fixed}"),
                fixed=f.verdicts.get(Verdict.FIXED, 0),
                not_fixed=f.verdicts.get(Verdict.NOT_FIXED, 0),
            ),
        ]
        if f.average_rating is not None:
            parts.append(
                fill(
                    _("Average rating: {rating} of 5 ({count} ratings)"),
                    rating=format_decimal(round(f.average_rating, 1), locale=language),
                    count=f.ratings,
                )
            )
        else:
            parts.append(_("Average rating: no ratings yet"))
        return lines(*parts)

    async def chart(self, days: Sequence[DayFigures], scope: Scope, _: Gettext) -> bytes:
        """The period's chart as a PNG, drawn in a worker thread."""
        # Imported on first use: the plotting library is heavy, and most processes never draw.
        from bot.figures.chart import ChartData, ChartLabels, render

        period = scope.period
        buckets = period.buckets()
        per_category: dict[str, list[int]] = {}
        late = {"take": [0.0] * len(buckets), "answer": [0.0] * len(buckets)}
        judged = {"take": [0.0] * len(buckets), "answer": [0.0] * len(buckets)}
        for day in days:
            index = period.bucket_of(_date(day.day))
            if not 0 <= index < len(buckets):
                continue
            name = scope.names.get(day.category_id, "?")
            per_category.setdefault(name, [0] * len(buckets))[index] += day.received
            late["take"][index] += day.late_take
            judged["take"][index] += day.judged_take
            late["answer"][index] += day.late_answer
            judged["answer"][index] += day.judged_answer
        language = self._locales.language_of(_)
        labels = ChartLabels(
            title=fill(_("Reports, {period}"), period=period_label(period, language)).plain,
            reports=_("Reports"),
            shares=_("Late, %"),
            not_taken=_("not taken into work in time"),
            not_answered=_("not answered in time"),
            target=_("target"),
            other=_("other"),
        )
        data = ChartData(
            buckets=buckets,
            weekly=period.weekly,
            per_category=per_category,
            not_taken=[_ratio(late["take"][i], judged["take"][i]) for i in range(len(buckets))],
            not_answered=[_ratio(late["answer"][i], judged["answer"][i]) for i in range(len(buckets))],
            target=TARGET_SHARE,
            labels=labels,
            month_names=month_names(language),
        )
        return await render(data)


def _date(text: str) -> date:
    return date.fromisoformat(text)


def _ratio(late: float, judged: float) -> float | None:
    return late / judged if judged else None


def _ordered_status(f: Figures) -> list[tuple[Status, int]]:
    return [(s, f.by_status[s]) for s in Status if s in f.by_status]


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _messenger(value: str) -> str:
    names = {Messenger.TELEGRAM.value: "Telegram", Messenger.VK.value: "VK"}
    return names.get(value, value)


def _percent(value: float, language: str) -> str:
    return format_decimal(round(value * 100, 1), locale=language) + "%"


def _share(share: Share, _: Gettext, language: str) -> str:
    if share.value is None:
        return _("nothing to judge yet")
    return _("{percent} ({late} of {of})").format(percent=_percent(share.value, language), late=share.late, of=share.of)


def duration(value: timedelta, _: Gettext) -> str:
    """A duration in words: days and hours, hours and minutes, or minutes."""
    minutes = round(value.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("{days} d {hours} h").format(days=days, hours=hours)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    return _("{minutes} min").format(minutes=minutes)


def _spread(spread: Spread, _: Gettext) -> str:
    if spread.median is None or spread.p90 is None:
        return _("none yet")
    return _("median {median}, 90% within {p90} ({count})").format(
        median=duration(spread.median, _), p90=duration(spread.p90, _), count=spread.count
    )


def period_label(period: Period, language: str) -> str:
    """A period's days as people write them: "7 December 2026", "1–7 December 2026"."""
    return days_span(period.first, period.last, language)


def month_names(language: str) -> list[str]:
    """The short names of the months in a language, January first."""
    from babel.dates import get_month_names

    names = get_month_names("abbreviated", context="format", locale=language)
    return [names[m] for m in range(1, 13)]
