"""Who wrote: residents and officials as the core knows them, from Telegram's user objects."""

from __future__ import annotations

from aiogram.types import User

from bot.i18n import pick_language
from bot.models import Messenger, ResidentProfile, ResidentRef
from bot.staff import Official

NAME_MAX = 128


def resident_of(user: User) -> ResidentProfile:
    """A resident's profile: the display name officials see and the language of replies."""
    name = " ".join(user.full_name.split())[:NAME_MAX] or str(user.id)
    return ResidentProfile(ResidentRef(Messenger.TELEGRAM, user.id), name, pick_language(user.language_code))


def official_of(user: User) -> Official:
    """The official acting in the staff chat."""
    return Official(Messenger.TELEGRAM.value, user.id)
