"""Run the emulator standalone: ``python -m tests.tg_emulator --host 127.0.0.1 --port 8081``.

The first stdout line is the base URL, so a parent process can read it (``--port 0`` picks a
free port).  Stop with Ctrl+C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys

from .limits import RateLimitConfig
from .server import TelegramEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.tg_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--print-url", action="store_true",
                        help="print only the URL on stdout (no banner), for parent processes")
    parser.add_argument("--rate-limits", action="store_true", help="enable Telegram-like flood limits")
    parser.add_argument("--rate-factor", type=float, default=1.0, help="multiply every flood limit")
    parser.add_argument("--lenient-html", action="store_true",
                        help="accept bare '>' and '&' like tdlib instead of rejecting them")
    parser.add_argument("--conflict-mode", choices=["reject_new", "terminate_old"], default="reject_new")
    parser.add_argument("--bot-name", default="Emulator Bot", help="first_name returned by getMe")
    parser.add_argument("--bot-username", default=None, help="username returned by getMe")
    parser.add_argument("--no-webhook-push", action="store_true",
                        help="only record setWebhook, never POST updates to the bot (for drivers that feed the "
                             "webhook themselves and forward its answers to /_ctl/webhook_answer)")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


# The emulator keeps every message, update and file it saw, so Python's full collections scan ever more objects:
# in a one-minute benchmark they grew to pauses of 0.4-0.9 s, which the bot's measured latency then included.
# Once a second what survived is moved out of the collector's sight (a cycle among it leaks; an emulator can
# afford that, Telegram's servers have no such pauses).
FREEZE_EVERY = 1.0


async def _keep_collections_short() -> None:
    while True:
        await asyncio.sleep(FREEZE_EVERY)
        gc.freeze()


async def serve(args: argparse.Namespace) -> None:
    """Start the emulator, announce the URL, and run until SIGINT/SIGTERM."""
    emulator = TelegramEmulator(
        args.host, args.port,
        bot_first_name=args.bot_name, bot_username=args.bot_username,
        strict_html=not args.lenient_html, conflict_mode=args.conflict_mode,
        rate_limits=RateLimitConfig(enabled=args.rate_limits, factor=args.rate_factor),
        push_webhooks=not args.no_webhook_push,
    )
    await emulator.start()
    # The URL is always the first stdout line; --print-url only suppresses the human banner.
    print(emulator.url, flush=True)
    if not args.print_url:
        print(f"Telegram Bot API emulator: point the bot at {emulator.url} "
              f"(control API: {emulator.url}/_ctl/). Ctrl+C to stop.", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not available on Windows
            loop.add_signal_handler(sig, stop.set)
    freezer = asyncio.create_task(_keep_collections_short())
    try:
        await stop.wait()
    finally:
        freezer.cancel()
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point for ``python -m tests.tg_emulator``."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
