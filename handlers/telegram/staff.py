"""Officials in the staff chat: replies to cards, /resolve, /reject and the card buttons."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.core import actions
from bot.core.models import Reply
from bot.core.reception import Reception
from handlers.telegram.files import PhotoTooLarge, archive_photos, largest_sizes
from handlers.telegram.keyboards import answer_press, send_replies
from handlers.telegram.people import official_of
from handlers.telegram.predicates import has_author, is_reply, staff_action

log = logging.getLogger(__name__)

RESIDENT_COMMANDS = ("start", "new", "my", "cancel", "help")


async def in_staff_chat(event: Message | CallbackQuery, reception: Reception) -> bool:
    """The update comes from the default staff chat or a department chat."""
    message = event.message if isinstance(event, CallbackQuery) else event
    return message is not None and await reception.routing.is_staff_chat(message.chat.id)


def build_router() -> Router:
    """The staff chats' router; only updates from those chats reach it."""
    router = Router(name="staff")
    router.message.filter(in_staff_chat, has_author)
    router.callback_query.filter(in_staff_chat)
    router.edited_message.filter(in_staff_chat)

    async def say(bot: Bot, message: Message, reply: Reply) -> None:
        await send_replies(bot, message.chat.id, [reply], reply_to=message.message_id)

    async def target(message: Message, bot: Bot, reception: Reception) -> int | None:
        """The report the message replies to, or None after telling the official why not."""
        _ = reception.locales.get(reception.config.staff_language)
        origin = message.reply_to_message
        if origin is None:
            await say(bot, message, Reply(_("Send this as a reply to the report's card.")))
            return None
        report_id = await reception.staff.report_for_message(message.chat.id, origin.message_id, origin.date)
        if report_id is None:
            await say(bot, message, Reply(_("This message is not a report card. Reply to the card of a report.")))
        return report_id

    async def photos_of(
        message: Message, bot: Bot, reception: Reception, album: list[Message] | None
    ) -> tuple[str, ...] | None:
        if not message.photo:
            return ()
        try:
            return await archive_photos(bot, reception.archive, largest_sizes([m.photo for m in album or [message]]))
        except (PhotoTooLarge, TelegramAPIError) as exc:
            log.warning("staff photo download failed: %s", type(exc).__name__)
            _ = reception.locales.get(reception.config.staff_language)
            await say(bot, message, Reply(_("Could not receive the photo; please send it again.")))
            return None

    @router.message(Command("resolve"))
    async def on_resolve(
        message: Message,
        command: CommandObject,
        bot: Bot,
        reception: Reception,
        album: list[Message] | None = None,
    ) -> None:
        """/resolve TEXT as a reply to a card, ideally as the caption of the after photo."""
        report_id = await target(message, bot, reception)
        if report_id is None:
            return
        photos = await photos_of(message, bot, reception, album)
        if photos is None:
            return
        assert message.from_user is not None
        reply = await reception.staff.resolve(report_id, official_of(message.from_user), command.args or "", photos)
        await say(bot, message, reply)

    @router.message(Command("reject"))
    async def on_reject(message: Message, command: CommandObject, bot: Bot, reception: Reception) -> None:
        """/reject REASON as a reply to a card."""
        report_id = await target(message, bot, reception)
        if report_id is None:
            return
        assert message.from_user is not None
        await say(
            bot,
            message,
            await reception.staff.reject(report_id, official_of(message.from_user), command.args or ""),
        )

    @router.message(Command("history"))
    async def on_history(message: Message, bot: Bot, reception: Reception) -> None:
        """/history as a reply to a card."""
        report_id = await target(message, bot, reception)
        if report_id is not None:
            await say(bot, message, await reception.staff.history(report_id))

    @router.message(Command(*RESIDENT_COMMANDS))
    async def on_resident_command(message: Message, bot: Bot, reception: Reception) -> None:
        """Residents' commands do not work in the staff chat."""
        _ = reception.locales.get(reception.config.staff_language)
        await say(bot, message, Reply(_("This command works in a private chat with the bot.")))

    @router.message(is_reply)
    async def on_reply(message: Message, bot: Bot, reception: Reception, album: list[Message] | None = None) -> None:
        """A reply to one of the bot's messages: the answer to relay to the resident."""
        assert message.reply_to_message is not None
        origin = message.reply_to_message
        if origin.from_user is None or origin.from_user.id != bot.id:
            return  # officials talking to each other
        _ = reception.locales.get(reception.config.staff_language)
        if not (message.text or message.photo):
            await say(bot, message, Reply(_("Only text and photos can be sent to a resident.")))
            return
        if (message.text or "").startswith("/"):
            await say(bot, message, Reply(_("Unknown command. Use /resolve TEXT or /reject REASON.")))
            return
        report_id = await target(message, bot, reception)
        if report_id is None:
            return
        photos = await photos_of(message, bot, reception, album)
        if photos is None:
            return
        assert message.from_user is not None
        text = message.text or message.caption or ""
        # The message's own id: handled twice (its update comes again after a crash), it is relayed once.
        source = f"tg:{message.chat.id}:{message.message_id}"
        await say(
            bot,
            message,
            await reception.staff.answer(report_id, official_of(message.from_user), text, photos, source),
        )

    @router.callback_query(staff_action)
    async def on_press(callback: CallbackQuery, bot: Bot, reception: Reception) -> None:
        """Card buttons and the resolve-without-photo question."""
        action = actions.parse_staff(callback.data)
        _ = reception.locales.get(reception.config.staff_language)
        assert callback.message is not None  # checked by in_staff_chat
        chat_id = callback.message.chat.id
        if action is None or action.arg is None:
            await answer_press(callback.id, bot, chat_id, [Reply(_("This button is no longer valid."), alert=True)])
            return
        official = official_of(callback.from_user)
        staff = reception.staff
        if action.name == "take":
            reply = await staff.take(action.arg, official)
        elif action.name == "history":
            reply = await staff.history(action.arg)
        elif action.name in ("resolve", "reject"):
            reply = staff.hint(action.name, action.arg)
        elif action.name == "rnp":
            reply = await staff.confirm_without_photo(action.arg, official)
        else:
            reply = await staff.cancel_pending(action.arg)
        if action.name in ("rnp", "rnc") and not reply.alert and callback.message is not None:
            # The question stays answered in storage; the stale buttons are only cosmetic.
            with contextlib.suppress(TelegramAPIError):
                await bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=callback.message.message_id, reply_markup=None
                )
        await answer_press(callback.id, bot, chat_id, [reply])

    return router
