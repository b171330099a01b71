"""The Telegram adapter: residents' private chats in their own lane, one aiogram router per other chat kind."""

from __future__ import annotations

from aiogram import Bot, Dispatcher

from bot.core.reception import Reception
from handlers.telegram import admin, elsewhere, figures, staff
from handlers.telegram.albums import AlbumMiddleware
from handlers.telegram.intake import TelegramIntake
from handlers.telegram.resident import ResidentLane
from storage.photos import PhotoArchive


def build_intake(bot: Bot, reception: Reception, archive: PhotoArchive, album_wait_seconds: float) -> TelegramIntake:
    """The intake for `bot`, with the core (`reception`) and the photo archive passed to every handler."""
    # No aiogram FSM: the dialog's state is the core's draft, in storage shared by every process.
    dp = Dispatcher(reception=reception, archive=archive, disable_fsm=True)
    dp.message.outer_middleware(AlbumMiddleware(album_wait_seconds))
    dp.include_routers(
        admin.build_router(),
        figures.build_router(),
        staff.build_router(),
        elsewhere.build_router(),
    )
    return TelegramIntake(bot, dp, ResidentLane(bot, reception, archive, album_wait_seconds))
