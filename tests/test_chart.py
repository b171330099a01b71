"""The /stats chart: a decodable phone-sized PNG whose legends, dates and lines say what the figures say."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from bot.figures.chart import ChartData, ChartLabels, draw, figure, render

RU = ChartLabels(
    title="Обращения 1–7 декабря 2026",
    reports="Обращения",
    shares="С опозданием, %",
    not_taken="не взяты в работу вовремя",
    not_answered="без ответа вовремя",
    target="цель",
    other="прочие",
)
EN = ChartLabels("Reports 1–7 Dec 2026", "Reports", "Late, %", "not taken in time", "not answered in time", "target")
RU_MONTHS = ("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")
WEEK = [date(2026, 12, 1) + timedelta(days=i) for i in range(7)]


def week(labels: ChartLabels = EN, **fields: object) -> ChartData:
    base = ChartData(
        buckets=WEEK,
        weekly=False,
        per_category={"Дороги": [3, 0, 5, 2, 1, 0, 4], "Water": [1, 2, 0, 0, 3, 1, 1]},
        not_taken=[0.0, None, 0.5, None, 0.0, None, 0.25],
        not_answered=[0.1, 0.2, None, None, None, 0.0, 1.0],
        target=0.05,
        labels=labels,
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def panels(fig: Figure) -> tuple[Axes, Axes]:
    counts, shares = fig.axes
    return counts, shares


def category_legend(fig: Figure) -> list[str]:
    legend = panels(fig)[0].get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def shares_legend(fig: Figure) -> list[str]:
    (legend,) = fig.legends
    return [t.get_text() for t in legend.get_texts()]


def x_labels(fig: Figure) -> list[str]:
    return [t.get_text() for t in panels(fig)[1].get_xticklabels()]


def shown(line: Line2D) -> list[float | None]:
    """A line's values in %, None where it has a gap."""
    return [None if math.isnan(v) else float(v) for v in np.asarray(line.get_ydata(), dtype=float)]


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        image.verify()  # raises on a truncated or corrupt file
        return image.size


def test_chart_is_a_portrait_png_sized_for_a_phone() -> None:
    assert png_size(draw(week())) == (1080, 1350)


def test_legends_name_the_categories_largest_first_and_the_shares() -> None:
    fig = figure(week(RU))
    assert category_legend(fig) == ["Дороги", "Water"]  # 15 reports about roads, 8 about water
    assert shares_legend(fig) == ["не взяты в работу вовремя", "без ответа вовремя", "цель"]
    assert fig.get_suptitle() == "Обращения 1–7 декабря 2026"
    assert [panels(fig)[0].get_ylabel(), panels(fig)[1].get_ylabel()] == ["Обращения", "С опозданием, %"]


def test_beyond_eight_categories_the_smallest_are_summed_as_other() -> None:
    # Category k has k+1 reports a day, so the largest are the last ones; "Пусто" has none and is left out.
    per_category = {f"Категория {k}": [k + 1] * 7 for k in range(10)} | {"Пусто": [0] * 7}
    fig = figure(week(RU, per_category=per_category))
    assert category_legend(fig) == [f"Категория {k}" for k in range(9, 1, -1)] + ["прочие"]
    counts = panels(fig)[0]
    assert counts.get_ylim()[1] >= sum(k + 1 for k in range(10))  # every report is stacked, the summed ones too


def test_a_long_category_name_is_cut_in_the_legend() -> None:
    name = "Благоустройство и озеленение дворов и скверов"
    (shown,) = category_legend(figure(week(per_category={name: [1] * 7})))
    assert shown.endswith("…") and name.startswith(shown[:-1]) and len(shown) < len(name)


def test_cyrillic_renders_without_missing_glyphs(recwarn: pytest.WarningsRecorder) -> None:
    png = draw(week(RU, month_names=RU_MONTHS))
    assert png_size(png) == (1080, 1350)
    assert not [w for w in recwarn if "Glyph" in str(w.message)]


def test_days_are_labelled_with_the_given_month_names() -> None:
    assert x_labels(figure(week())) == [f"{d} Dec" for d in range(1, 8)]
    assert x_labels(figure(week(RU, month_names=RU_MONTHS))) == [f"{d} дек" for d in range(1, 8)]


def test_weekly_buckets_are_labelled_by_week_start_with_the_year_where_it_changes() -> None:
    buckets = [date(2025, 10, 6) + timedelta(weeks=i) for i in range(26)]
    data = ChartData(
        buckets=buckets,
        weekly=True,
        per_category={"Roads": [1000 + 50 * i for i in range(26)], "Water": [2000] * 26},
        not_taken=[0.01] * 26,
        not_answered=[None] * 26,
        target=0.05,
        labels=EN,
    )
    fig = figure(data)
    labels = x_labels(fig)
    assert 2 <= len(labels) <= 7  # thinned so that they never overlap
    assert labels[0] == "6 Oct\n2025"
    assert [label for label in labels if "\n" in label] == ["6 Oct\n2025", "26 Jan\n2026"]
    assert labels[1:3] == ["3 Nov", "1 Dec"]  # every fourth Monday
    assert png_size(draw(data)) == (1080, 1350)


def test_thousands_are_written_out_on_the_count_axis() -> None:
    data = week(per_category={"Roads": [4000, 3500, 0, 1200, 800, 4200, 100]})
    fig = figure(data)
    fig.canvas.draw()  # tick labels get their text when drawn
    counts = panels(fig)[0]
    labels = [t.get_text() for t in counts.get_yticklabels() if t.get_text()]
    assert labels and all(label.isdigit() for label in labels), labels
    assert counts.yaxis.get_offset_text().get_text() == ""  # no "1e3" above the axis
    assert counts.get_ylim()[1] >= 4200


def test_unjudged_buckets_are_gaps_in_the_share_lines() -> None:
    not_taken_line, not_answered_line, target_line = panels(figure(week()))[1].get_lines()
    assert shown(not_taken_line) == [0.0, None, 50.0, None, 0.0, None, 25.0]
    assert shown(not_answered_line) == [10.0, 20.0, None, None, None, 0.0, 100.0]
    assert shown(target_line) == [5.0, 5.0]
    assert target_line.get_linestyle() == "--"


def test_no_reports_still_draw_an_empty_chart() -> None:
    empty = ChartData(buckets=[], weekly=False, per_category={}, not_taken=[], not_answered=[], target=0.05, labels=EN)
    fig = figure(empty)
    assert category_legend(fig) == []
    assert shares_legend(fig) == ["not taken in time", "not answered in time", "target"]
    assert png_size(draw(empty)) == (1080, 1350)
    quiet = week(per_category={"Roads": [0] * 7}, not_taken=[None] * 7, not_answered=[None] * 7)
    assert png_size(draw(quiet)) == (1080, 1350)


def test_series_of_another_length_than_the_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        figure(week(per_category={"Roads": [1, 2]}))
    with pytest.raises(ValueError, match="month_names"):
        figure(week(month_names=("Jan",)))


async def test_render_draws_from_the_event_loop() -> None:
    png, _ = await asyncio.gather(render(week(RU)), asyncio.sleep(0))
    assert png_size(png) == (1080, 1350)


def test_two_charts_drawn_at_once_in_threads_are_each_whole() -> None:
    russian, english = week(RU, month_names=RU_MONTHS), week(per_category={"Roads": [7] * 7})
    alone = [draw(russian), draw(english)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(2):
            together = list(pool.map(draw, [russian, english]))
            assert [png_size(png) for png in together] == [(1080, 1350)] * 2
            assert together == alone  # neither chart picked up anything of the other
