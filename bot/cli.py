"""Figures from the command line, for scripts and cron: `stats`, `problems`, `export` and `demo-data`.

Each opens the database under DATA_DIR (no messenger is contacted) and answers as `/stats`, `/problems` and
`/export` answer an administrator, in STAFF_LANGUAGE.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import core_config
from bot.core.models import ChatRef, Messenger
from bot.core.periods import BadPeriod, parse_period
from bot.core.routing import StaffRouting
from bot.core.stats import Statistics
from bot.settings import Settings
from bot.text.i18n import Locales
from bot.text.rich import Rich
from storage.sqlite import SqliteStorage

PERIODS = "today, week (the default), month, 7d, 30d or YYYY-MM-DD..YYYY-MM-DD"


def terminal(text: Rich) -> str:
    """Rich text for a terminal: links as their label and address."""
    return "".join(f"{s.text} {s.url}" if s.url else s.text for s in text.spans)


def positive(text: str) -> int:
    """A whole number of at least 1 (argparse's type)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The figures subcommands and their arguments."""
    main = argparse.ArgumentParser(prog="python -m bot", description="Priemnaya: figures from the command line.")
    sub = main.add_subparsers(dest="command", required=True)
    stats = sub.add_parser("stats", help="print a period's figures")
    stats.add_argument("period", nargs="?", default="", help=PERIODS)
    stats.add_argument("category", nargs="?", type=int, help="a category's number: its figures only")
    problems = sub.add_parser("problems", help="print a period's key problems")
    problems.add_argument("period", nargs="?", default="", help=PERIODS)
    export = sub.add_parser("export", help="write a period's reports as CSV and XLSX")
    export.add_argument("period", nargs="?", default="", help=PERIODS)
    export.add_argument("names", nargs="?", choices=["names"], help="include residents' names and messenger ids")
    export.add_argument("--out", type=Path, default=Path("."), help="the folder to write to (default: here)")
    demo = sub.add_parser("demo-data", help="fill an empty database with realistic reports and their history")
    demo.add_argument("--reports", type=positive, default=5000, help="how many reports (default 5000)")
    demo.add_argument("--days", type=positive, default=90, help="over how many days up to now (default 90)")
    demo.add_argument("--seed", type=int, default=1, help="the random seed (the same seed, the same data)")
    return main


async def run(settings: Settings, argv: list[str]) -> int:
    """Run one figures subcommand; 0 when done, 2 for bad arguments (one line on stderr)."""
    args = parser().parse_args(argv)
    config = core_config(settings)
    if args.command == "demo-data":
        from bot.figures.demo_fill import fill

        start = datetime.now(UTC) - timedelta(days=args.days)
        count = await fill(settings.database_path, args.reports, args.seed, start, args.days, config.tz)
        print(f"{count} reports with their history written to {settings.database_path}")
        return 0
    if not await asyncio.to_thread(settings.database_path.exists):
        print(f"No database at {settings.database_path}: check DATA_DIR", file=sys.stderr)
        return 2
    storage = await SqliteStorage.open(
        settings.database_path,
        settings.default_answer_hours,
        default_take_hours=settings.default_take_hours,
        default_resolve_days=settings.default_resolve_days,
    )
    try:
        locales = Locales()
        _ = locales.get(settings.staff_language)
        now = datetime.now(UTC)
        try:
            period = parse_period(args.period, config.tz, now)
        except BadPeriod:
            print(f"Unknown period {args.period!r}: use {PERIODS}", file=sys.stderr)
            return 2
        routing = StaffRouting(storage, ChatRef(Messenger.TELEGRAM, settings.staff_chat_id or 0))
        stats = Statistics(storage, config, routing, locales, lambda: now)
        category = getattr(args, "category", None)
        scope = await stats.scope_of(period, [category] if category is not None else None, _)
        if category is not None and category not in scope.names:
            print(f"There is no category {category}: see /categories", file=sys.stderr)
            return 2
        if args.command == "stats":
            figures = await storage.figures(period.start, period.end, scope.categories, now)
            print(stats.text(figures, scope, _).plain)
        elif args.command == "problems":
            print(terminal(await stats.problems_text(scope, _)))
        else:
            for path in await stats.export_files(scope, _, bool(args.names), args.out):
                print(path)
        return 0
    finally:
        await storage.close()
