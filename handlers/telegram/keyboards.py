"""Platform-neutral replies as Telegram messages."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import Button, Reply


def inline_keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard (None when there are none)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=b.label, callback_data=b.action) for b in row] for row in rows]
    )


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply], reply_to: int | None = None) -> None:
    """Show the core's replies in a chat (the first one as a reply to `reply_to` if given)."""
    for i, reply in enumerate(replies):
        await bot.send_message(
            chat_id,
            reply.text,
            reply_markup=inline_keyboard(reply.buttons),
            reply_to_message_id=reply_to if i == 0 else None,
        )


async def answer_press(callback: CallbackQuery, bot: Bot, chat_id: int, replies: Sequence[Reply]) -> None:
    """Answer a button press: an alert reply becomes the popup, the rest are sent as messages."""
    alerts = [r for r in replies if r.alert]
    if alerts:
        await callback.answer(alerts[0].text[:200], show_alert=True)
    else:
        await callback.answer()
    await send_replies(bot, chat_id, [r for r in replies if not r.alert])
