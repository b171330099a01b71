"""The few fields of a Telegram update that a resident's step uses, read straight from the update's JSON.

Nearly every update a city's bot receives is a resident's step in a private chat. aiogram's `Update` model reads
all of Telegram's fields into objects bound to the bot: measured with py-spy on the saturated webhook, that and
its router tree were about a third of the bot's CPU, against a twentieth for these models. Fields we do not use
are ignored; the ones we do are validated, as aiogram would (a payload is never trusted), and bounded by
Telegram's own limits (texts far above them), so a forged update cannot hand the core megabytes.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator

PRIVATE = "private"
# Telegram sends at most 4,096 characters of text and 1,024 of caption; a forged update is cut far above that, so a
# text too long for a report is still told its own length, and no update hands the core megabytes.
TEXT_BOUND = 65_536
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's own limit


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class TgUser(_Model):
    """Who sent a message or pressed a button."""

    id: int
    is_bot: bool = False
    first_name: str
    last_name: str | None = None
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        """First and last name, as Telegram shows them."""
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


class TgChat(_Model):
    """The chat of a message."""

    id: int
    type: str


class TgPhotoSize(_Model):
    """One size of a photo."""

    file_id: str
    file_size: int | None = None


class TgLocation(_Model):
    """A point on the map."""

    latitude: float
    longitude: float


class TgVenue(_Model):
    """A point with its name and address."""

    location: TgLocation
    title: str
    address: str


class TgReplied(_Model):
    """The message a message replies to: its id, who sent it and when."""

    message_id: int
    from_user: TgUser | None = Field(default=None, alias="from")
    date: datetime | None = None


class TgMessage(_Model):
    """A message, or the message under a pressed button (for which Telegram may give only its chat and id)."""

    message_id: int
    chat: TgChat
    from_user: TgUser | None = Field(default=None, alias="from")
    text: str | None = None
    caption: str | None = None
    photo: list[TgPhotoSize] | None = None
    location: TgLocation | None = None
    venue: TgVenue | None = None
    media_group_id: str | None = None
    reply_to_message: TgReplied | None = None

    @field_validator("text")
    @classmethod
    def _bound_text(cls, text: str | None) -> str | None:
        return text[:TEXT_BOUND] if text is not None else None

    @field_validator("caption")
    @classmethod
    def _bound_caption(cls, caption: str | None) -> str | None:
        return caption[:TEXT_BOUND] if caption is not None else None

    @cached_property  # asked by the routing (`resident_step`) and again by the step itself
    def command(self) -> str | None:
        """The command's name, lowercased and without a `@bot` mention, if the text (or caption) is a command."""
        words = (self.text or self.caption or "").split(maxsplit=1)
        if not words or not words[0].startswith("/"):
            return None
        return words[0][1:].partition("@")[0].lower()


class TgCallbackQuery(_Model):
    """A press of an inline button."""

    id: str
    from_user: TgUser = Field(alias="from")
    message: TgMessage | None = None
    data: str | None = None

    @field_validator("data")
    @classmethod
    def _bound_data(cls, data: str | None) -> str | None:
        # Longer data than Telegram allows is none of ours: the core answers it as a stale button.
        if data is None or len(data) > CALLBACK_DATA_LIMIT or len(data.encode(errors="replace")) > CALLBACK_DATA_LIMIT:
            return None
        return data


class TgUpdate(_Model):
    """An update, with the kinds a resident's step can be."""

    update_id: int
    message: TgMessage | None = None
    edited_message: TgMessage | None = None
    callback_query: TgCallbackQuery | None = None
