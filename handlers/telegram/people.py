"""Who wrote: residents and officials as the core knows them, from Telegram's user objects."""

from __future__ import annotations

from typing import Protocol

from aiogram.types import User

from bot.core.models import Messenger, Official, ResidentProfile, ResidentRef
from bot.text.clean import display_name
from bot.text.i18n import pick_language


class Person(Protocol):
    """A Telegram user as aiogram's `User` or our `TgUser` has it."""

    @property
    def id(self) -> int: ...

    @property
    def full_name(self) -> str: ...

    @property
    def language_code(self) -> str | None: ...


def resident_of(user: Person) -> ResidentProfile:
    """A resident's profile: the display name officials see and the language of replies."""
    # Cleaned: a direction override in a name would flip the card's "From:" line.
    name = display_name(user.full_name) or str(user.id)
    return ResidentProfile(ResidentRef(Messenger.TELEGRAM, user.id), name, pick_language(user.language_code))


def official_of(user: User) -> Official:
    """The official acting in the staff chat, with the name Telegram shows for them now."""
    name = display_name(user.full_name) or str(user.id)
    return Official(Messenger.TELEGRAM, user.id, name)
