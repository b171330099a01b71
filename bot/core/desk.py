"""The officials' desk: what an official's message or button press in a staff chat means, and whether it may act.

Messenger adapters translate a staff chat's updates into `StaffMessage` and `StaffPress` and show the replies;
every rule lives here, so officials on any messenger work by the same ones:

* a reply (or a command given as a reply) acts on the report of the message it replies to: its card, or a post
  about it;
* a department chat acts only on the reports whose cards it holds; the default staff chat may act on all;
* a button acts only on the report of the card it is on, whatever number its data carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.core import actions
from bot.core.casework import Casework
from bot.core.config import Clock
from bot.core.guard import Bans
from bot.core.models import ChatRef, Official, Report
from bot.core.replied import Replied, report_of
from bot.core.replies import Reply, say
from bot.core.routing import StaffRouting
from bot.text.clean import visible
from bot.text.i18n import Gettext
from bot.text.labels import category_name
from bot.text.rich import Rich, bold, fill, lines
from storage.base import CardIndex, CategoryStore, ReportStore

RESIDENT_COMMANDS = frozenset({"start", "new", "my", "cancel"})
# Commands that act on the report of the message they reply to.
REPORT_COMMANDS = frozenset({"take", "resolve", "reject", "reopen", "move", "duplicate", "history"})
# Commands about a report's resident: as a reply to its card, or with the report's number.
RESIDENT_BANS = frozenset({"ban", "unban"})
STAFF_COMMANDS = REPORT_COMMANDS | RESIDENT_BANS | {"help"}


@dataclass(frozen=True, slots=True)
class StaffMessage:
    """An official's message in a chat: a command with its arguments, or text and photos (archived already)."""

    chat: ChatRef
    official: Official
    message_id: int
    text: str = ""
    command: str | None = None
    args: str = ""
    photos: tuple[str, ...] = ()
    # The message had photos the adapter could not receive.
    photos_failed: bool = False
    # The message had a photo that is empty or not an image.
    photos_bad: bool = False
    # Something that is neither text nor a photo (a sticker, a voice message, a document...).
    other: bool = False
    replied: Replied | None = None


@dataclass(frozen=True, slots=True)
class StaffPress:
    """An official pressed a button under a message of the bot's in a chat."""

    chat: ChatRef
    official: Official
    message_id: int
    data: str | None


@dataclass(frozen=True, slots=True)
class PressAnswer:
    """What a press shows: a popup (the first alert), messages in the chat, and whether its buttons go."""

    replies: list[Reply] = field(default_factory=list)
    clear_buttons: bool = False


class Records(CardIndex, CategoryStore, ReportStore, Protocol):
    """What the desk reads from storage."""


