"""`python -m bot`: run Priemnaya with settings from the environment or `.env`."""

from __future__ import annotations

import asyncio
import signal
import sys

from pydantic import ValidationError


def main() -> int:
    """Validate settings, then run; a bad setting is one clear line, not a traceback."""
    # A stop asked for while still starting (imports take seconds) is a clean exit; the loop's handlers take over later.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from bot.logs import configure_logging
    from bot.settings import Settings, describe_error

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"Configuration error: {describe_error(exc)}", file=sys.stderr)
        print("See .env.example and README.md for every setting.", file=sys.stderr)
        return 2
    # Library levels and tracebacks without exception messages: residents' texts never reach the log.
    configure_logging(settings.log_level)

    from bot.app import install_signal_handlers, run
    from bot.delivery.local import AnotherWorker
    from handlers.telegram.client import TokenRejected

    async def main_async() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await run(settings, stop)

    try:
        asyncio.run(main_async())
    except TokenRejected:
        print("Configuration error: TELEGRAM_TOKEN was rejected by the Telegram API.", file=sys.stderr)
        return 2
    except AnotherWorker:
        print(
            "Configuration error: another process already delivers from this database (BOT_ROLE all or worker);"
            " without REDIS_URL one process per DATA_DIR delivers, the others run with BOT_ROLE=intake.",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
