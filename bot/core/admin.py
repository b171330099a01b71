"""Administrators configure categories with commands; changes take effect at once.

Administrators' commands work in a private chat with the bot and in the staff chats, and nowhere else, except
`/category_chat ID` written in a group to make it that category's department chat. A route is taken only after
the bot has posted in the chat, so no report is ever sent to a chat that would not take it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from bot.core.config import CoreConfig
from bot.core.models import Category, ChatRef, Messenger
from bot.core.replies import Reply, say
from bot.core.routing import StaffRouting
from bot.text.i18n import Gettext
from bot.text.labels import category_name
from bot.text.rich import Rich, as_rich, bold, fill, lines
from storage.base import CategoryStore, NotFound, RouteStore


class Records(CategoryStore, RouteStore, Protocol):
    """What category admin reads and changes in storage."""


NAME_MAX = 60
HOURS_MAX = 24 * 60
# The shortest term in hours: a few seconds, enough for drills and tests with short terms.
HOURS_MIN = 0.001
DAYS_MAX = 365

COMMANDS = (
    "categories",
    "category_add",
    "category_rename",
    "category_hide",
    "category_show",
    "category_photo",
    "category_hours",
    "category_terms",
    "category_chat",
)


@dataclass(frozen=True, slots=True)
class Probe:
    """Whether the bot could post in a chat; if not, why, and whether the chat moved (a group upgraded)."""

    ok: bool
    reason: str | None = None
    moved_to: ChatRef | None = None


class ChatProbe(Protocol):
    """Posts a short message in a chat to learn whether the bot may post there (a messenger adapter's)."""

    async def probe(self, chat: ChatRef, text: Rich) -> Probe: ...


@dataclass(frozen=True, slots=True)
class AdminCommand:
    """An administrator's command: who wrote it, in which chat, and whether that chat is their private one."""

    user_id: int
    chat: ChatRef
    private: bool
    command: str
    args: str = ""


class CategoryAdmin:
    """The category commands of administrators."""

    def __init__(
        self, storage: Records, config: CoreConfig, routing: StaffRouting, probe: ChatProbe, staff_: Gettext
    ) -> None:
        self._routing = routing
        self._storage = storage
        self._config = config
        self._probe = probe
        self._staff_ = staff_

    def is_admin(self, user_id: int) -> bool:
        """Whether this Telegram user may configure the bot."""
        return user_id in self._config.admin_ids

    async def handle(self, command: AdminCommand, _: Gettext) -> Reply:
        """Run an admin command and say what changed; refuse anyone who is not an administrator."""
        if not self.is_admin(command.user_id):
            return say(_("Only administrators can change categories."))
        args = command.args.strip()
        number, _sep, rest = args.partition(" ")
        in_stranger_group = not command.private and not await self._routing.is_staff_chat(command.chat)
        if in_stranger_group and not (command.command == "category_chat" and number and not rest.strip()):
            # Nothing here for strangers' eyes: not even the list of categories and their routes.
            return say(_("Administrators' commands work in a private chat with the bot and in the staff chats."))
        try:
            if command.command == "categories":
                return await self._list(_)
            if command.command == "category_add":
                name = self._name(args, _)
                terms = self._config.terms
                category = await self._storage.add_category(
                    name, self._config.default_answer_hours, terms.default_take_hours, terms.default_resolve_days
                )
                return Reply(lines(_("Category added:"), self._line(category, _)))
            category_id = self._id(number, _)
            if command.command == "category_rename":
                category = await self._storage.update_category(category_id, name=self._name(rest, _))
            elif command.command == "category_hide":
                category = await self._storage.update_category(category_id, hidden=True)
            elif command.command == "category_show":
                category = await self._storage.update_category(category_id, hidden=False)
            elif command.command == "category_photo":
                category = await self._storage.update_category(category_id, photo_required=self._switch(rest, _))
            elif command.command == "category_hours":
                category = await self._storage.update_category(category_id, answer_hours=self._hours(rest, _))
            elif command.command == "category_terms":
                take, answer, resolve = self._terms(rest, _)
                category = await self._storage.update_category(
                    category_id, take_hours=take, answer_hours=answer, resolve_days=resolve
                )
            elif command.command == "category_chat":
                return await self._route(category_id, rest, None if command.private else command.chat, _)
            else:
                raise _Usage(_("Unknown command."))
        except _Usage as usage:
            return Reply(usage.text)
        except NotFound:
            return say(_("There is no category with this number. See /categories."))
        return Reply(lines(_("Category changed:"), self._line(category, _)))

    async def _route(self, category_id: int, raw: str, group: ChatRef | None, _: Gettext) -> Reply:
        """Route a category to a chat once the bot has posted there; to the default staff chat with `off`."""
        category = await self._storage.get_category(category_id)
        if category is None:
            raise NotFound(category_id)
        chat = self._chat(raw, group, _)
        notes: list[Rich | str] = []
        if chat != self._routing.default_chat:
            probe = await self._probe.probe(chat, self._probe_text(category, chat))
            if probe.moved_to is not None:
                notes.append(
                    fill(
                        _("Chat {chat} became a supergroup; its new id is {new}."),
                        chat=chat.chat_id,
                        new=probe.moved_to.chat_id,
                    )
                )
                chat = probe.moved_to
                probe = await self._probe.probe(chat, self._probe_text(category, chat))
            if not probe.ok:
                return Reply(
                    lines(
                        *notes,
                        fill(
                            _("The bot cannot post in chat {chat}: {reason}. Nothing changed."),
                            chat=chat.chat_id,
                            reason=probe.reason or "?",
                        ),
                        _("Add the bot to the group with the right to send messages, then try again."),
                    )
                )
        staff_chat = None if chat == self._routing.default_chat else chat.chat_id
        if staff_chat is not None:
            await self._storage.mend_chat(chat)  # the bot just posted there: a route that broke before is mended
        category = await self._storage.update_category(category_id, staff_chat_id=staff_chat)
        self._routing.invalidate()
        return Reply(lines(*notes, _("Category changed:"), self._line(category, _)))

    def _probe_text(self, category: Category, chat: ChatRef) -> Rich:
        _ = self._staff_
        text = _("This chat ({chat}) now receives the reports of the category {category}.")
        return fill(text, chat=chat.chat_id, category=category_name(category, _))

    async def _list(self, _: Gettext) -> Reply:
        categories = await self._storage.list_categories(include_hidden=True)
        return Reply(
            lines(
                bold(_("Categories")),
                *[self._line(c, _) for c in categories],
                "",
                _(
                    "/category_add NAME, /category_rename ID NAME, /category_hide ID, /category_show ID,"
                    " /category_photo ID on|off, /category_terms ID take=HOURS answer=HOURS resolve=DAYS,"
                    " /category_chat ID [CHAT_ID|off]"
                ),
            )
        )

    @staticmethod
    def _line(c: Category, _: Gettext) -> str:
        flags = [_("hidden") if c.hidden else _("shown")]
        flags.append(_("photo required") if c.photo_required else _("photo optional"))
        flags.append(_("answer within {hours} h").format(hours=_number(c.answer_hours)))
        if c.staff_chat_id is not None:
            flags.append(_("chat {chat_id}").format(chat_id=c.staff_chat_id))
        terms = [
            _("take within {hours} h").format(hours=_number(c.take_hours)),
            _("resolve within {days} working days").format(days=c.resolve_days),
        ]
        # The other two terms under the line, which keeps its form (scripts read it).
        return f"{c.id}. {category_name(c, _)} ({', '.join(flags)})\n    {', '.join(terms)}"

    @staticmethod
    def _name(raw: str, _: Gettext) -> str:
        name = " ".join(raw.split())
        if not name:
            raise _Usage(_("Give the name of the category."))
        if len(name) > NAME_MAX:
            raise _Usage(fill(_("The name is too long: at most {limit} characters."), limit=NAME_MAX))
        return name

    @staticmethod
    def _id(raw: str, _: Gettext) -> int:
        if not raw.isdigit() or len(raw) > 9:
            raise _Usage(_("Give the number of the category first. See /categories."))
        return int(raw)

    @staticmethod
    def _switch(raw: str, _: Gettext) -> bool:
        value = raw.strip().lower()
        if value in ("on", "yes", "1", "да"):
            return True
        if value in ("off", "no", "0", "нет"):
            return False
        raise _Usage(_("Say on or off."))

    def _chat(self, raw: str, group: ChatRef | None, _: Gettext) -> ChatRef:
        value = raw.strip().lower()
        if value in ("off", "default", "нет"):
            return self._routing.default_chat
        if not value and group is not None:
            return group
        if value.startswith("-") and value[1:].isdigit() and len(value) <= 20:
            return ChatRef(Messenger.TELEGRAM, int(value))
        raise _Usage(
            _("Write /category_chat ID in the department's group, /category_chat ID CHAT_ID, or /category_chat ID off.")
        )

    @staticmethod
    def _hours(raw: str, _: Gettext) -> int:
        value = raw.strip()
        if not value.isdigit() or not 1 <= int(value) <= HOURS_MAX:
            raise _Usage(fill(_("Give the answer time in hours, from 1 to {limit}."), limit=HOURS_MAX))
        return int(value)

    @staticmethod
    def _terms(raw: str, _: Gettext) -> tuple[float | None, float | None, int | None]:
        """`take=HOURS answer=HOURS resolve=DAYS`, any of them, in any order."""
        usage = _(
            "Write /category_terms ID take=HOURS answer=HOURS resolve=DAYS (any of the three): hours may be"
            " fractional (take=0.5), days are working days, from 1 to {days}."
        )
        fields = {"take": "take_hours", "answer": "answer_hours", "resolve": "resolve_days"}
        found: dict[str, float | int] = {}
        for item in raw.split():
            key, sep, value = item.partition("=")
            field = fields.get(key.strip().lower())
            if not sep or field is None or field in found:
                raise _Usage(fill(usage, days=DAYS_MAX))
            if field == "resolve_days":
                if not value.isdigit() or not 1 <= int(value) <= DAYS_MAX:
                    raise _Usage(
                        fill(_("Give the resolution term in working days, from 1 to {limit}."), limit=DAYS_MAX)
                    )
                found[field] = int(value)
            else:
                found[field] = _fraction(value, _)
        if not found:
            raise _Usage(fill(usage, days=DAYS_MAX))
        resolve = found.get("resolve_days")
        return found.get("take_hours"), found.get("answer_hours"), int(resolve) if resolve is not None else None


def _fraction(raw: str, _: Gettext) -> float:
    """Hours as an administrator writes them: 4, 0.5 or 0,5."""
    text = raw.strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not HOURS_MIN <= value <= HOURS_MAX or len(text) > 12:
        raise _Usage(
            fill(
                _("Give a term in hours, from {low} to {limit} (fractions allowed: 0.5)."),
                low=str(HOURS_MIN),
                limit=HOURS_MAX,
            )
        )
    return value


def _number(value: float) -> str:
    """Hours without a needless ".0": 4, 0.5."""
    return f"{value:g}"


class _Usage(Exception):
    """A command was given wrong arguments; the message says how to use it."""

    def __init__(self, text: Rich | str) -> None:
        super().__init__("usage")
        self.text = as_rich(text)
