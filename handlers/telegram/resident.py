"""Residents in a private chat with the bot: updates become dialog inputs, replies become messages."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message

from bot import dialog
from bot.reception import Reception
from handlers.telegram.files import PhotoTooLarge, archive_photos
from handlers.telegram.keyboards import Answer, answer_with, press_calls, reply_calls
from handlers.telegram.people import resident_of
from handlers.telegram.predicates import (
    has_location,
    has_photo,
    has_text,
    has_venue,
    is_command,
    private_message,
    private_press,
)

log = logging.getLogger(__name__)

_COMMANDS: dict[str, dialog.ResidentInput] = {
    "new": dialog.NewReport(),
    "my": dialog.MyReports(),
    "cancel": dialog.Cancel(),
    "help": dialog.Help(),
}


async def _run(message: Message, bot: Bot, reception: Reception, event: dialog.ResidentInput) -> Answer:
    assert message.from_user is not None
    replies = await reception.dialog.handle(resident_of(message.from_user), event)
    return await answer_with(bot, reply_calls(message.chat.id, replies))


async def on_start(message: Message, bot: Bot, reception: Reception) -> Answer:
    """/start: greeting, what we keep, the menu."""
    return await _run(message, bot, reception, dialog.Start())


async def on_command(message: Message, bot: Bot, reception: Reception) -> Answer:
    """/new, /my, /cancel, /help."""
    command = (message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    return await _run(message, bot, reception, _COMMANDS[command])


async def on_photo(message: Message, bot: Bot, reception: Reception, album: list[Message] | None = None) -> Answer:
    """A photo or an album (one step), with the caption as the description."""
    try:
        digests = await archive_photos(bot, reception.archive, album or [message])
    except PhotoTooLarge:
        event: dialog.ResidentInput = dialog.Failed()
    except TelegramAPIError as exc:
        log.warning("photo download failed: %s", type(exc).__name__)
        event = dialog.Failed()
    else:
        event = dialog.Photos(digests, message.caption)
    return await _run(message, bot, reception, event)


async def on_venue(message: Message, bot: Bot, reception: Reception) -> Answer:
    """A venue: a point with its address."""
    assert message.venue is not None
    venue = message.venue
    address = ", ".join(p for p in (venue.title, venue.address) if p)
    place = dialog.Place(venue.location.latitude, venue.location.longitude, address)
    return await _run(message, bot, reception, place)


async def on_location(message: Message, bot: Bot, reception: Reception) -> Answer:
    """A location pin."""
    assert message.location is not None
    return await _run(message, bot, reception, dialog.Place(message.location.latitude, message.location.longitude))


async def on_unknown_command(message: Message, bot: Bot, reception: Reception) -> Answer:
    """A command we do not know (admin commands are routed before this router)."""
    return await _run(message, bot, reception, dialog.UnknownCommand())


async def on_text(message: Message, bot: Bot, reception: Reception) -> Answer:
    """Text: the description or the address, whichever the dialog needs."""
    return await _run(message, bot, reception, dialog.Text(message.text or ""))


async def on_other(message: Message, bot: Bot, reception: Reception) -> Answer:
    """Stickers, voice, video, documents, contacts, polls and the rest."""
    return await _run(message, bot, reception, dialog.Unsupported())


async def on_edited(message: Message, bot: Bot, reception: Reception) -> Answer:
    """Edits do not change a report."""
    return await _run(message, bot, reception, dialog.Edited())


async def on_press(callback: CallbackQuery, bot: Bot, reception: Reception) -> Answer:
    """A button press in the private chat; its data is checked by the core."""
    replies = await reception.dialog.handle(resident_of(callback.from_user), dialog.Press(callback.data))
    return await answer_with(bot, press_calls(callback, callback.from_user.id, replies))


def build_router() -> Router:
    """The resident router, new for every dispatcher."""
    router = Router(name="resident")
    router.message.filter(private_message)
    router.edited_message.filter(private_message)
    router.callback_query.filter(private_press)
    router.message.register(on_start, CommandStart())
    router.message.register(on_command, Command(*_COMMANDS))
    router.message.register(on_photo, has_photo)
    router.message.register(on_venue, has_venue)
    router.message.register(on_location, has_location)
    router.message.register(on_unknown_command, is_command)
    router.message.register(on_text, has_text)
    router.message.register(on_other)
    router.edited_message.register(on_edited)
    router.callback_query.register(on_press)
    return router
