"""Administrators configure categories with commands; changes take effect at once."""

from __future__ import annotations

from bot.config import CoreConfig
from bot.formatting import esc
from bot.i18n import Gettext
from bot.labels import category_name
from bot.models import Category, Reply
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
)


class CategoryAdmin:
    """The category commands of administrators."""

    def __init__(self, storage: Storage, config: CoreConfig, default_answer_hours: int) -> None:
        self._storage = storage
        self._config = config
        self._default_hours = default_answer_hours

    def is_admin(self, user_id: int) -> bool:
        """Whether this Telegram user may configure the bot."""
        return user_id in self._config.admin_ids

    async def handle(self, user_id: int, command: str, args: str | None, _: Gettext) -> Reply:
        """Run an admin command and say what changed; refuse anyone who is not an administrator."""
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
                " /category_photo ID on|off, /category_hours ID HOURS"
            ),
        ]
        return Reply("\n".join(lines))

    @staticmethod
    def _line(c: Category, _: Gettext) -> str:
        flags = [_("hidden") if c.hidden else _("shown")]
        flags.append(_("photo required") if c.photo_required else _("photo optional"))
        flags.append(_("answer within {hours} h").format(hours=c.answer_hours))
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

    @staticmethod
    def _hours(raw: str, _: Gettext) -> int:
        value = raw.strip()
        if not value.isdigit() or not 1 <= int(value) <= HOURS_MAX:
            raise _Usage(_("Give the answer time in hours, from 1 to {limit}.").format(limit=HOURS_MAX))
        return int(value)


class _Usage(Exception):
    """A command was given wrong arguments; the message says how to use it."""
