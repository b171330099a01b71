"""Intake: resident updates per second one bot process handles in webhook mode, limits off.

`python -m benchmarks.intake [--residents 2000] [--paced 1000] [--rate 500] [--warmup 200] [--concurrency 40]
[--redis] [--split]` (see README.md).

The emulator runs in its own process with its flood limits off; the bot runs in webhook mode (WEBHOOK_URL set, so
it serves its webhook handler, answering each POST only after the update is handled) with every send budget
0. Each resident goes through the whole dialog: /new -> category press (roads) -> description -> typed address ->
a photo (the bot fetches it with getFile from the emulator) -> the "Send" press. The updates are the emulator's
own (its users, messages, photos and callback queries, created beforehand, not timed); the benchmark POSTs them
to the bot's webhook like Telegram does, with the secret header, each resident's updates one after another (the
next after the bot answered the previous). A Bot API call the bot puts in its webhook answer is handed to the
emulator, which makes it as Telegram would, before the resident's next update.

Phases: a warm-up (--warmup residents, drained, excluded); the saturated phase (--residents, at most --concurrency
connections, the next resident as soon as one finishes: the throughput); the paced phase (--paced residents, a
new one every 6/--rate seconds, so --rate updates/s are offered whether or not the bot keeps up: the latency
from a resident's "Send" to the card's post request at that rate).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import re
import secrets
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp

from benchmarks.common import (
    REDIS_URL,
    SENDS,
    STAFF_CHAT,
    BotProcess,
    Control,
    Emulator,
    bot_env,
    count_log_problems,
    cpu_seconds,
    drop_redis_namespace_later,
    dumps,
    free_port,
    log,
    make_photo,
    percentile,
    print_summary,
    run_benchmark,
    tail,
    temp_dir,
)

CASE = re.compile(r"case (\d+)")
FIRST_USER_ID = 7_000_000
UPDATES_PER_RESIDENT = 6
WEBHOOK_PATH = "/telegram"
T = TypeVar("T")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=2000, help="residents of the saturating phase (default 2000)")
    parser.add_argument("--paced", type=int, default=1000, help="residents of the paced phase (default 1000)")
    parser.add_argument("--rate", type=float, default=500.0, help="updates/s offered in the paced phase (default 500)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up residents, not measured (default 200)")
    parser.add_argument("--concurrency", type=int, default=40, help="webhook connections (default 40, as Telegram)")
    parser.add_argument("--redis", action="store_true", help="REDIS_URL with a fresh namespace (deleted after)")
    parser.add_argument(
        "--split", action="store_true", help="the bot as two processes: BOT_ROLE=intake and BOT_ROLE=worker"
    )
    parser.add_argument("--photo-kb", type=int, default=100, help="size of each resident's photo (default 100 KB)")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (default INFO, as in production)")
    args = parser.parse_args()
    if args.residents < 1 or args.warmup < 0 or args.concurrency < 1 or args.paced < 0 or args.rate <= 0:
        parser.error("--residents >= 1, --warmup >= 0, --concurrency >= 1, --paced >= 0, --rate > 0")
    return args


async def bounded(coros: Iterable[Awaitable[T]], limit: int) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(c: Awaitable[T]) -> T:
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


@dataclass
class Resident:
    uid: int
    updates: list[bytes]  # the whole dialog, the "Send" press last
    send_posted: float = 0.0  # time.time() when the "Send" update was POSTed


async def prepare(ctl: Control, i: int, photo_kb: int) -> Resident:
    """One resident's dialog as the emulator's updates (users, messages, photo and presses live in the emulator)."""
    uid = FIRST_USER_ID + i
    user = {"id": uid, "first_name": "Resident", "last_name": str(i), "language_code": "en"}
    new = await ctl.private_message(user, text="/new")
    # The message the resident presses buttons under: a bot message in the chat, as the bot's question would be.
    question = await ctl.bot_api(
        "sendMessage",
        {
            "chat_id": uid,
            "text": "Choose the category of the problem:",
            "reply_markup": {"inline_keyboard": [[{"text": "Roads", "callback_data": "r.cat.1"}]]},
        },
    )
    category = await ctl.callback_query(user, uid, question["message_id"], "r.cat.1")
    description = await ctl.private_message(user, text=f"The streetlight at the bus stop is dark at night, case {uid}")
    address = await ctl.private_message(user, text=f"Mira avenue {i + 1}, by the pharmacy")
    photo = await ctl.private_message(user, photo_base64=base64.b64encode(make_photo(uid, photo_kb)).decode())
    send = await ctl.callback_query(user, uid, question["message_id"], "r.agree")
    updates = [
        {"update_id": new["update_id"], "message": new["message"]},
        {"update_id": category["update_id"], "callback_query": category["callback_query"]},
        {"update_id": description["update_id"], "message": description["message"]},
        {"update_id": address["update_id"], "message": address["message"]},
        {"update_id": photo["update_id"], "message": photo["message"]},
        {"update_id": send["update_id"], "callback_query": send["callback_query"]},
    ]
    return Resident(uid, [dumps(u) for u in updates])


@dataclass
class Phase:
    name: str
    residents: list[Resident]
    started: float = 0.0  # time.time() of the first POST
    answered: float = 0.0  # time.time() of the last webhook answer
    latencies: list[float] = field(default_factory=list)  # webhook answer times, s
    statuses: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # "method:status" of calls made from webhook answers
    cards: dict[int, tuple[float, str]] = field(default_factory=dict)  # uid -> (emulator ts, method)
    duplicate_cards: int = 0
    last_card: float = 0.0

    @property
    def updates(self) -> int:
        return sum(len(r.updates) for r in self.residents)


async def post_dialog(
    http: aiohttp.ClientSession, ctl: Control, phase: Phase, resident: Resident, url: str, secret: str
) -> None:
    """POST one resident's updates one after another, each after the bot answered (and its answer was made)."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    for k, body in enumerate(resident.updates):
        started = time.perf_counter()
        if k == len(resident.updates) - 1:
            resident.send_posted = time.time()
        try:
            async with http.post(url, data=body, headers=headers) as resp:
                answer = await resp.read()
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, answer = 0, b""
            phase.statuses[type(exc).__name__] += 1
        else:
            phase.statuses[str(status)] += 1
        phase.latencies.append(time.perf_counter() - started)
        if status == 200 and answer.strip() not in (b"", b"{}"):
            # Telegram makes the call a webhook answer carries before the resident reads the reply.
            result = await ctl.execute_webhook_answer(answer, content_type)
            phase.answers[f"{result.get('method')}:{result.get('status')}"] += 1


