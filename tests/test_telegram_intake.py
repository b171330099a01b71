"""Which updates the residents' lane takes, and what it reads from them (the rest goes to aiogram's dispatcher)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from handlers.telegram.resident import resident_step
from handlers.telegram.updates import TgUpdate

RESIDENT = {"id": 42, "is_bot": False, "first_name": "Ivan", "last_name": "Petrov", "language_code": "ru"}
PRIVATE = {"id": 42, "type": "private", "first_name": "Ivan"}
STAFF = {"id": -1001234, "type": "supergroup", "title": "Officials"}


def message(chat: dict[str, Any] = PRIVATE, **fields: Any) -> dict[str, Any]:
    return {"message_id": 5, "date": 1_700_000_000, "chat": chat, "from": RESIDENT, **fields}


def press(under: dict[str, Any] | None, data: str = "r.send") -> dict[str, Any]:
    query: dict[str, Any] = {"id": "77", "from": RESIDENT, "chat_instance": "1", "data": data}
    if under is not None:
        query["message"] = under
    return {"update_id": 3, "callback_query": query}


def test_the_fields_a_step_uses_are_read_and_the_rest_ignored() -> None:
    update = TgUpdate.model_validate(
        {
            "update_id": 9,
            "message": message(
                photo=[
                    {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
                    {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": 90_000},
                ],
                caption="Pothole",
                caption_entities=[{"type": "bold", "offset": 0, "length": 7}],
                forward_origin={"type": "hidden_user", "date": 1, "sender_user_name": "X"},
                a_field_telegram_adds_next_year={"anything": True},
            ),
        }
    )
    assert update.message is not None and update.message.photo is not None
    assert [p.file_id for p in update.message.photo] == ["small", "big"]
    assert update.message.caption == "Pothole"
    assert update.message.from_user is not None
    assert update.message.from_user.full_name == "Ivan Petrov" and update.message.from_user.language_code == "ru"


@pytest.mark.parametrize(
    ("fields", "command"),
    [
        ({"text": "/new"}, "new"),
        ({"text": "/NEW"}, "new"),
        ({"text": "/new@PriemnayaBot"}, "new"),
        ({"text": "/start from-the-city-site"}, "start"),
        ({"text": "/"}, ""),
        ({"text": "new"}, None),
        ({"text": "the lift /stuck"}, None),
        ({"caption": "/category_add Parks"}, "category_add"),
        ({}, None),
    ],
)
def test_commands_are_read_as_telegram_clients_send_them(fields: dict[str, Any], command: str | None) -> None:
    update = TgUpdate.model_validate({"update_id": 1, "message": message(**fields)})
    assert update.message is not None and update.message.command == command


@pytest.mark.parametrize(
    ("raw", "resident"),
    [
        ({"update_id": 1, "message": message(text="The lift is broken")}, True),
        ({"update_id": 1, "message": message(text="/new")}, True),
        ({"update_id": 1, "message": message(text="/unknown")}, True),
        ({"update_id": 1, "message": message(location={"latitude": 55.7, "longitude": 37.6})}, True),
        ({"update_id": 1, "message": message(sticker={"file_id": "s"})}, True),
        ({"update_id": 1, "edited_message": message(text="The lift, fixed")}, True),
        # Administrators' commands, even in private and as a caption, go to aiogram's admin router.
        ({"update_id": 1, "message": message(text="/category_add Parks")}, False),
        ({"update_id": 1, "message": message(text="/CATEGORIES")}, False),
        ({"update_id": 1, "message": message(caption="/category_hours 1 48", photo=[{"file_id": "p"}])}, False),
        ({"update_id": 1, "message": message(chat=STAFF, text="On our way")}, False),
        ({"update_id": 1, "edited_message": message(chat=STAFF, text="On our way")}, False),
        ({"update_id": 1, "message": {k: v for k, v in message(text="hi").items() if k != "from"}}, False),
        (press(message(text="Check your report")), True),
        (press({"message_id": 5, "date": 0, "chat": PRIVATE}), True),  # a message too old for Telegram to show
        (press(message(chat=STAFF, text="Report #1")), False),
        (press(None), False),  # a press under an inline-mode message: no chat of ours
        ({"update_id": 1, "my_chat_member": {"chat": PRIVATE}}, False),
    ],
)
def test_which_updates_are_a_residents_step(raw: dict[str, Any], resident: bool) -> None:
    assert resident_step(TgUpdate.model_validate(raw)) is resident


@pytest.mark.parametrize(
    "fields",
    [
        {"text": 5},
        {"text": "hi", "photo": "not a list"},
        {"location": {"latitude": "north", "longitude": 37.6}},
        {"chat": {"id": "forty-two", "type": "private"}},
        {"from": {"id": 42}},
    ],
)
def test_a_field_a_step_uses_with_the_wrong_type_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TgUpdate.model_validate({"update_id": 1, "message": {**message(), **fields}})
