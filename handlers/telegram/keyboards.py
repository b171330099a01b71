"""Platform-neutral replies as Telegram messages: sent at once, or the last one left as the update's answer.

A handler that returns a Bot API method leaves it to the transport: in webhook mode it travels in the HTTP answer
to Telegram's POST (no call of our own), in polling mode the poller sends it. Earlier replies are sent first, so
the order the resident sees is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import Button, Reply

ALERT_MAX = 200  # Telegram's limit for a callback answer's text

Answer = TelegramMethod[Any] | None
"""What a handler returns: the update's last Bot API call, for the transport to send (or nothing)."""


def inline_keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard (None when there are none)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=b.label, callback_data=b.action) for b in row] for row in rows]
    )


def reply_methods(chat_id: int, replies: Sequence[Reply], reply_to: int | None = None) -> list[SendMessage]:
    """The core's replies as sendMessage calls (the first one as a reply to `reply_to` if given)."""
    return [
        SendMessage(
            chat_id=chat_id,
            text=reply.text,
            reply_markup=inline_keyboard(reply.buttons),
            reply_to_message_id=reply_to if i == 0 else None,
        )
        for i, reply in enumerate(replies)
    ]


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply], reply_to: int | None = None) -> None:
    """Show the core's replies in a chat now, one after another."""
    for method in reply_methods(chat_id, replies, reply_to):
        await bot(method)


async def answer_with(bot: Bot, methods: Sequence[TelegramMethod[Any]]) -> Answer:
    """Send all methods but the last and return the last, the update's answer for the transport to send."""
    for method in methods[:-1]:
        await bot(method)
    return methods[-1] if methods else None


def press_methods(callback: CallbackQuery, chat_id: int, replies: Sequence[Reply]) -> list[TelegramMethod[Any]]:
    """A press's answer first (an alert reply becomes its popup, which stops the button's spinner), then messages."""
    alerts = [r for r in replies if r.alert]
    if alerts:
        answer = AnswerCallbackQuery(callback_query_id=callback.id, text=alerts[0].text[:ALERT_MAX], show_alert=True)
    else:
        answer = AnswerCallbackQuery(callback_query_id=callback.id)
    return [answer, *reply_methods(chat_id, [r for r in replies if not r.alert])]


async def answer_press(callback: CallbackQuery, bot: Bot, chat_id: int, replies: Sequence[Reply]) -> None:
    """Answer a button press now: the popup or a silent answer, then the messages."""
    for method in press_methods(callback, chat_id, replies):
        await bot(method)