def http_session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, family=socket.AF_INET), timeout=aiohttp.ClientTimeout(total=60)
    )


async def progress(phase: Phase, every: float = 5.0) -> None:
    """Log the answer rate every few seconds on stderr (a rate that sags over the run shows up here)."""
    seen = 0
    while True:
        await asyncio.sleep(every)
        done = len(phase.latencies)
        log(f"{phase.name}: {(done - seen) / every:.0f} upd/s over the last {every:.0f}s ({done} answered)")
        seen = done


async def drive(phase: Phase, ctl: Control, url: str, secret: str, concurrency: int) -> None:
    """Saturate: `concurrency` residents (connections) at a time, the next resident as soon as one is done."""
    todo = iter(phase.residents)
    async with http_session(concurrency) as http:

        async def worker() -> None:
            for resident in todo:
                await post_dialog(http, ctl, phase, resident, url, secret)

        phase.started = time.time()
        monitor = asyncio.create_task(progress(phase))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        monitor.cancel()
        phase.answered = time.time()


async def drive_paced(phase: Phase, ctl: Control, url: str, secret: str, rate: float) -> None:
    """Offer `rate` updates/s: a new resident every 6/rate s, whether or not the bot kept up with the earlier ones."""
    interval = UPDATES_PER_RESIDENT / rate
    async with http_session(0) as http:
        phase.started = time.time()
        t0 = time.monotonic()

        async def resident_at(i: int, resident: Resident) -> None:
            await asyncio.sleep(max(0.0, t0 + i * interval - time.monotonic()))
            await post_dialog(http, ctl, phase, resident, url, secret)

        await asyncio.gather(*(resident_at(i, r) for i, r in enumerate(phase.residents)))
        phase.answered = time.time()


