"""Start-up: storage, core, Telegram polling and the delivery worker in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions

from bot.budgets import BudgetConfig, SendBudgets
from bot.config import CoreConfig, utc_now
from bot.delivery import DeliveryWorker, Sender
from bot.i18n import Locales
from bot.models import Messenger
from bot.photos import PhotoArchive
from bot.reception import Reception
from bot.settings import Settings
from handlers.telegram import build_dispatcher
from handlers.telegram.sender import TelegramSender
from handlers.vk import VkAdapter, VkSender
from handlers.vk import make_api as make_vk_api
from storage.sqlite import SqliteStorage

log = logging.getLogger(__name__)


def make_bot(settings: Settings) -> Bot:
    """The aiogram Bot, pointed at TELEGRAM_API_URL, sending HTML without link previews."""
    assert settings.telegram_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.telegram_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)),
    )


async def _set_commands(bot: Bot, locales: Locales) -> None:
    """The command menu residents see, in both languages."""
    for language in ("ru", "en"):
        _ = locales.get(language)
        commands = [
            BotCommand(command="new", description=_("New report")),
            BotCommand(command="my", description=_("My reports")),
            BotCommand(command="cancel", description=_("Drop the draft")),
            BotCommand(command="help", description=_("How it works")),
        ]
        await bot.set_my_commands(
            commands,
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == "ru" else language,
        )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the bot until `stop` is set (or SIGINT/SIGTERM when run from the command line)."""
    stop = stop or asyncio.Event()
    storage = await SqliteStorage.open(settings.database_path, settings.default_answer_hours)
    locales = Locales()
    archive = PhotoArchive(settings.photos_dir)
    assert settings.staff_chat_id is not None
    config = CoreConfig(
        staff_chat_id=settings.staff_chat_id,
        staff_language=settings.staff_language,
        tz=ZoneInfo(settings.timezone),
        admin_ids=settings.admin_ids,
    )
    reception = Reception.build(storage, locales, archive, config, settings.default_answer_hours)
    bot = make_bot(settings)
    senders: dict[Messenger, Sender] = {Messenger.TELEGRAM: TelegramSender(bot, archive)}
    vk = None
    if settings.vk_token is not None and settings.vk_group_id is not None:
        vk_api = make_vk_api(settings.vk_token, settings.vk_api_url)
        senders[Messenger.VK] = VkSender(vk_api, archive)
        vk = VkAdapter(reception, vk_api, settings.vk_group_id, settings.data_dir)
    worker = DeliveryWorker(
        storage,
        senders,
        clock=utc_now,
        staff_chat_for=reception.routing.chat_for_report,
        staff_gettext=locales.get(settings.staff_language),
        budgets=SendBudgets(
            BudgetConfig(
                telegram_group_per_minute=settings.telegram_group_per_minute,
                telegram_private_per_second=settings.telegram_private_per_second,
                telegram_global_per_second=settings.telegram_global_per_second,
                vk_per_second=settings.vk_per_second,
            )
        ),
    )
    reception.on_enqueue(worker.wake)
    dp = build_dispatcher(reception, settings.album_wait_seconds)
    try:
        me = await bot.get_me()
        log.info("bot @%s started", me.username)
        with contextlib.suppress(Exception):
            await _set_commands(bot, locales)
        worker_task = asyncio.create_task(worker.run(stop), name="delivery")
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, close_bot_session=False), name="polling"
        )
        tasks = [polling, worker_task]
        if vk is not None:
            tasks.append(asyncio.create_task(vk.run(stop), name="vk"))
        await stop.wait()
        await dp.stop_polling()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await bot.session.close()
        if vk is not None:
            await vk_api.http_client.close()
        await storage.close()


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM stop the bot gracefully (queued messages stay queued)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
