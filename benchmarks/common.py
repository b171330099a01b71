"""Shared pieces of the benchmarks: the emulator and the bot as subprocesses, clean-up, machine facts.

Everything runs on loopback. Every process a benchmark starts is registered here and killed (by its own pid) when
the benchmark ends, however it ends; temp dirs and Redis namespaces are removed the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TOKEN = "123456:BENCH-TOKEN"
STAFF_CHAT = -1001000000001
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SENDS = ["sendMessage", "sendPhoto", "sendMediaGroup"]

# Settings the bot reads; the benchmark sets the ones it needs and drops any the caller's shell has.
_BOT_PREFIXES = (
    "TELEGRAM_",
    "STAFF_",
    "ADMIN_",
    "VK_",
    "WEBHOOK_",
    "REDIS_",
    "BOT_ROLE",
    "DATA_DIR",
    "TIMEZONE",
    "DEFAULT_ANSWER_HOURS",
    "ALBUM_WAIT_SECONDS",
    "LOG_LEVEL",
)

_STARTED = time.monotonic()
_processes: list[subprocess.Popen[bytes]] = []
_cleanups: list[Callable[[], None]] = []


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the summary line)."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


REFERENCE_LOOPS = 1_000_000


def cpu_reference() -> float:
    """Milliseconds a fixed pure-Python loop takes on this machine now (best of three; lower is faster).

    The development machine is a virtual one whose speed drifts with its neighbours': this loop took 47 to 74 ms
    within ten seconds. Printed with every summary, it helps tell a slow bot from a slow machine.
    """
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(REFERENCE_LOOPS):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return best * 1000


_reference_at_start = math.nan  # set by run_benchmark before anything starts


def machine_facts() -> str:
    """Cores, Python version, the date, and the reference loop's time at the start and at the end of the run."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reference = f"{_reference_at_start:.0f}/{cpu_reference():.0f}ms"
    return f"cores={os.cpu_count()} python={platform.python_version()} cpu_ref={reference} date={now}"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def make_photo(seed: int, kilobytes: int) -> bytes:
    """A valid PNG of about `kilobytes` KB whose bytes differ per seed (noise does not compress)."""
    rng = random.Random(seed)
    width = 128
    height = max(1, round(kilobytes * 1024 / (width * 3)))
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one when pid is None), in seconds."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def temp_dir(prefix: str) -> Path:
    """A temp dir removed when the benchmark ends (unless BENCH_KEEP=1)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.environ.get("BENCH_KEEP") != "1":
        _cleanups.append(lambda: shutil.rmtree(path, ignore_errors=True))
    else:
        log(f"keeping {path}")
    return path


def _register(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    _processes.append(proc)
    return proc


def _end(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM this one process, SIGKILL it if it does not leave within `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)


def cleanup_all() -> None:
    """End every process we started and run the registered clean-ups (newest first)."""
    for proc in reversed(_processes):
        with contextlib.suppress(Exception):
            _end(proc)
    _processes.clear()
    while _cleanups:
        with contextlib.suppress(Exception):
            _cleanups.pop()()


def drop_redis_namespace_later(url: str, namespace: str) -> None:
    """Delete every key of `namespace` when the benchmark ends."""

    def drop() -> None:
        import redis

        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
            for i in range(0, len(keys), 1000):
                client.delete(*keys[i : i + 1000])
            log(f"deleted {len(keys)} Redis keys of namespace {namespace}")
        finally:
            client.close()

    _cleanups.append(drop)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def count_log_problems(path: Path) -> tuple[int, int]:
    """(ERROR lines, WARNING lines) in a bot log."""
    errors = warnings = 0
    with contextlib.suppress(OSError), open(path, errors="replace") as fh:
        for line in fh:
            if " ERROR " in line or line.startswith("Traceback"):
                errors += 1
            elif " WARNING " in line:
                warnings += 1
    return errors, warnings


class Emulator:
    """`python -m tests.tg_emulator` in its own process (so its event loop competes with nobody's)."""

    def __init__(self, workdir: Path) -> None:
        self.log_path = workdir / "emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> str:
        with open(self.log_path, "ab") as err:
            self.proc = _register(
                subprocess.Popen(
                    # The benchmarks drive the bot's webhook themselves: the emulator must not push updates too.
                    [PYTHON, "-m", "tests.tg_emulator", "--port", "0", "--print-url", "--no-webhook-push",
                     "--log-level", "WARNING"],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                )
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"emulator did not start within {timeout}s: {tail(self.log_path)}")
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"emulator printed {self.url!r}: {tail(self.log_path)}")
        return self.url


class BotProcess:
    """`python -m bot` as a subprocess, started in an empty working dir (no stray .env is read)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_BOT_PREFIXES)}
        pythonpath = os.pathsep.join(p for p in (str(ROOT), base.get("PYTHONPATH", "")) if p)
        self.env = {**base, "PYTHONPATH": pythonpath, **env}
        self.cwd = workdir / "bot-cwd"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with open(self.log_path, "ab") as err:
            err.write(f"---- start {self.starts + 1} at {time.time():.3f}\n".encode())
            err.flush()
            command = [PYTHON, "-m", "bot"]
            if profile_dir := os.environ.get("BENCH_PROFILE_DIR"):
                # cProfile writes its stats when the bot exits cleanly (SIGTERM), not after a SIGKILL.
                out = Path(profile_dir) / f"bot-{os.getpid()}-{self.starts + 1}.prof"
                command = [PYTHON, "-m", "cProfile", "-o", str(out), "-m", "bot"]
            self.proc = _register(
                subprocess.Popen(
                    command,
                    cwd=self.cwd,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                )
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL after 20 s)."""
        if self.proc is None:
            return None
        _end(self.proc, grace=20.0)
        return self.proc.returncode

    def peak_rss_kb(self) -> int | None:
        """VmHWM of the running process, in kB."""
        if not self.alive():
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


