"""Surge: N residents press "Send" at once; how close does the bot get to what Telegram's limits allow?

`python -m benchmarks.surge [--reports 1000] [--factor 10] [--kills 0] [--redis]` (see benchmarks/README.md).

Prepared beforehand, not timed: N complete drafts written into the stopped bot's storage (SQLite, or Redis with
--redis), the bot started (long polling, against the emulator in its own process), "/start" from every resident
with the emulator's limits still off, so each resident's chat holds a bot message to press. Then the emulator's
flood limits and the bot's send budgets are set to Telegram's published limits times the factor, and the N
"Send" presses are injected as fast as the emulator takes them (t0 = the first injection). With --kills K the bot
is SIGKILLed K times, after about 1/(K+1), 2/(K+1), ... of the cards are posted, and restarted at once.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.common import (
    REDIS_URL,
    SENDS,
    STAFF_CHAT,
    BotProcess,
    Control,
    Emulator,
    bot_env,
    count_log_problems,
    drop_redis_namespace_later,
    log,
    make_photo,
    print_summary,
    run_benchmark,
    tail,
    temp_dir,
)

CARD = re.compile(r"^Report #(\d+) ·")
CONFIRMATION = re.compile(r"Your report #(\d+) is sent to the officials")
FIRST_USER_ID = 5_000_000
STALL_SECONDS = 120.0
T = TypeVar("T")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.surge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1000, help="residents, one report each (default 1000)")
    parser.add_argument("--factor", type=float, default=10.0, help="multiplies Telegram's limits (default 10)")
    parser.add_argument("--kills", type=int, default=0, help="SIGKILL and restart the bot this many times")
    parser.add_argument("--redis", action="store_true", help="REDIS_URL with a fresh namespace (deleted after)")
    parser.add_argument("--photo-kb", type=int, default=100, help="size of each report's photo (default 100 KB)")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (default INFO, as in production)")
    args = parser.parse_args()
    if args.reports < 1 or args.factor <= 0 or args.kills < 0:
        parser.error("--reports >= 1, --factor > 0, --kills >= 0")
    return args


def resident(i: int) -> dict[str, Any]:
    return {"id": FIRST_USER_ID + i, "first_name": "Resident", "last_name": str(i), "language_code": "en"}


async def bounded(coros: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Run awaitables with at most `limit` at a time; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(c: Awaitable[T]) -> T:
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def prepare_drafts(data_dir: Path, users: list[dict[str, Any]], namespace: str | None, photo_kb: int) -> None:
    """A complete report draft (roads, one photo) per resident, written while the bot is stopped."""
    from bot.core.models import Draft, Location, Messenger, ResidentRef
    from storage.photos import PhotoArchive
    from storage.sqlite import SqliteStorage

    archive = PhotoArchive(data_dir / "photos")
    records = await SqliteStorage.open(data_dir / "priemnaya.sqlite3")
    drafts: Any = records
    client = None
    if namespace is not None:
        import redis.asyncio as aioredis

        from storage.redis_state import RedisDraftStore

        client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        drafts = RedisDraftStore(client, namespace=namespace)
    try:
        for n, user in enumerate(users):
            digest = await archive.put(make_photo(user["id"], photo_kb))
            draft = Draft(
                category_id=1,
                description=f"A deep pothole in the right lane, resident {user['id']}",
                location=Location(address=f"Lenina street {n + 1}"),
                photos=[digest],
            )
            await drafts.save_draft(ResidentRef(Messenger.TELEGRAM, user["id"]), draft)
    finally:
        await records.close()
        if client is not None:
            await client.aclose()


def lower_bound(n: int, group: int, private: int, global_: int) -> tuple[float, str]:
    """What the limits allow at best for n cards into one group plus n confirmations (one per private chat)."""
    bounds = {
        f"group {group}/60s: {n} cards": (math.ceil(n / group) - 1) * 60.0,
        f"global {global_}/s: {2 * n} msgs": (math.ceil(2 * n / global_) - 1) * 1.0,
        f"private {private}/s: 1 msg/chat": (math.ceil(1 / private) - 1) * 1.0,
    }
    binding = max(bounds, key=lambda k: bounds[k])
    others = "; ".join(f"{k} -> {v:.0f}s" for k, v in bounds.items() if k != binding)
    return bounds[binding], f"binding: {binding} -> {bounds[binding]:.0f}s; {others}"


async def welcome_everyone(
    ctl: Control, bot: BotProcess, users: list[dict[str, Any]], chunk: int = 50
) -> tuple[dict[int, int], int]:
    """/start from every resident, `chunk` at a time; returns user id -> welcome message id, and the re-sends."""
    welcome: dict[int, int] = {}
    resent = 0
    for first in range(0, len(users), chunk):
        part = users[first : first + chunk]
        for attempt in range(3):
            missing = [u for u in part if u["id"] not in welcome]
            if not missing:
                break
            resent += len(missing) if attempt else 0
            mark = await ctl.last_seq()
            await bounded((ctl.private_message(u, text="/start") for u in missing), 32)
            deadline = time.monotonic() + 20
            wanted = {u["id"] for u in missing}
            while wanted - set(welcome) and time.monotonic() < deadline:
                if not bot.alive():
                    raise RuntimeError(f"the bot exited: {tail(bot.log_path)}")
                await asyncio.sleep(0.2)
                for item in (await ctl.sent(since=mark, method=["sendMessage"]))["items"]:
                    if item["chat_id"] in wanted:
                        welcome.setdefault(item["chat_id"], item["message_id"])
        if any(u["id"] not in welcome for u in part):
            raise RuntimeError(f"no welcome for some residents after 3 tries: {tail(bot.log_path)}")
    return welcome, resent


def describe_refusals(refused: list[dict[str, Any]], accepted: list[dict[str, Any]], t0: float) -> str:
    """The 429s (the staff chat's up to 8, residents' up to 3): when, where, retry_after, and what the emulator had
    accepted in that chat's window (60 s for the staff chat, the global 1 s for a private chat) just before."""
    staff = [c for c in refused if c["chat_id"] == STAFF_CHAT]
    private = [c for c in refused if c["chat_id"] != STAFF_CHAT]
    shown = sorted(staff[:8] + private[:3], key=lambda c: c["ts"])
    parts = []
    for call in shown:
        staff = call["chat_id"] == STAFF_CHAT
        window = 60.0 if staff else 1.0
        before = [
            a
            for a in accepted
            if call["ts"] - window < a["ts"] <= call["ts"] and (not staff or a["chat_id"] == STAFF_CHAT)
        ]
        kind = "staff" if staff else f"chat {call['chat_id']}"
        scope = "staff chat in 60s" if staff else "all chats in 1s"
        parts.append(
            f"{call['ts'] - t0:.1f}s {kind} retry_after={call['retry_after']} ({len(before)} accepted {scope})"
        )
    more = f", +{len(refused) - len(shown)} more" if len(refused) > len(shown) else ""
    return f"; at: {', '.join(parts)}{more}" if parts else ""


