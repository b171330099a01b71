"""Officials in Telegram staff chats: their messages and button presses, translated for the desk (bot/core/desk.py).

Only the translation lives here (commands, replies, photos, presses in and the desk's replies out); what they mean
and who may do what is the core's.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message

from bot.core.desk import StaffMessage, StaffPress
from bot.core.models import ChatRef, Messenger
from bot.core.reception import Reception
from bot.core.replied import Replied
from handlers.telegram.calls import clear_buttons
from handlers.telegram.files import PhotoTooLarge, archive_photos, largest_sizes
from handlers.telegram.keyboards import answer_press, send_replies
from handlers.telegram.people import official_of
from handlers.telegram.predicates import has_author, staff_action
from handlers.telegram.session import perform
from storage.photo_metadata import BadPhoto
from storage.photos import PhotoArchive

log = logging.getLogger(__name__)


def chat_of(message: Message) -> ChatRef:
    """The chat of a Telegram message, as the core names chats."""
    return ChatRef(Messenger.TELEGRAM, message.chat.id)


async def in_staff_chat(event: Message | CallbackQuery, reception: Reception) -> bool:
    """The update comes from the default staff chat or a department chat."""
    message = event.message if isinstance(event, CallbackQuery) else event
    return isinstance(message, Message) and await reception.desk.is_staff_chat(chat_of(message))


def command_of(text: str, username: str | None) -> tuple[str, str] | None:
    """The command (lowercased, its `@bot` mention dropped) and its arguments, if the text is a command for us."""
    if not text.startswith("/"):
        return None
    head, _sep, args = text.partition(" ")
    name, _at, mention = head[1:].partition("@")
    if mention and (username is None or mention.lower() != username.lower()):
        return None  # a command for another bot in the group
    return name.lower(), args.strip()


async def staff_message(message: Message, bot: Bot, archive: PhotoArchive, album: list[Message] | None) -> StaffMessage:
    """An official's Telegram message as the desk reads it; photos are archived only when they may be needed."""
    assert message.from_user is not None  # has_author
    text = message.text or message.caption or ""
    me = await bot.me()
    parsed = command_of(text, me.username)
    origin = message.reply_to_message
    replied = None
    if origin is not None:
        from_bot = origin.from_user is not None and origin.from_user.id == bot.id
        replied = Replied(origin.message_id, from_bot, origin.date)
    photos: tuple[str, ...] = ()
    failed = bad = False
    wanted = (replied is not None and replied.from_bot) or (parsed is not None and parsed[0] == "resolve")
    if message.photo and wanted:
        try:
            photos = await archive_photos(bot, archive, largest_sizes([m.photo for m in album or [message]]))
        except (PhotoTooLarge, TelegramAPIError) as exc:
            log.warning("staff photo download failed: %s", type(exc).__name__)
            failed = True
        except BadPhoto as exc:
            log.info("staff photo refused: %s", exc)
            bad = True
    return StaffMessage(
        chat=chat_of(message),
        official=official_of(message.from_user),
        message_id=message.message_id,
        text="" if parsed else text,
        command=parsed[0] if parsed else None,
        args=parsed[1] if parsed else "",
        photos=photos,
        photos_failed=failed,
        photos_bad=bad,
        other=not (message.text or message.photo),
        replied=replied,
    )


def build_router() -> Router:
    """The staff chats' router; only updates from those chats reach it."""
    router = Router(name="staff")
    router.message.filter(in_staff_chat, has_author)
    router.callback_query.filter(in_staff_chat)
    router.edited_message.filter(in_staff_chat)

    @router.message()
    async def on_message(
        message: Message, bot: Bot, reception: Reception, archive: PhotoArchive, album: list[Message] | None = None
    ) -> None:
        """Anything an official writes in a staff chat: the desk decides whether it is meant for the bot."""
        replies = await reception.desk.handle_message(await staff_message(message, bot, archive, album))
        await send_replies(bot, message.chat.id, replies, reply_to=message.message_id)

    @router.callback_query(staff_action)
    async def on_press(callback: CallbackQuery, bot: Bot, reception: Reception) -> None:
        """Card buttons and the resolve-without-photo question."""
        assert isinstance(callback.message, Message)  # checked by in_staff_chat
        chat = chat_of(callback.message)
        press = StaffPress(chat, official_of(callback.from_user), callback.message.message_id, callback.data)
        answer = await reception.desk.handle_press(press)
        if answer.clear_buttons:
            # The question stays answered in storage; its stale buttons are only cosmetic.
            with contextlib.suppress(TelegramAPIError):
                await perform(bot, clear_buttons(chat.chat_id, callback.message.message_id))
        await answer_press(callback.id, bot, chat.chat_id, answer.replies)

    return router