def bot_env(
    emulator_url: str,
    data_dir: Path,
    *,
    group_per_minute: int,
    private_per_second: int,
    global_per_second: int,
    log_level: str,
    redis_namespace: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The bot's settings as environment variables."""
    env = {
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator_url,
        "STAFF_CHAT_ID": str(STAFF_CHAT),
        "ADMIN_IDS": "900",
        "DATA_DIR": str(data_dir),
        "STAFF_LANGUAGE": "en",
        "OPERATOR_NAME": "City Administration (benchmark)",
        "ALBUM_WAIT_SECONDS": "0.3",
        "LOG_LEVEL": log_level,
        "TELEGRAM_GROUP_PER_MINUTE": str(group_per_minute),
        "TELEGRAM_PRIVATE_PER_SECOND": str(private_per_second),
        "TELEGRAM_GLOBAL_PER_SECOND": str(global_per_second),
        "VK_PER_SECOND": "0",
        "BOT_ROLE": "all",
    }
    if redis_namespace is not None:
        env["REDIS_URL"] = REDIS_URL
        env["REDIS_NAMESPACE"] = redis_namespace
    env.update(extra or {})
    return env


class Control:
    """The emulator's control API and Bot API over one HTTP session (the raw answers, with update ids)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def close(self) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        async with self.http.request(
            method, f"{self.url}/_ctl/{path}", json=body, params=query, timeout=aiohttp.ClientTimeout(total=60)
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"control {method} {path}: {resp.status} {data}")
            return data

    async def bot_api(self, method: str, params: dict[str, Any]) -> Any:
        """Call the Bot API as the bot would (used only to prepare the world)."""
        async with self.http.post(f"{self.url}/bot{TOKEN}/{method}", json=params) as resp:
            data = await resp.json(content_type=None)
            if not data.get("ok"):
                raise RuntimeError(f"{method}: {data}")
            return data["result"]

    async def execute_webhook_answer(self, body: bytes, content_type: str) -> Any:
        """Have the emulator make the Bot API call a webhook answer carries, as Telegram does with it."""
        async with self.http.post(
            f"{self.url}/_ctl/webhook_answer", data=body, headers={"Content-Type": content_type}
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"webhook answer: {resp.status} {data}")
            return data

    async def create_chat(self, chat_id: int, title: str) -> None:
        await self.call("POST", "chats", {"id": chat_id, "type": "supergroup", "title": title})

    async def set_rate_limits(self, enabled: bool, **limits: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "rate_limits", {"enabled": enabled, **limits})
        return result

    async def private_message(self, user: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """{update_id, message} of a message the user writes to the bot."""
        result: dict[str, Any] = await self.call("POST", "messages/private", {"user": user, **fields})
        return result

    async def callback_query(self, user: dict[str, Any], chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        """{callback_query_id, update_id, callback_query} of a button press."""
        body = {"user": user, "chat_id": chat_id, "message_id": message_id, "data": data}
        result: dict[str, Any] = await self.call("POST", "callback_query", body)
        return result

    async def sent(
        self, chat_id: int | None = None, since: int = 0, method: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """{items, last_seq} of the outgoing log."""
        methods = ",".join(method) if method else None
        result: dict[str, Any] = await self.call(
            "GET", "sent", params={"chat_id": chat_id, "since": since, "method": methods}
        )
        return result

    async def last_seq(self) -> int:
        return int((await self.sent(since=1 << 62))["last_seq"])

    async def calls(self, method: str | None = None, since: int = 0) -> dict[str, Any]:
        """{items, counters} of the Bot API call log."""
        result: dict[str, Any] = await self.call("GET", "calls", params={"method": method, "since": since})
        return result

    async def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.calls(since=1 << 62))["counters"]
        return result

    async def wait_for_call(self, methods: Iterable[str], bot: BotProcess, within: float = 60.0) -> None:
        """Until the bot has called one of `methods` (the call log shows a call when it is answered)."""
        wanted = set(methods)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not bot.alive():
                raise RuntimeError(f"the bot exited: {tail(bot.log_path)}")
            counters = await self.counters()
            if wanted & set(counters["by_method"]):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the bot did not call {sorted(wanted)} within {within}s: {tail(bot.log_path)}")


_summary_printed = False


def print_summary(line: str) -> None:
    """The one summary line on stdout (machine facts included)."""
    global _summary_printed
    _summary_printed = True
    print(f"{line} | {machine_facts()}", flush=True)


def run_benchmark(main: Callable[[], Awaitable[int]], hard_timeout: float, name: str) -> int:
    """Run `main` with SIGINT/SIGTERM and a hard timeout cancelling it; always clean up afterwards.

    If `main` fails before printing its summary, a FAILED summary line with the reason is printed instead.
    """

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await asyncio.wait_for(main(), hard_timeout)

    global _reference_at_start
    _reference_at_start = cpu_reference()
    reason = ""
    code = 1
    try:
        code = asyncio.run(guarded())
    except (asyncio.CancelledError, KeyboardInterrupt):
        reason, code = "interrupted", 130
    except TimeoutError:
        reason, code = f"hard timeout of {hard_timeout:.0f}s reached", 124
    except Exception as exc:
        import traceback

        traceback.print_exc(file=sys.stderr)
        reason, code = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300], 1
    finally:
        cleanup_all()
    if not _summary_printed:
        log(reason or "no summary")
        print_summary(f"{name}: FAILED ({reason or 'no summary'})")
    return code


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
