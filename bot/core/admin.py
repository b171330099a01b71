"""Administrators configure categories with commands; changes take effect at once."""

from __future__ import annotations

from bot.core.config import CoreConfig
from bot.core.models import Category, Reply
from bot.core.routing import StaffRouting
from bot.text.formatting import esc
from bot.text.i18n import Gettext
from bot.text.labels import category_name
from storage.base import NotFound, Storage

NAME_MAX = 60
HOURS_MAX = 24 * 60

COMMANDS = (
    "categories",
    "category_add",
    "category_rename",
    "category_hide",
    "category_show",
    "category_photo",
    "category_hours",
    "category_chat",
)


class CategoryAdmin:
    """The category commands of administrators."""

    def __init__(self, storage: Storage, config: CoreConfig, default_answer_hours: int, routing: StaffRouting) -> None:
        self._routing = routing
        self._storage = storage
        self._config = config
        self._default_hours = default_answer_hours

    def is_admin(self, user_id: int) -> bool:
        """Whether this Telegram user may configure the bot."""
        return user_id in self._config.admin_ids

    async def handle(
        self, user_id: int, command: str, args: str | None, _: Gettext, group_chat_id: int | None = None
    ) -> Reply:
        """Run an admin command and say what changed; refuse anyone who is not an administrator.

        `group_chat_id` is the group the command was written in, if any: `/category_chat ID` there routes
        the category to that group.
        """
        if not self.is_admin(user_id):
            return Reply(_("Only administrators can change categories."))
        args = (args or "").strip()
        try:
            if command == "categories":
                return await self._list(_)
            if command == "category_add":
                name = self._name(args, _)
                category = await self._storage.add_category(name, self._default_hours)
                return Reply(_("Category added:") + "\n" + self._line(category, _))
            number, _sep, rest = args.partition(" ")
            category_id = self._id(number, _)
            if command == "category_rename":
                category = await self._storage.update_category(category_id, name=self._name(rest, _))
            elif command == "category_hide":
                category = await self._storage.update_category(category_id, hidden=True)
            elif command == "category_show":
                category = await self._storage.update_category(category_id, hidden=False)
            elif command == "category_photo":
                category = await self._storage.update_category(category_id, photo_required=self._switch(rest, _))
            elif command == "category_hours":
                category = await self._storage.update_category(category_id, answer_hours=self._hours(rest, _))
            elif command == "category_chat":
                chat = self._chat(rest, group_chat_id, _)
                category = await self._storage.update_category(
                    category_id, staff_chat_id=None if chat == self._config.staff_chat_id else chat
                )
                self._routing.invalidate()
            else:
                raise _Usage(_("Unknown command."))
        except _Usage as usage:
            return Reply(str(usage))
        except NotFound:
            return Reply(_("There is no category with this number. See /categories."))
        return Reply(_("Category changed:") + "\n" + self._line(category, _))

    async def _list(self, _: Gettext) -> Reply:
        categories = await self._storage.list_categories(include_hidden=True)
        lines = [_("<b>Categories</b>")] + [self._line(c, _) for c in categories]
        lines += [
            "",
            _(
                "/category_add NAME, /category_rename ID NAME, /category_hide ID, /category_show ID,"
                " /category_photo ID on|off, /category_hours ID HOURS, /category_chat ID [CHAT_ID|off]"
            ),
        ]
        return Reply("\n".join(lines))

    @staticmethod
    def _line(c: Category, _: Gettext) -> str:
        flags = [_("hidden") if c.hidden else _("shown")]
        flags.append(_("photo required") if c.photo_required else _("photo optional"))
        flags.append(_("answer within {hours} h").format(hours=c.answer_hours))
        if c.staff_chat_id is not None:
            flags.append(_("chat {chat_id}").format(chat_id=c.staff_chat_id))
        return f"{c.id}. {esc(category_name(c, _))} ({', '.join(flags)})"

    @staticmethod
    def _name(raw: str, _: Gettext) -> str:
        name = " ".join(raw.split())
        if not name:
            raise _Usage(_("Give the name of the category."))
        if len(name) > NAME_MAX:
            raise _Usage(_("The name is too long: at most {limit} characters.").format(limit=NAME_MAX))
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

    def _chat(self, raw: str, group_chat_id: int | None, _: Gettext) -> int:
        value = raw.strip().lower()
        if value in ("off", "default", "нет"):
            return self._config.staff_chat_id
        if not value and group_chat_id is not None:
            return group_chat_id
        if value.startswith("-") and value[1:].isdigit() and len(value) <= 20:
            return int(value)
        raise _Usage(
            _("Write /category_chat ID in the department's group, /category_chat ID CHAT_ID, or /category_chat ID off.")
        )

    @staticmethod
    def _hours(raw: str, _: Gettext) -> int:
        value = raw.strip()
        if not value.isdigit() or not 1 <= int(value) <= HOURS_MAX:
            raise _Usage(_("Give the answer time in hours, from 1 to {limit}.").format(limit=HOURS_MAX))
        return int(value)


class _Usage(Exception):
    """A command was given wrong arguments; the message says how to use it."""
