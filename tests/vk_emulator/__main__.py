"""Run the emulator standalone: `python -m tests.vk_emulator --host 127.0.0.1 --port 0 --print-url`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .server import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, DEFAULT_TOKEN, VkEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.vk_emulator", description="VK API emulator for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--group-id", type=int, default=DEFAULT_GROUP_ID)
    parser.add_argument("--group-name", default=DEFAULT_GROUP_NAME)
    parser.add_argument("--token", action="append", help="valid community token (repeatable)")
    parser.add_argument("--public-url", default=None, help="base URL to advertise (LP server, uploads, files)")
    parser.add_argument("--print-url", action="store_true", help="print the base URL as the first stdout line")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start, announce, and run until SIGINT/SIGTERM."""
    tokens = args.token or [DEFAULT_TOKEN]
    emulator = VkEmulator(
        args.host,
        args.port,
        group_id=args.group_id,
        token=tokens[0],
        group_name=args.group_name,
        public_url=args.public_url,
    )
    emulator.state.tokens.update(tokens)
    await emulator.start()
    if args.print_url:
        # The first stdout line is the machine-readable contract for wrappers.
        print(emulator.url, flush=True)
    print(
        f"VK emulator at {emulator.url} (API {emulator.api_url}, group {emulator.group_id}, "
        f"tokens {', '.join(tokens)})",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
