"""Start-up: storage, core, messenger intake and the delivery worker, as this process's role asks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.config import CoreConfig, Limits, PrivacyTerms, TermRules, utc_now
from bot.core.locks import Locks
from bot.core.models import ChatRef, Messenger
from bot.core.privacy import run_retention
from bot.core.reception import Reception
from bot.core.reminders import run_reminders
from bot.core.replies import Composer
from bot.delivery.budgets import BudgetConfig, Budgets, SendBudgets
from bot.delivery.local import WakeSender, delivery_lock, wake_listener
from bot.delivery.relay import OutboxRelay
from bot.delivery.worker import DeliveryWorker, Sender
from bot.reach import unreachable
from bot.settings import ConfigurationError, Settings, shown_url
from bot.text.i18n import Locales
from handlers.telegram import build_intake
from handlers.telegram.client import ApiRefused, ApiUnreachable, TelegramBot, set_commands, who_am_i
from handlers.telegram.client import make_bot as make_telegram_bot
from handlers.telegram.compose import TelegramComposer
from handlers.telegram.intake import TelegramIntake
from handlers.telegram.polling import UpdatePoller
from handlers.telegram.probe import TelegramProbe
from handlers.telegram.sender import TelegramSender
from handlers.telegram.session import json_session
from handlers.telegram.webhook import ListenFailed, new_secret, webhook_server
from handlers.vk import LongPollRefused, VkAdapter, VkSender, VkUnreachable
from handlers.vk import make_api as make_vk_api
from handlers.vk.compose import VkComposer
from storage.base import DraftStore, OutboxStore
from storage.photos import PhotoArchive
from storage.sqlite import SqliteStorage

if TYPE_CHECKING:
    from storage.redis_queue import RedisQueue  # imported only when REDIS_URL is set

log = logging.getLogger(__name__)

REDIS_CONNECTIONS = 64


def make_bot(settings: Settings) -> TelegramBot:
    """The Telegram bot of these settings, pointed at TELEGRAM_API_URL."""
    assert settings.telegram_token is not None
    return make_telegram_bot(settings.telegram_token, settings.telegram_api_url)


def report_lanes(settings: Settings) -> bool:
    """Whether a staff chat takes several reports' posts side by side (a lane per report) or one after another.

    Side by side only when nothing limits a group: under Telegram's 20 a minute the budget paces the cards anyway,
    and several under way at once would only meet the limit together (and a restart, not knowing the last
    window, would draw a 429 for each) and repeat each after a crash.
    """
    return settings.telegram_group_per_minute == 0


async def _local_budgets(settings: Settings, records: SqliteStorage) -> SendBudgets:
    """In-process budgets that start from what this database's last process sent in the last minute."""
    budgets = SendBudgets(budget_config(settings), journal=records.log_send)
    budgets.replay(await records.recent_sends(60.0))
    return budgets


def budget_config(settings: Settings) -> BudgetConfig:
    """The send budgets' limits from the settings."""
    return BudgetConfig(
        telegram_group_per_minute=settings.telegram_group_per_minute,
        telegram_private_per_second=settings.telegram_private_per_second,
        telegram_global_per_second=settings.telegram_global_per_second,
        vk_per_second=settings.vk_per_second,
    )


@dataclass
class Shared:
    """What several processes share when REDIS_URL is set: drafts, locks and the delivery queue."""

    drafts: DraftStore | None = None
    locks: Locks | None = None  # the residents' locks (the dialog's)
    relay_locks: Locks | None = None
    queue: OutboxStore | None = None
    relay_queue: RedisQueue | None = None
    budgets: Budgets | None = None


@contextlib.asynccontextmanager
async def _shared(settings: Settings, records: SqliteStorage) -> AsyncIterator[Shared]:
    if settings.redis_url is None:
        yield Shared()
        return
    from storage.redis_budgets import RedisSendBudgets
    from storage.redis_delivery import RedisDelivery
    from storage.redis_pool import RedisUnreachable, connect, ping
    from storage.redis_queue import RedisQueue
    from storage.redis_state import RedisKeyedLocks, RedisResidentState

    # Bounded connections that a command waits for: a surge of handlers must queue, not run out of sockets.
    client = connect(settings.redis_url, max_connections=REDIS_CONNECTIONS, timeout=30, decode_responses=True)
    try:
        await ping(client)
    except RedisUnreachable as exc:
        await client.aclose()
        raise ConfigurationError(f"cannot connect to REDIS_URL ({shown_url(settings.redis_url)}): {exc}") from None
    ns = settings.redis_namespace
    queue = RedisQueue(client, namespace=ns, report_lanes=report_lanes(settings))  # a consumer unique to this worker
    residents = RedisResidentState(client, namespace=ns)
    try:
        yield Shared(
            drafts=residents,
            locks=residents,
            relay_locks=RedisKeyedLocks(client, namespace=ns),
            queue=RedisDelivery(queue, records),
            relay_queue=queue,
            budgets=RedisSendBudgets(client, budget_config(settings), namespace=ns),
        )
    finally:
        await client.aclose()