class Desk:
    """Decides what officials' messages and presses do, in the staff chat's language."""

    def __init__(
        self, storage: Records, casework: Casework, bans: Bans, routing: StaffRouting, clock: Clock, staff_: Gettext
    ):
        self._storage = storage
        self._casework = casework
        self._bans = bans
        self._routing = routing
        self._clock = clock
        self._ = staff_

    async def is_staff_chat(self, chat: ChatRef) -> bool:
        """Whether officials work in this chat (the default staff chat or a department chat)."""
        return await self._routing.is_staff_chat(chat)

    async def handle_message(self, message: StaffMessage) -> list[Reply]:
        """What the bot answers an official's message in a staff chat (nothing, for officials talking)."""
        _ = self._
        command = message.command
        if command == "help":
            return [self.help()]
        if command in RESIDENT_COMMANDS:
            return [say(_("This command works in a private chat with the bot."))]
        if command in RESIDENT_BANS:
            return [await self._ban(message)]
        if command is not None and command not in REPORT_COMMANDS:
            if message.replied is None or not message.replied.from_bot:
                return [say(_("Unknown command. /help lists the officials' commands."))]
            return [say(_("Unknown command. Use /resolve TEXT or /reject REASON; /help lists the others."))]
        if command is None and (message.replied is None or not message.replied.from_bot):
            return []  # officials talking to each other
        if command is None and message.other:
            return [say(_("Only text and photos can be sent to a resident."))]
        report = await self._target(message)
        if isinstance(report, Reply):
            return [report]
        if message.photos_failed:
            return [say(_("Could not receive the photo; please send it again."))]
        if message.photos_bad:
            return [say(_("This photo is empty or damaged. Please send another one."))]
        return [await self._act(message, report)]

    async def _target(self, message: StaffMessage) -> Report | Reply:
        """The report the message acts on, or why there is none it may act on."""
        _ = self._
        if message.replied is None:
            return say(_("Send this as a reply to the report's card."))
        report_id = await report_of(self._storage, message.chat, message.replied, self._clock)
        report = await self._storage.get_report(report_id) if report_id is not None else None
        if report is None:
            return say(_("This message is not a report card. Reply to the card of a report."))
        if not self._routing.may_act(message.chat, report):
            return Reply(self._elsewhere(report))
        return report

    async def _ban(self, message: StaffMessage) -> Reply:
        """/ban and /unban: as a reply to a report's card, or with the report's number."""
        _ = self._
        number = message.args.strip().lstrip("#")
        if number:
            if not number.isdigit() or len(number) > 9:
                return say(_("Write /ban NUMBER (or /unban NUMBER), or /ban as a reply to the report's card."))
            report = await self._storage.get_report(int(number))
            if report is None:
                return say(fill(_("Report #{number} does not exist."), number=int(number)))
            if not self._routing.may_act(message.chat, report):
                return Reply(self._elsewhere(report))
        elif message.replied is None:
            return say(_("Write /ban NUMBER (or /unban NUMBER), or /ban as a reply to the report's card."))
        else:
            target = await self._target(message)
            if isinstance(target, Reply):
                return target
            report = target
        if message.command == "ban":
            return await self._bans.ban(report, message.official)
        return await self._bans.unban(report, message.official)

    def _elsewhere(self, report: Report) -> Rich:
        return fill(
            self._("Report #{number} is handled in another staff chat; its card there takes the answers."),
            number=report.id,
        )

    async def _act(self, message: StaffMessage, report: Report) -> Reply:
        _ = self._
        work = self._casework
        official = message.official
        # What residents read of an official's text: no invisible or direction-control characters.
        text, args = visible(message.text), visible(message.args)
        match message.command:
            case None:
                # The message's own id: handled twice (its update comes again after a crash), it is relayed once.
                source = f"{message.chat.key}:{message.message_id}"
                return await work.answer(report.id, official, text, message.photos, source)
            case "take":
                return await work.take(report.id, official)
            case "resolve":
                return await work.resolve(report.id, official, args, message.photos, message.chat)
            case "reject":
                return await work.reject(report.id, official, args)
            case "reopen":
                return await work.reopen(report.id, official, args)
            case "history":
                return await work.history(report.id)
            case "move":
                number = args
                if not (number.isascii() and number.isdigit()) or len(number) > 9:  # "²" is a digit int() refuses
                    return await self._move_usage()
                return await work.move(report.id, official, int(number))
            case "duplicate":
                number = args.lstrip("#")
                if not (number.isascii() and number.isdigit()) or len(number) > 9:  # "²" is a digit int() refuses
                    return say(
                        _("Write /duplicate NUMBER (the report that covers the same problem) as a reply to the card.")
                    )
                return await work.duplicate(report.id, official, int(number))
        raise AssertionError(message.command)

    async def _move_usage(self) -> Reply:
        _ = self._
        categories = await self._storage.list_categories(include_hidden=True)
        listed = [f"{c.id} · {category_name(c, _)}" for c in categories]
        return Reply(lines(_("Write /move NUMBER as a reply to the card. The categories:"), *listed))

    async def handle_press(self, press: StaffPress) -> PressAnswer:
        """What a button press under a message of the bot's in a staff chat does."""
        _ = self._
        invalid = PressAnswer([say(_("This button is no longer valid."), alert=True)])
        action = actions.parse_staff(press.data)
        if action is None or action.arg is None:
            return invalid
        if action.name in ("rnp", "rnc"):
            return await self._pending(press, action.name, action.arg)
        # The report is the card's, never the number the data claims (any client can forge the data).
        report_id = await self._storage.report_for_message(press.chat, press.message_id)
        report = await self._storage.get_report(report_id) if report_id is not None else None
        if report is None or report.id != action.arg:
            return invalid
        if not self._routing.may_act(press.chat, report):
            return PressAnswer([Reply(self._elsewhere(report), alert=True)])
        work = self._casework
        if action.name == "take":
            return PressAnswer([await work.take(report.id, press.official)])
        if action.name == "history":
            return PressAnswer([await work.history(report.id)])
        if not report.status.open:
            return PressAnswer([Reply(work.closed_text(report), alert=True)])
        if action.name == "resolve":
            text = _("To resolve #{number}, reply to its card with a photo captioned /resolve WHAT WAS DONE.")
        else:
            text = _("To reject #{number}, reply to its card with /reject REASON.")
        return PressAnswer([Reply(fill(text, number=report.id), alert=True)])

    async def _pending(self, press: StaffPress, verb: str, pending_id: int) -> PressAnswer:
        """The answer to "resolve without a photo?", from the chat that was asked."""
        _ = self._
        pending = await self._storage.take_pending(pending_id, press.chat)
        if pending is None:
            return PressAnswer([say(_("This question was already answered."), alert=True)])
        if verb == "rnc":
            not_resolved = _("Not resolved. Reply to the card with /resolve and an after photo.")
            return PressAnswer([say(not_resolved)], True)
        report = await self._storage.get_report(pending.report_id)
        if report is not None and not self._routing.may_act(press.chat, report):
            return PressAnswer([Reply(self._elsewhere(report), alert=True)], True)
        return PressAnswer([await self._casework.resolve_pending(pending, press.official)], True)

    def help(self) -> Reply:
        """The officials' commands."""
        _ = self._
        return Reply(
            lines(
                bold(_("Officials' commands")),
                _(
                    "Reply to a report's card (or to a resident's message about it) with text or photos:"
                    " the resident gets it as the answer."
                ),
                _("/take: take the report into work (or over from a colleague)"),
                _("/resolve TEXT: resolved, best as the caption of the after photo"),
                _("/reject REASON: rejected, with the reason the resident reads"),
                _("/reopen: reopen a resolved or rejected report"),
                _("/move NUMBER: move to another category (and its department's chat)"),
                _("/duplicate NUMBER: the same problem as report NUMBER; its resident gets that report's answers"),
                _("/history: every step of the report, with who did it"),
                _("/ban: keep the report's resident out (their messages create nothing); /unban lets them in"),
                _("Each command is written as a reply to the report's card; /ban and /unban also take a number."),
                _(
                    "/stats [PERIOD] [CATEGORY_ID]: the figures with a chart; /problems [PERIOD]: where reports"
                    " cluster; /export [PERIOD] [names]: CSV and XLSX (administrators). PERIOD: today, week, month,"
                    " 7d, 30d or YYYY-MM-DD..YYYY-MM-DD."
                ),
            )
        )