def log_timeline(cards: dict[int, list[float]], t0: float) -> None:
    """Cards first posted per 10 s, on stderr."""
    buckets = Counter(int((min(ts) - t0) // 10) for ts in cards.values())
    if buckets:
        line = " ".join(f"{b * 10}s:{buckets[b]}" for b in range(max(buckets) + 1) if buckets[b])
        log(f"cards per 10 s: {line}")
    repeats = sorted((round(ts[1] - t0, 1), number) for number, ts in cards.items() if len(ts) > 1)
    if repeats:
        log(f"repeated cards (time of the repeat, report): {repeats}")


async def main(args: argparse.Namespace) -> int:
    n = args.reports
    group = max(1, math.floor(20 * args.factor))
    private = max(1, math.floor(1 * args.factor))
    global_ = max(1, math.floor(30 * args.factor))
    bound, binding = lower_bound(n, group, private, global_)
    work = temp_dir("bench-surge-")
    data_dir = work / "data"
    namespace = None
    if args.redis:
        namespace = f"bench-surge-{uuid.uuid4().hex[:10]}"
        drop_redis_namespace_later(REDIS_URL, namespace)
    storage = f"redis(ns={namespace})" if namespace else "sqlite"
    log(f"surge: {n} reports, factor {args.factor}, kills {args.kills}, storage {storage}, work dir {work}")

    emulator = Emulator(work)
    url = emulator.start()
    ctl = Control(url)
    try:
        await ctl.create_chat(STAFF_CHAT, "City staff")
        users = [resident(i) for i in range(n)]
        started = time.monotonic()
        await prepare_drafts(data_dir, users, namespace, args.photo_kb)
        log(f"{n} drafts written in {time.monotonic() - started:.1f}s")

        env = bot_env(
            url,
            data_dir,
            group_per_minute=group,
            private_per_second=private,
            global_per_second=global_,
            log_level=args.log_level,
            redis_namespace=namespace,
        )
        bot = BotProcess(env, work)
        bot.start()
        # Polling starts right after deleteWebhook; a getUpdates shows in the log only when its long poll ends.
        await ctl.wait_for_call(["deleteWebhook", "getUpdates"], bot)

        # A bot message in every resident's chat, sent while the emulator's limits are off. In chunks: the bot
        # handles every polled update at once, and a burst of hundreds fails in Redis mode (see README).
        welcome, resent = await welcome_everyone(ctl, bot, users)
        await asyncio.sleep(1.0)  # nothing else in flight when the limits switch on
        log(
            f"{n} residents have a bot message to press ({time.monotonic() - started:.1f}s since start,"
            f" {resent} /start re-sent)"
        )

        limits = await ctl.set_rate_limits(
            True, group_per_minute=group, private_per_second=private, global_per_second=global_, factor=1.0
        )
        log(f"emulator limits: {limits}")
        mark = await ctl.last_seq()

        t0 = time.time()
        await bounded((ctl.callback_query(u, u["id"], welcome[u["id"]], "r.agree") for u in users), 64)
        injected = time.time() - t0
        log(f"{n} presses injected in {injected:.2f}s; waiting for the cards (limits allow {bound:.0f}s at best)")

        thresholds = [math.ceil(n * (k + 1) / (args.kills + 1)) for k in range(args.kills)]
        kills: list[tuple[float, int]] = []
        cards: dict[int, list[float]] = {}
        seen = mark
        timeout = 1.5 * bound + 90 + 60 * args.kills
        next_progress = time.monotonic() + 10
        complete_at: float | None = None
        progress_count, progress_at = 0, time.monotonic()
        while True:
            for item in (await ctl.sent(chat_id=STAFF_CHAT, since=seen, method=SENDS))["items"]:
                seen = max(seen, item["seq"])
                if match := CARD.match(item.get("plain_text") or ""):
                    cards.setdefault(int(match.group(1)), []).append(item["ts"])
            if len(kills) < args.kills and len(cards) >= thresholds[len(kills)]:
                bot.kill()
                bot.start()
                kills.append((time.time() - t0, len(cards)))
                log(f"kill {len(kills)}: SIGKILL after {len(cards)} cards at {kills[-1][0]:.1f}s, restarted at once")
            if not bot.alive():
                raise RuntimeError(f"the bot exited by itself: {tail(bot.log_path)}")
            if len(cards) >= n and complete_at is None:
                complete_at = time.monotonic()
            # Let late duplicates (a send repeated after a kill) show up before counting.
            if complete_at is not None and time.monotonic() - complete_at > (5.0 if args.kills else 2.0):
                break
            if time.time() - t0 > timeout:
                log(f"timeout: {len(cards)}/{n} cards after {timeout:.0f}s")
                break
            if len(cards) > progress_count:
                progress_count, progress_at = len(cards), time.monotonic()
            elif time.monotonic() - progress_at > STALL_SECONDS:
                # Longer than a window plus a queue lease without a new card: the rest is not coming.
                log(f"stalled: no new card for {STALL_SECONDS:.0f}s, {len(cards)}/{n} cards")
                break
            if time.monotonic() > next_progress:
                next_progress += 10
                log(f"{len(cards)}/{n} cards posted at {time.time() - t0:.0f}s")
            await asyncio.sleep(0.25)

        # Confirmations and 429s, read from the emulator.
        confirmations: Counter[int] = Counter()
        other_to_residents = 0
        everything = (await ctl.sent(since=mark, method=SENDS))["items"]
        for item in everything:
            if item["chat_id"] <= 0:
                continue
            if CONFIRMATION.search(item.get("plain_text") or ""):
                confirmations[item["chat_id"]] += 1
            else:
                other_to_residents += 1
        refused = [
            c
            for c in (await ctl.calls(method="sendMessage,sendPhoto,sendMediaGroup"))["items"]
            if c["status"] == 429 and c["ts"] >= t0
        ]
        staff_429 = sum(1 for c in refused if c["chat_id"] == STAFF_CHAT)
        refusals = describe_refusals(refused, everything, t0)
        counters = await ctl.counters()
        rss = bot.peak_rss_kb()
        bot.stop()
    finally:
        await ctl.close()

    # What the storage says after a clean stop.
    db = sqlite3.connect(f"file:{data_dir / 'priemnaya.sqlite3'}?mode=ro", uri=True)
    try:
        reports_in_db = db.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
        outbox_left = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    finally:
        db.close()
    if namespace is not None:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        outbox_left += int(client.scard(f"{namespace}:pending"))
        client.close()
    errors, warnings = count_log_problems(bot.log_path)
    log_timeline(cards, t0)

    posted = set(cards)
    lost = sorted(set(range(1, n + 1)) - posted)
    duplicates = sum(len(ts) - 1 for ts in cards.values())
    last_card = max(min(ts) for ts in cards.values()) - t0 if cards else math.nan
    first_card = min(min(ts) for ts in cards.values()) - t0 if cards else math.nan
    ratio = last_card / bound if bound > 0 else math.nan
    # The pace is set by the first window: card k*L+j can go only 60 s after card (k-1)*L+j.
    firsts = sorted(min(ts) for ts in cards.values())
    window_filled = firsts[min(group, len(firsts)) - 1] - t0 if firsts else math.nan
    if lost:
        ratio_text = f"n/a (only {len(posted)}/{n} cards posted; last of those {ratio:.3f} x bound)"
    else:
        ratio_text = f"{ratio:.3f} (goal <=1.10 {'ok' if ratio <= 1.10 else 'MISSED'})"
    exactly_once = sum(1 for u in users if confirmations[u["id"]] == 1)
    ok_lost = not lost
    ok_dups = duplicates <= args.kills
    ok_conf = exactly_once == n
    kills_text = ""
    if args.kills:
        kills_text = " kills=" + ",".join(f"{t:.0f}s@{c}cards" for t, c in kills)
    line = (
        f"surge: reports={n} factor={args.factor:g} storage={'redis' if namespace else 'sqlite'} kills={args.kills}"
        f"{kills_text} last_card={last_card:.1f}s (first {first_card:.1f}s, card #{min(group, n)} {window_filled:.1f}s,"
        f" presses injected in {injected:.1f}s)"
        f" bound={bound:.1f}s ({binding}) ratio={ratio_text}"
        f" 429s={len(refused)} (staff chat {staff_429}, residents {len(refused) - staff_429};"
        f" emulator refused {counters['rate_limited']}; goal 0 {'ok' if not refused else 'MISSED'}{refusals})"
        f" lost={len(lost)}{'' if ok_lost else ' ' + str(lost[:10])}"
        f" duplicates={duplicates} (allowed {args.kills})"
        f" confirmations: {exactly_once}/{n} residents got exactly one"
        f" (total {sum(confirmations.values())}, other msgs to residents {other_to_residents})"
        f" reports_in_db={reports_in_db} (presses that made no report: {n - reports_in_db})"
        f" queue_left={outbox_left} bot_log errors={errors} warnings={warnings}"
        f" bot_peak_rss={(rss or 0) / 1024:.0f}MB (last process) limits: group {group}/min private {private}/s"
        f" global {global_}/s"
    )
    print_summary(line)
    if not (ok_lost and ok_dups and ok_conf):
        log("FAILED: lost, duplicates or confirmations out of bounds")
        return 1
    return 0


if __name__ == "__main__":
    arguments = parse_args()
    bound_estimate = (math.ceil(arguments.reports / max(1, math.floor(20 * arguments.factor))) - 1) * 60
    raise SystemExit(run_benchmark(lambda: main(arguments), 1.5 * bound_estimate + 600, "surge"))