def core_config(settings: Settings) -> CoreConfig:
    """What the core needs to know of the deployment, from the settings."""
    return CoreConfig(
        staff_chat=ChatRef(Messenger.TELEGRAM, settings.staff_chat_id or 0),
        staff_language=settings.staff_language,
        tz=ZoneInfo(settings.timezone),
        admin_ids=settings.admin_ids,
        default_answer_hours=settings.default_answer_hours,
        problem_radius_m=settings.problem_radius_m,
        terms=TermRules(
            default_take_hours=settings.default_take_hours,
            default_resolve_days=settings.default_resolve_days,
            remind_at=settings.remind_at,
            reopen_days=settings.reopen_days,
            days_off=settings.days_off,
            work_hours=settings.hours_of_work,
            daily_summary_at=settings.summary_time,
            weekly_summary_at=settings.weekly_time,
        ),
        privacy=PrivacyTerms(
            operator_name=settings.operator_name,
            operator_contact=settings.operator_contact,
            notice_version=settings.privacy_notice_version,
            retention_days=settings.retention_days,
        ),
        limits=Limits(
            reports_per_day=settings.reports_per_day,
            messages_per_minute=settings.messages_per_minute,
        ),
    )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when run from the command line).

    A setting that cannot work (an API that does not answer or refuses, Redis down, VK's long poll refused)
    raises `ConfigurationError` naming it, or the token's `TokenRejected`, before anything is served.
    """
    stop = stop or asyncio.Event()
    records = await SqliteStorage.open(
        settings.database_path,
        settings.default_answer_hours,
        report_lanes=report_lanes(settings),
        default_take_hours=settings.default_take_hours,
        default_resolve_days=settings.default_resolve_days,
    )
    locales = Locales()
    archive = PhotoArchive(settings.photos_dir)
    config = core_config(settings)
    composers: dict[Messenger, Composer] = {Messenger.TELEGRAM: TelegramComposer(), Messenger.VK: VkComposer()}
    bot = make_bot(settings)
    vk_api = make_vk_api(settings.vk_token, settings.vk_api_url) if settings.vk_token else None
    intake = settings.bot_role in ("all", "intake")
    delivery = settings.bot_role in ("all", "worker")
    # Without Redis the SQLite outbox is the queue: one delivering process per database, woken by the intake.
    local = settings.redis_url is None
    tasks: list[asyncio.Task[None]] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            if delivery and local:
                await stack.enter_async_context(delivery_lock(settings.database_path))
            shared = await stack.enter_async_context(_shared(settings, records))
            reception = Reception.build(
                records,
                locales,
                config,
                composers,
                TelegramProbe(bot),
                drafts=shared.drafts,
                locks=shared.locks,
                report_locks=shared.relay_locks,
                photos=archive,
                pictures=archive,
            )
            # One set of budgets for the worker's sends and the replies (shared through Redis when it is set; without
            # it an intake-only process counts its own replies, the worker process its own sends).
            budgets = shared.budgets or await _local_budgets(settings, records)
            json_session(bot).pace_with(budgets)
            json_session(bot).answer_within(settings.reply_timeout_seconds)
            me = await _telegram_answers(bot, settings)
            vk = None
            if intake and vk_api is not None and settings.vk_group_id is not None:
                vk = VkAdapter(
                    reception,
                    vk_api,
                    settings.vk_group_id,
                    settings.data_dir,
                    archive,
                    budgets,
                    reply_timeout=settings.reply_timeout_seconds,
                )
                await _vk_answers(vk, settings)
            try:
                worker = None
                if delivery:
                    senders: dict[Messenger, Sender] = {Messenger.TELEGRAM: TelegramSender(bot, archive)}
                    if vk_api is not None:
                        senders[Messenger.VK] = VkSender(vk_api, archive)
                    worker = DeliveryWorker(
                        shared.queue or records,
                        senders,
                        clock=utc_now,
                        policy=reception.rerouting,
                        cards=records,
                        budgets=budgets,
                    )
                    reception.on_enqueue(worker.wake)
                    if local:
                        await stack.enter_async_context(wake_listener(settings.database_path, worker.wake))
                    tasks.append(asyncio.create_task(worker.run(stop), name="delivery"))
                    retention = run_retention(reception.privacy, stop, settings.retention_check_seconds)
                    tasks.append(asyncio.create_task(retention, name="retention"))
                    watch = run_reminders(
                        reception.reminders,
                        reception.summary,
                        stop,
                        settings.reminder_interval_seconds,
                        reception.weekly,
                    )
                    tasks.append(asyncio.create_task(watch, name="reminders"))
                elif local:
                    wake_worker = WakeSender(settings.database_path)
                    stack.callback(wake_worker.close)
                    reception.on_enqueue(wake_worker)
                if shared.relay_queue is not None and shared.relay_locks is not None:
                    relay = OutboxRelay(
                        records, shared.relay_queue, shared.relay_locks, worker.wake if worker else lambda: None
                    )
                    reception.on_enqueue(relay.wake)
                    tasks.append(asyncio.create_task(relay.run(stop), name="relay"))
                if intake:
                    with contextlib.suppress(Exception):
                        await set_commands(bot, locales)
                    telegram = build_intake(bot, reception, archive, settings.album_wait_seconds)
                    if settings.webhook_url:
                        await stack.enter_async_context(_webhook(settings, telegram))
                    else:
                        await bot.delete_webhook()  # getUpdates and a webhook exclude each other
                        tasks.append(asyncio.create_task(UpdatePoller(telegram).run(stop), name="polling"))
                    if vk is not None:
                        tasks.append(asyncio.create_task(vk.run(stop), name="vk"))
                log.info("bot @%s started as %s", me, settings.bot_role)
                if settings.operator_name is None:
                    log.warning("OPERATOR_NAME is not set: the personal-data notice names no operator")
                settle_memory()
                await stop.wait()
            finally:
                # A start that failed half-way stops what it had started, as a stop would.
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await bot.session.close()
        if vk_api is not None:
            await vk_api.http_client.close()
        await records.close()


async def _telegram_answers(bot: TelegramBot, settings: Settings) -> str:
    """getMe once (the bot's username): an API that does not answer, or is not the Bot API, stops the start naming
    TELEGRAM_API_URL."""
    try:
        return (await who_am_i(bot)).username or ""
    except ApiUnreachable as exc:
        raise ConfigurationError(unreachable("TELEGRAM_API_URL", settings.telegram_api_url, exc)) from None
    except ApiRefused as exc:
        raise ConfigurationError(
            f"TELEGRAM_API_URL ({settings.telegram_api_url}) did not answer as the Telegram Bot API: {exc}"
        ) from None


async def _vk_answers(vk: VkAdapter, settings: Settings) -> None:
    """Open VK's long poll once: a refusal stops the start with a line naming VK_TOKEN or VK_GROUP_ID."""
    try:
        await vk.start()
    except VkUnreachable as exc:
        raise ConfigurationError(unreachable("VK_API_URL", settings.vk_api_url, exc)) from None
    except LongPollRefused as exc:
        raise ConfigurationError(vk_refusal(exc, settings.vk_group_id)) from None


def vk_refusal(exc: LongPollRefused, group_id: int | None) -> str:
    """What VK's refusal of the long poll (its error code and message) says about the settings."""
    said = f"VK refused the long poll of community {group_id} ([{exc.code}] {exc.message})"
    if exc.code == 5:
        return f"VK_TOKEN was rejected by VK: {said}; put the community's token (Manage community > API usage)"
    if exc.code in (15, 27):
        return (
            f"{said}; VK_TOKEN must be a token of the community VK_GROUP_ID names, with the community management"
            " permission"
        )
    return (
        f"{said}; check VK_GROUP_ID, that VK_TOKEN is this community's token, and that Long Poll API is on in the"
        " community's settings (API usage > Long Poll API)"
    )


@contextlib.asynccontextmanager
async def _webhook(settings: Settings, telegram: TelegramIntake) -> AsyncIterator[None]:
    """The webhook server, with WEBHOOK_SECRET or, without it, a random secret made for this run."""
    assert settings.webhook_url is not None
    secret = settings.webhook_secret
    if not secret:
        # Never logged: only Telegram (through setWebhook) learns it.
        secret = new_secret()
        log.info("WEBHOOK_SECRET is not set: a random secret was made for this run and registered with setWebhook")
    started = False
    try:
        async with webhook_server(
            telegram,
            url=settings.webhook_url,
            host=settings.webhook_host,
            port=settings.webhook_port,
            path=settings.webhook_path,
            secret=secret,
        ):
            started = True
            yield
    except (ListenFailed, ApiUnreachable, ApiRefused) as exc:
        if started:
            raise
        raise ConfigurationError(_webhook_failure(settings, exc)) from None


def _webhook_failure(settings: Settings, exc: Exception) -> str:
    if isinstance(exc, ListenFailed):
        return f"cannot listen on WEBHOOK_HOST:WEBHOOK_PORT ({settings.webhook_host}:{settings.webhook_port}): {exc}"
    if isinstance(exc, ApiUnreachable):
        return unreachable("TELEGRAM_API_URL", settings.telegram_api_url, exc)
    return f"Telegram refused WEBHOOK_URL ({settings.webhook_url}): {exc}"


def settle_memory() -> None:
    """Exempt everything built at start-up from the cyclic garbage collector's scans.

    aiogram's and pydantic's models make ~300,000 objects that live as long as the process; every full
    collection walked them all (0.4 s with the event loop stopped) and each younger one paid a share.
    """
    gc.collect()
    gc.freeze()


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM stop the bot gracefully (queued messages stay queued)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
