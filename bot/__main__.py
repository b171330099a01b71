"""`python -m bot`: run Priemnaya with settings from the environment or `.env`; `python -m bot check`: health."""

from __future__ import annotations

import asyncio
import signal
import sys

from pydantic import ValidationError

USAGE = "usage: python -m bot [check | stats | problems | export | demo-data] (python -m bot stats --help for more)"
FIGURES = ("stats", "problems", "export", "demo-data")


def main(argv: list[str] | None = None) -> int:
    """Validate settings, then run (or check); a setting that cannot work is one clear line and exit code 2."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] and args[0] in FIGURES:
        return _figures(args)
    if args not in ([], ["check"]):
        print(USAGE, file=sys.stderr)
        return 2
    # A stop asked for while still starting (imports take seconds) is a clean exit; the loop's handlers take over later.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from bot.logs import configure_logging
    from bot.settings import Settings, describe_error

    try:
        settings = Settings()
    except ValidationError as exc:
        return _configuration_error(f"{describe_error(exc)} (see .env.example and README.md for every setting)")
    if args == ["check"]:
        from bot.health import check

        return asyncio.run(check(settings))
    # Library levels and tracebacks without exception messages: residents' texts never reach the log.
    configure_logging(settings.log_level)

    from bot.app import install_signal_handlers, run
    from bot.delivery.local import AnotherWorker
    from bot.settings import ConfigurationError
    from handlers.telegram.client import TokenRejected

    async def main_async() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await run(settings, stop)

    try:
        asyncio.run(main_async())
    except ConfigurationError as exc:
        return _configuration_error(str(exc))
    except TokenRejected:
        return _configuration_error(
            "TELEGRAM_TOKEN was rejected by the Telegram API; put your bot's token from @BotFather"
        )
    except AnotherWorker:
        return _configuration_error(
            "another process already delivers from this database (BOT_ROLE all or worker);"
            " without REDIS_URL one process per DATA_DIR delivers, the others run with BOT_ROLE=intake"
        )
    except OSError as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _figures(args: list[str]) -> int:
    """`python -m bot stats|problems|export|demo-data ...`: figures from the database, no messenger contacted."""
    from bot.settings import OfflineSettings, describe_error

    if any(a in ("-h", "--help") for a in args):
        from bot.cli import parser

        parser().parse_args(args)
    try:
        settings = OfflineSettings()
    except ValidationError as exc:
        return _configuration_error(f"{describe_error(exc)} (see .env.example and README.md for every setting)")
    from bot.cli import run

    try:
        return asyncio.run(run(settings, args))
    except ValueError as exc:
        print(f"Cannot do it: {exc}", file=sys.stderr)
        return 2


def _configuration_error(line: str) -> int:
    print(f"Configuration error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
