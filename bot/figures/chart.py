"""The chart of `/stats`: reports per day or week by category above, late shares against the target below.

Drawn with matplotlib's object API on the Agg canvas, never pyplot, so that charts may be drawn in worker threads
at once. Every text is given DejaVu Sans (shipped with matplotlib) explicitly, so Cyrillic renders whatever the
machine's matplotlibrc says, without touching the global rcParams.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

WIDTH_IN, HEIGHT_IN, DPI = 7.2, 9.0, 150  # 1080 x 1350 px: portrait, fits a phone screen
MAX_CATEGORIES = 8  # named stacks; the rest go into one "other" stack
MAX_TICKS = 7  # date labels on the x axis, so they never overlap
MAX_NAME = 30  # characters of a category name in the legend before it is cut
FONT = "DejaVu Sans"
ENGLISH_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# matplotlib's qualitative tab10 without its grey, which is kept for "other".
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")
OTHER_COLOUR = "#9e9e9e"
NOT_TAKEN_COLOUR, NOT_ANSWERED_COLOUR, TARGET_COLOUR = "#d62728", "#1f77b4", "#555555"


@dataclass(frozen=True, slots=True)
class ChartLabels:
    """The chart's texts, already translated by the caller."""

    title: str  # e.g. "Reports 1–7 Dec 2026"
    reports: str  # y axis of the upper panel, e.g. "Reports"
    shares: str  # y axis of the lower panel, e.g. "Late, %"
    not_taken: str  # legend: "not taken in time"
    not_answered: str  # legend: "not answered in time"
    target: str  # legend: "target"
    other: str = "other"  # legend: the categories beyond the first eight, summed


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows: one value per bucket (a day, or a week for long periods) in every sequence."""

    buckets: Sequence[date]  # first day of each bucket
    weekly: bool  # buckets are weeks: an x label "1 Dec" then reads as the week starting on 1 Dec
    per_category: Mapping[str, Sequence[int]]  # category name -> reports received per bucket
    not_taken: Sequence[float | None]  # share 0..1 not taken into work in time (None: nothing judged)
    not_answered: Sequence[float | None]  # share 0..1 not answered in time (None: nothing judged)
    target: float  # the target share, drawn as a dashed line (e.g. 0.05)
    labels: ChartLabels
    month_names: Sequence[str] = ()  # 12 short month names in the user's language; English when empty


def _font(size: float, weight: str = "normal") -> FontProperties:
    return FontProperties(family=FONT, size=size, weight=weight)


def _check(data: ChartData) -> None:
    n = len(data.buckets)
    lengths = {name: len(v) for name, v in data.per_category.items()}
    lengths |= {"not_taken": len(data.not_taken), "not_answered": len(data.not_answered)}
    wrong = sorted(name for name, length in lengths.items() if length != n)
    if wrong:
        raise ValueError(f"{len(wrong)} series differ in length from the {n} buckets")
    if data.month_names and len(data.month_names) != 12:
        raise ValueError(f"month_names has {len(data.month_names)} names, not 12")


def _stacks(data: ChartData) -> list[tuple[str, list[int], str]]:
    """The stacks bottom-up, largest category first: (label, counts, colour); empty categories left out."""
    totals = sorted(
        ((sum(counts), name) for name, counts in data.per_category.items() if sum(counts) > 0),
        key=lambda t: (-t[0], t[1]),
    )
    named = [name for _, name in totals[:MAX_CATEGORIES]]
    stacks = [(_short(name), list(data.per_category[name]), COLOURS[i]) for i, name in enumerate(named)]
    rest = [name for _, name in totals[MAX_CATEGORIES:]]
    if rest:
        summed = [sum(data.per_category[name][i] for name in rest) for i in range(len(data.buckets))]
        stacks.append((data.labels.other, summed, OTHER_COLOUR))
    return stacks


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1].rstrip() + "…"


def _ticks(buckets: Sequence[date], months: Sequence[str]) -> tuple[list[int], list[str]]:
    """At most MAX_TICKS evenly spaced positions with "1 Dec" labels; the year is added where it changes."""
    if not buckets:
        return [], []
    step = math.ceil(len(buckets) / MAX_TICKS)
    positions = list(range(0, len(buckets), step))
    many_years = buckets[0].year != buckets[-1].year
    labels, year = [], None
    for p in positions:
        day = buckets[p]
        label = f"{day.day} {months[day.month - 1]}"
        if many_years and day.year != year:
            label += f"\n{day.year}"
            year = day.year
        labels.append(label)
    return positions, labels


def _percent(shares: Sequence[float | None]) -> list[float]:
    return [math.nan if s is None else 100 * s for s in shares]


def _draw_counts(ax: Axes, data: ChartData) -> None:
    bottom = [0] * len(data.buckets)
    for label, counts, colour in _stacks(data):
        # One collection per stack rather than ax.bar's patch per bar: twice as fast to lay out and draw.
        boxes = [
            [(i - 0.4, b), (i + 0.4, b), (i + 0.4, b + c), (i - 0.4, b + c)]
            for i, (b, c) in enumerate(zip(bottom, counts, strict=True))
            if c
        ]
        ax.add_collection(PolyCollection(boxes, facecolors=colour, linewidths=0, label=label), autolim=False)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    top = max(bottom, default=0)
    ax.set_ylim(0, top * 1.05 if top else 1)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10], integer=True))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))  # no "1e4" offset for thousands
    ax.set_ylabel(data.labels.reports, fontproperties=_font(11))
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    handles, names = ax.get_legend_handles_labels()
    if handles:  # with no reports there is nothing to name, and an empty legend only warns
        short = all(len(name) <= 14 for name in names)
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.02),
            ncols=3 if short else 2,
            frameon=False,
            prop=_font(10),
            handlelength=1.2,
            borderaxespad=0.0,
        )


def _draw_shares(ax: Axes, data: ChartData) -> None:
    x = list(range(len(data.buckets)))
    not_taken, not_answered = _percent(data.not_taken), _percent(data.not_answered)
    # Markers, so that a lone value between two gaps still shows; unclipped and on top, so that a 0 % shows whole.
    for values, colour, label in (
        (not_taken, NOT_TAKEN_COLOUR, data.labels.not_taken),
        (not_answered, NOT_ANSWERED_COLOUR, data.labels.not_answered),
    ):
        ax.plot(x, values, color=colour, label=label, marker="o", markersize=4, linewidth=2, clip_on=False, zorder=3)
    ax.axhline(100 * data.target, color=TARGET_COLOUR, linestyle="--", linewidth=1.5, label=data.labels.target)
    highest = max((v for v in (*not_taken, *not_answered) if not math.isnan(v)), default=0.0)
    ax.set_ylim(0, min(105.0, max(10.0, 2 * 100 * data.target, highest) * 1.12))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))
    ax.set_ylabel(data.labels.shares, fontproperties=_font(11))
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    # Below the dates, placed by the constrained layout, so that two-line labels (with a year) never overlap it.
    handles, names = ax.get_legend_handles_labels()
    columns = 3 if sum(map(len, names)) <= 60 else 1  # long translations get a line each, not cut at the edges
    ax.figure.legend(
        handles, names, loc="outside lower center", ncols=columns, frameon=False, prop=_font(10), handlelength=1.8
    )


def figure(data: ChartData) -> Figure:
    """The chart as a matplotlib Figure on an Agg canvas (not yet rendered); `draw` renders it to PNG."""
    _check(data)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    counts, shares = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.suptitle(data.labels.title, fontproperties=_font(14, "bold"))
    _draw_counts(counts, data)
    _draw_shares(shares, data)
    positions, labels = _ticks(data.buckets, data.month_names or ENGLISH_MONTHS)
    shares.set_xlim(-0.6, max(len(data.buckets), 1) - 0.4)
    shares.set_xticks(positions, labels)  # the axes share x, and subplots already hides the upper panel's labels
    for ax in (counts, shares):
        ax.tick_params(labelfontfamily=FONT, labelsize=9.5)
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def draw(data: ChartData) -> bytes:
    """The chart as PNG bytes, 1080 x 1350 px; synchronous and safe to call from several threads at once."""
    buffer = io.BytesIO()
    figure(data).savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


async def render(data: ChartData) -> bytes:
    """`draw` in a worker thread, so the event loop keeps serving messages meanwhile."""
    return await asyncio.to_thread(draw, data)
