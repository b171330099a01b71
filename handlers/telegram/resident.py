"""Residents in a private chat with the bot: updates become dialog inputs, replies become messages.

These updates are read with the slim models of updates.py and handled here, not by aiogram's dispatcher (see
updates.py for why); administrators' commands, even in private, go to aiogram's admin router.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.core import dialog
from bot.core.admin import COMMANDS as ADMIN_COMMANDS
from bot.core.dialog import Show
from bot.core.reception import Reception
from bot.core.replied import Replied
from bot.core.replies import Reply
from bot.core.stats import COMMANDS as FIGURES_COMMANDS
from handlers.telegram.albums import AlbumCollector, album_lead
from handlers.telegram.calls import Call
from handlers.telegram.files import PhotoTooLarge, archive_photos, largest_sizes
from handlers.telegram.keyboards import Answer, answer_with, press_calls, reply_calls
from handlers.telegram.people import resident_of
from handlers.telegram.session import perform
from handlers.telegram.updates import PRIVATE, TgCallbackQuery, TgMessage, TgUpdate
from storage.photo_metadata import BadPhoto
from storage.photos import PhotoArchive

log = logging.getLogger(__name__)

_COMMANDS: dict[str, dialog.ResidentInput] = {
    "start": dialog.Start(),
    "new": dialog.NewReport(),
    "my": dialog.MyReports(),
    "cancel": dialog.Cancel(),
    "help": dialog.Help(),
    "privacy": dialog.Privacy(),
    "forget": dialog.Forget(),
}
_ADMIN_COMMANDS = frozenset(ADMIN_COMMANDS) | frozenset(FIGURES_COMMANDS)


def _private(message: TgMessage | None) -> bool:
    return message is not None and message.chat.type == PRIVATE


def resident_step(update: TgUpdate) -> bool:
    """Whether the update is a resident's step in the private chat (anything else goes to aiogram's dispatcher)."""
    if update.message is not None:
        message = update.message
        return _private(message) and message.from_user is not None and message.command not in _ADMIN_COMMANDS
    if update.edited_message is not None:
        return _private(update.edited_message) and update.edited_message.from_user is not None
    press = update.callback_query
    return press is not None and _private(press.message)


def input_of(message: TgMessage) -> dialog.ResidentInput:
    """What a resident's message (other than photos) is for the dialog; its values are checked by the core."""
    if message.venue is not None:
        venue = message.venue
        address = ", ".join(p for p in (venue.title, venue.address) if p)
        return dialog.Place(venue.location.latitude, venue.location.longitude, address)
    if message.location is not None:
        return dialog.Place(message.location.latitude, message.location.longitude)
    command = message.command if message.text is not None else None
    if command is not None:
        return _COMMANDS.get(command, dialog.UnknownCommand())
    if message.text is not None:
        return dialog.Text(message.text)
    return dialog.Unsupported()


class ResidentLane:
    """A resident's messages, edits and button presses in the private chat, each one step of the dialog."""

    def __init__(self, bot: Bot, reception: Reception, archive: PhotoArchive, album_wait_seconds: float) -> None:
        self._bot = bot
        self._reception = reception
        self._archive = archive
        self._albums: AlbumCollector[TgMessage] = AlbumCollector(album_wait_seconds)

    async def handle(self, update: TgUpdate, in_answer: bool) -> Answer:
        """One step of the resident's dialog (an update `resident_step` accepts).

        With `in_answer` (a webhook) the step's last call is returned for the transport to make; otherwise every
        call is made here, before the next step's replies may go.
        """
        if update.message is not None:
            return await self._message(update.message, in_answer)
        if update.edited_message is not None:
            return await self._run(update.edited_message, dialog.Edited(), in_answer)
        assert update.callback_query is not None
        return await self._press(update.callback_query, in_answer)

    async def _message(self, message: TgMessage, in_answer: bool) -> Answer:
        album = [message]
        if message.media_group_id is not None:
            parts = await self._albums.collect(message.chat.id, message.media_group_id, message)
            if parts is None:
                return None  # a later part of an album: the first part's step takes it along
            album, message = parts, album_lead(parts)
        if message.photo:
            # Downloaded and archived only if the resident is admitted (not banned, not flooding).
            return await self._run(message, partial(self._photos, message, album), in_answer)
        return await self._run(message, input_of(message), in_answer)

    async def _photos(self, message: TgMessage, album: list[TgMessage]) -> dialog.ResidentInput:
        """A photo or an album (one step), with the caption as the description."""
        try:
            digests = await archive_photos(self._bot, self._archive, largest_sizes([m.photo for m in album]))
        except PhotoTooLarge:
            return dialog.Failed()
        except BadPhoto as exc:
            log.info("resident photo refused: %s", exc)
            return dialog.BadPhoto()
        except TelegramAPIError as exc:
            log.warning("photo download failed: %s", type(exc).__name__)
            return dialog.Failed()
        return dialog.Photos(digests, message.caption)

    def _show(self, calls_of: Callable[[list[Reply]], list[Call]], in_answer: bool) -> Show[Answer]:
        async def show(replies: list[Reply]) -> Answer:
            calls = calls_of(replies)
            if in_answer:
                return await answer_with(self._bot, calls)
            for call in calls:
                await perform(self._bot, call)
            return None

        return show

    async def _run(self, message: TgMessage, event: dialog.ResidentInput | dialog.Received, in_answer: bool) -> Answer:
        assert message.from_user is not None  # checked by `resident_step`
        chat_id = message.chat.id
        origin = message.reply_to_message
        replied = None
        if origin is not None:
            from_bot = origin.from_user is not None and origin.from_user.id == self._bot.id
            replied = Replied(origin.message_id, from_bot, origin.date)
        return await self._reception.dialog.handle(
            resident_of(message.from_user),
            event,
            self._show(lambda replies: reply_calls(chat_id, replies), in_answer),
            replied=replied,
        )

    async def _press(self, press: TgCallbackQuery, in_answer: bool) -> Answer:
        """A button press in the private chat; its data is checked by the core."""
        return await self._reception.dialog.handle(
            resident_of(press.from_user),
            dialog.Press(press.data),
            self._show(lambda replies: press_calls(press.id, press.from_user.id, replies), in_answer),
        )
