"""The Telegram adapter: one router per chat kind, joined here."""

from __future__ import annotations

from aiogram import Dispatcher

from bot.reception import Reception
from handlers.telegram import admin, elsewhere, resident, staff
from handlers.telegram.albums import AlbumMiddleware


def build_dispatcher(reception: Reception, album_wait_seconds: float) -> Dispatcher:
    """A dispatcher with the core passed in as `reception` for every handler."""
    # No aiogram FSM: the dialog's state is the core's draft, in storage shared by every process.
    dp = Dispatcher(reception=reception, disable_fsm=True)
    dp.message.outer_middleware(AlbumMiddleware(album_wait_seconds))
    dp.include_routers(
        admin.build_router(),
        staff.build_router(),
        resident.build_router(),
        elsewhere.build_router(),
    )
    return dp