async def collect_cards(ctl: Control, phase: Phase, since: int, within: float) -> int:
    """Wait until every resident of the phase has a card in the staff chat; returns the last seq read."""
    wanted = {r.uid for r in phase.residents}
    seen = since
    deadline = time.monotonic() + within
    while True:
        for item in (await ctl.sent(chat_id=STAFF_CHAT, since=seen, method=SENDS))["items"]:
            seen = max(seen, item["seq"])
            match = CASE.search(item.get("plain_text") or "")
            if match and int(match.group(1)) in wanted:
                uid = int(match.group(1))
                if uid in phase.cards:
                    phase.duplicate_cards += 1
                else:
                    phase.cards[uid] = (item["ts"], item["method"])
        if len(phase.cards) >= len(wanted) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    if phase.cards:
        phase.last_card = max(ts for ts, _ in phase.cards.values())
    return seen


def card_latency(phase: Phase) -> tuple[float, float]:
    """p50 and p99 seconds from a resident's "Send" POST to their card's post request at the emulator."""
    latency = [phase.cards[r.uid][0] - r.send_posted for r in phase.residents if r.uid in phase.cards]
    return percentile(latency, 50), percentile(latency, 99)


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f}ms" if seconds >= 0.1 else f"{seconds * 1000:.1f}ms"


