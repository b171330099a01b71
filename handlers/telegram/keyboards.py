"""Platform-neutral replies as Telegram messages: sent at once, or the last one left as the update's answer.

A handler that returns a call leaves it to the transport: in webhook mode it travels in the HTTP answer to
Telegram's POST (no call of our own), in polling mode the poller makes it. Earlier replies are sent first, so the
order the resident sees is kept.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile, FSInputFile

from bot.core.replies import Attachment, Reply
from handlers.telegram.calls import ALERT_MAX, Call, answer_callback, send_message
from handlers.telegram.compose import TEXT_LIMIT
from handlers.telegram.render import to_html, to_plain
from handlers.telegram.session import perform

log = logging.getLogger(__name__)

Answer = Call | None
"""What a handler returns: the update's last Bot API call, for the transport to make (or nothing)."""


def reply_calls(chat_id: int, replies: Sequence[Reply], reply_to: int | None = None) -> list[Call]:
    """The core's replies as sendMessage calls (the first one as a reply to `reply_to` if given)."""
    return [
        send_message(chat_id, to_html(reply.text, TEXT_LIMIT), reply.buttons, reply_to if i == 0 else None)
        for i, reply in enumerate(replies)
    ]


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply], reply_to: int | None = None) -> None:
    """Show the core's replies in a chat now, one after another, each with its files after it."""
    for reply, call in zip(replies, reply_calls(chat_id, replies, reply_to), strict=True):
        await perform(bot, call)
        for attachment in reply.files:
            await send_attachment(bot, chat_id, attachment)


async def send_attachment(bot: Bot, chat_id: int, attachment: Attachment) -> None:
    """Upload a reply's file (aiogram's multipart path); a file written for it is removed once sent or refused."""
    try:
        upload: BufferedInputFile | FSInputFile
        if attachment.data is not None:
            upload = BufferedInputFile(attachment.data, filename=attachment.name)
        elif attachment.path is not None:
            upload = FSInputFile(attachment.path, filename=attachment.name)
        else:
            return
        if attachment.photo:
            await bot.send_photo(chat_id, upload)
        else:
            await bot.send_document(chat_id, upload)
    except TelegramAPIError as exc:
        # The text went; a lost chart or export is asked for again, not retried into a crowded chat.
        log.warning("sending a %s failed: %s", "photo" if attachment.photo else "document", type(exc).__name__)
    finally:
        if attachment.path is not None:
            attachment.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                attachment.path.parent.rmdir()  # the export's own folder, once its last file went


async def answer_with(bot: Bot, calls: Sequence[Call]) -> Answer:
    """Make all calls but the last and return the last, the update's answer for the transport to make."""
    for call in calls[:-1]:
        await perform(bot, call)
    return calls[-1] if calls else None


def press_calls(callback_id: str, chat_id: int, replies: Sequence[Reply]) -> list[Call]:
    """A press's answer first (an alert reply becomes its popup, which stops the button's spinner), then messages."""
    alerts = [r for r in replies if r.alert]
    answer = answer_callback(callback_id, to_plain(alerts[0].text, ALERT_MAX) if alerts else None)
    return [answer, *reply_calls(chat_id, [r for r in replies if not r.alert])]


async def answer_press(callback_id: str, bot: Bot, chat_id: int, replies: Sequence[Reply]) -> None:
    """Answer a button press now: the popup or a silent answer, then the messages."""
    for call in press_calls(callback_id, chat_id, replies):
        await perform(bot, call)
