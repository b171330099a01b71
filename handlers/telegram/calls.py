"""The Bot API calls the bot makes most, built as the JSON Telegram documents instead of aiogram's models.

aiogram builds a pydantic model for every call and for every answer, then dumps the call back to a dict: at 500
updates a second that was a third of the bot's CPU. Replies, callback answers, cards sent by file_id and getFile
are plain dicts here; uploads and rare calls keep aiogram's models. Every text the core hands over is HTML with
its user input escaped (bot/formatting.py), hence the parse mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiogram.methods
from aiogram.exceptions import ClientDecodeError
from aiogram.methods import TelegramMethod

from bot.core.models import Button

PARSE_MODE = "HTML"
NO_PREVIEW = {"is_disabled": True}
ALERT_MAX = 200  # Telegram's limit for a callback answer's text


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API call: the method's name and its JSON parameters."""

    method: str
    params: dict[str, Any]

    def as_webhook_answer(self) -> dict[str, Any]:
        """The call as the body of a webhook answer, which Telegram then makes for us."""
        return {"method": self.method, **self.params}

    def as_method(self) -> TelegramMethod[Any]:
        """aiogram's model of the call, to name it in aiogram's errors (not validated: it is never sent)."""
        cls = getattr(aiogram.methods, self.method[:1].upper() + self.method[1:])
        return cls.model_construct(**self.params)  # type: ignore[no-any-return]


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any] | None:
    """Buttons as an inline keyboard (None when there are none)."""
    if not rows:
        return None
    return {"inline_keyboard": [[{"text": b.label, "callback_data": b.action} for b in row] for row in rows]}


def reply_parameters(message_id: int) -> dict[str, Any]:
    """A reply to a message, sent even if that message was deleted meanwhile."""
    return {"message_id": message_id, "allow_sending_without_reply": True}


def send_message(
    chat_id: int, text: str, buttons: tuple[tuple[Button, ...], ...] = (), reply_to: int | None = None
) -> Call:
    """sendMessage with HTML text, no link preview, the buttons if any, as a reply if asked."""
    params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": PARSE_MODE}
    params["link_preview_options"] = NO_PREVIEW
    if (markup := keyboard(buttons)) is not None:
        params["reply_markup"] = markup
    if reply_to is not None:
        params["reply_parameters"] = reply_parameters(reply_to)
    return Call("sendMessage", params)


def send_photo(
    chat_id: int,
    file_id: str,
    caption: str,
    buttons: tuple[tuple[Button, ...], ...] = (),
    reply_to: int | None = None,
) -> Call:
    """sendPhoto of a photo Telegram already has, with an HTML caption and the buttons if any."""
    params: dict[str, Any] = {"chat_id": chat_id, "photo": file_id}
    if caption:
        params["caption"] = caption
        params["parse_mode"] = PARSE_MODE
    if (markup := keyboard(buttons)) is not None:
        params["reply_markup"] = markup
    if reply_to is not None:
        params["reply_parameters"] = reply_parameters(reply_to)
    return Call("sendPhoto", params)


def send_media_group(chat_id: int, file_ids: Sequence[str], caption: str, reply_to: int | None = None) -> Call:
    """sendMediaGroup of photos Telegram already has, the caption under the first."""
    media: list[dict[str, Any]] = [{"type": "photo", "media": file_id} for file_id in file_ids]
    if caption and media:
        media[0] = {**media[0], "caption": caption, "parse_mode": PARSE_MODE}
    params: dict[str, Any] = {"chat_id": chat_id, "media": media}
    if reply_to is not None:
        params["reply_parameters"] = reply_parameters(reply_to)
    return Call("sendMediaGroup", params)


def edit_text(chat_id: int, message_id: int, text: str, buttons: tuple[tuple[Button, ...], ...]) -> Call:
    """editMessageText: a text message's new HTML text and buttons (no buttons: they go)."""
    params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text, "parse_mode": PARSE_MODE}
    params["link_preview_options"] = NO_PREVIEW
    params["reply_markup"] = keyboard(buttons) or {"inline_keyboard": []}
    return Call("editMessageText", params)


def edit_caption(chat_id: int, message_id: int, caption: str, buttons: tuple[tuple[Button, ...], ...]) -> Call:
    """editMessageCaption: a photo's new HTML caption and buttons (no buttons: they go)."""
    params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "caption": caption}
    params["parse_mode"] = PARSE_MODE
    params["reply_markup"] = keyboard(buttons) or {"inline_keyboard": []}
    return Call("editMessageCaption", params)


def clear_buttons(chat_id: int, message_id: int) -> Call:
    """editMessageReplyMarkup without a keyboard: the message's buttons go."""
    return Call("editMessageReplyMarkup", {"chat_id": chat_id, "message_id": message_id})


def answer_callback(callback_id: str, alert: str | None = None) -> Call:
    """answerCallbackQuery: a popup with the text if given, else a silent answer that stops the spinner."""
    params: dict[str, Any] = {"callback_query_id": callback_id}
    if alert is not None:
        params["text"] = alert[:ALERT_MAX]
        params["show_alert"] = True
    return Call("answerCallbackQuery", params)


_ONE_MESSAGE = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage"})


def messages_in(call: Call) -> int:
    """How many messages the call posts, as Telegram's limits count them (0 for answers, edits and reads)."""
    if call.method in _ONE_MESSAGE:
        return 1
    if call.method == "sendMediaGroup":
        media = call.params.get("media")
        return len(media) if isinstance(media, list) else 1
    return 0


def get_file(file_id: str) -> Call:
    """getFile: where to download a file from."""
    return Call("getFile", {"file_id": file_id})


def _malformed(what: str, result: Any) -> ClientDecodeError:
    return ClientDecodeError(f"Telegram's answer has no {what}", ValueError(what), result)


def message_id_of(result: Any) -> int:
    """The id of a message Telegram says it sent (the answer is checked, not trusted)."""
    value = result.get("message_id") if isinstance(result, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _malformed("message_id", result)


def message_ids_of(result: Any) -> list[int]:
    """The ids of the messages of a sent album."""
    if not isinstance(result, list):
        raise _malformed("message list", result)
    return [message_id_of(item) for item in result]


def file_path_of(result: Any) -> str | None:
    """getFile's path, or None when Telegram will not hand the file over (too large)."""
    if not isinstance(result, dict):
        raise _malformed("file", result)
    path = result.get("file_path")
    if path is None:
        return None
    if not isinstance(path, str) or not path or ".." in path.split("/"):
        raise _malformed("file_path", result)
    return path