async def wait_port(port: int, bot: BotProcess, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not bot.alive():
            raise RuntimeError(f"the bot exited: {tail(bot.log_path)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the webhook port {port} did not open: {tail(bot.log_path)}")


async def main(args: argparse.Namespace) -> int:
    work = temp_dir("bench-intake-")
    data_dir = work / "data"
    namespace = None
    if args.redis:
        namespace = f"bench-intake-{uuid.uuid4().hex[:10]}"
        drop_redis_namespace_later(REDIS_URL, namespace)
    storage = "redis" if namespace else "sqlite"
    log(
        f"intake: {args.residents} residents (+{args.warmup} warm-up), concurrency {args.concurrency}, {storage},"
        f" {'intake and worker processes' if args.split else 'one process'}"
    )

    emulator = Emulator(work)
    url = emulator.start()
    ctl = Control(url)
    try:
        await ctl.create_chat(STAFF_CHAT, "City staff")
        port = free_port()
        secret = secrets.token_urlsafe(24).replace("-", "_")
        env = bot_env(
            url,
            data_dir,
            group_per_minute=0,
            private_per_second=0,
            global_per_second=0,
            log_level=args.log_level,
            redis_namespace=namespace,
            extra={
                "WEBHOOK_URL": f"http://127.0.0.1:{port}",
                "WEBHOOK_HOST": "127.0.0.1",
                "WEBHOOK_PORT": str(port),
                "WEBHOOK_PATH": WEBHOOK_PATH,
                "WEBHOOK_SECRET": secret,
            },
        )
        bot = BotProcess({**env, "BOT_ROLE": "intake" if args.split else "all"}, work)
        bot.start()
        bots = [bot]
        if args.split:
            # The delivery worker: same settings and data, its own process (and log).
            bots.append(BotProcess({**env, "BOT_ROLE": "worker"}, work / "worker"))
            bots[1].start()
        await ctl.wait_for_call(["setWebhook"], bot)
        await wait_port(port, bot)
        webhook = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"

        started = time.monotonic()
        total = args.warmup + args.residents + args.paced
        everyone = await bounded((prepare(ctl, i, args.photo_kb) for i in range(total)), 16)
        log(f"{len(everyone)} dialogs ({6 * len(everyone)} updates) prepared in {time.monotonic() - started:.1f}s")

        warm = Phase("warm-up", everyone[: args.warmup])
        measured = Phase("saturated", everyone[args.warmup : args.warmup + args.residents])
        paced = Phase("paced", everyone[args.warmup + args.residents :])
        mark = await ctl.last_seq()
        if warm.residents:
            await drive(warm, ctl, webhook, secret, args.concurrency)
            mark = await collect_cards(ctl, warm, mark, 120)
            log(
                f"warm-up: {warm.updates} updates in {warm.answered - warm.started:.1f}s,"
                f" {len(warm.cards)}/{len(warm.residents)} cards"
            )
        assert emulator.proc is not None
        cpu_before = (sum(cpu_seconds(b.pid) for b in bots), cpu_seconds(emulator.proc.pid), cpu_seconds())
        await drive(measured, ctl, webhook, secret, args.concurrency)
        cpu_after = (sum(cpu_seconds(b.pid) for b in bots), cpu_seconds(emulator.proc.pid), cpu_seconds())
        window = measured.answered - measured.started
        cpu = [f"{100 * (a - b) / window:.0f}%" for a, b in zip(cpu_after, cpu_before, strict=True)]
        log(f"saturated: {measured.updates} updates answered in {window:.1f}s; CPU bot/emulator/driver {cpu}")
        mark = await collect_cards(ctl, measured, mark, 120)
        if paced.residents:
            cpu_before = (sum(cpu_seconds(b.pid) for b in bots), cpu_seconds(emulator.proc.pid), cpu_seconds())
            await drive_paced(paced, ctl, webhook, secret, args.rate)
            paced_window = paced.answered - paced.started
            cpu_after = (sum(cpu_seconds(b.pid) for b in bots), cpu_seconds(emulator.proc.pid), cpu_seconds())
            paced_cpu = [f"{100 * (a - b) / paced_window:.0f}%" for a, b in zip(cpu_after, cpu_before, strict=True)]
            log(f"paced: {paced.updates} updates answered in {paced_window:.1f}s; CPU bot/emulator/driver {paced_cpu}")
            await collect_cards(ctl, paced, mark, 120)
        rss = [b.peak_rss_kb() or 0 for b in bots]
        alive = all(b.alive() for b in bots)
        for b in bots:
            b.stop()
    finally:
        await ctl.close()

    problems = [count_log_problems(b.log_path) for b in bots]
    errors, warnings = sum(e for e, _ in problems), sum(w for _, w in problems)
    rate = measured.updates / window
    s50, s99 = card_latency(measured)
    w50, w99 = percentile(measured.latencies, 50), percentile(measured.latencies, 99)
    p50, p99 = card_latency(paced)
    a50, a99 = percentile(paced.latencies, 50), percentile(paced.latencies, 99)
    paced_rate = paced.updates / (paced.answered - paced.started) if paced.residents else math.nan
    missing = sum(len(p.residents) - len(p.cards) for p in (measured, paced))
    duplicates = sum(p.duplicate_cards for p in (warm, measured, paced))
    first_card = min((ts for ts, _ in measured.cards.values()), default=math.nan)
    card_rate = (len(measured.cards) - 1) / (measured.last_card - first_card) if len(measured.cards) > 1 else math.nan
    photo_cards = sum(1 for p in (measured, paced) for _, method in p.cards.values() if method == "sendPhoto")
    bad = {k: v for k, v in (warm.statuses + measured.statuses + paced.statuses).items() if k != "200"}
    answers = warm.answers + measured.answers + paced.answers
    failed_answers = sum(n for k, n in answers.items() if not k.endswith(":200"))
    latency_ok = paced.residents and p99 < 0.1
    goals = (
        f"goal >=500 upd/s {'ok' if rate >= 500 else 'MISSED'},"
        f" p99 <100ms at {args.rate:.0f} upd/s {'ok' if latency_ok else 'MISSED'}"
    )
    processes = "intake+worker" if args.split else "one"
    line = (
        f"intake: storage={storage} processes={processes} webhook throughput={rate:.0f} upd/s saturated"
        f" ({measured.updates} upd from"
        f" {len(measured.residents)} residents answered in {window:.1f}s, {args.concurrency} connections;"
        f" send->card p50={ms(s50)} p99={ms(s99)}, webhook answer p50={ms(w50)} p99={ms(w99)})"
        f" paced at {args.rate:.0f} upd/s offered ({paced_rate:.0f} achieved, {paced.updates} upd):"
        f" send->card p50={ms(p50)} p99={ms(p99)}, webhook answer p50={ms(a50)} p99={ms(a99)} [{goals}]"
        f" warm-up {warm.updates} upd excluded;"
        f" cards posted at {card_rate:.0f}/s into the one staff chat while saturated (photo {photo_cards},"
        f" missing {missing}, duplicates {duplicates}) non-200={sum(bad.values())}{bad if bad else ''}"
        f" calls in webhook answers={dict(answers)}"
        f" cpu while saturated: bot ({processes}) {cpu[0]} emulator {cpu[1]} driver {cpu[2]} (of one core each)"
        f" bot_peak_rss={'+'.join(f'{r / 1024:.0f}' for r in rss)}MB bot_log errors={errors} warnings={warnings}"
        f" bot_alive_at_end={alive} photo={args.photo_kb}KB log_level={args.log_level}"
    )
    print_summary(line)
    return 0 if missing == 0 and not bad and not failed_answers else 1


if __name__ == "__main__":
    arguments = parse_args()
    raise SystemExit(run_benchmark(lambda: main(arguments), 900, "intake"))
