"""Bot API method implementations (``/bot<token>/<method>``) on top of EmulatorState."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request, too_many_requests
from .html_check import EntityParseError, parse_html, strip_text
from .media import StoredFile
from .state import CONFLICT_DESCRIPTION, ChatState, EmulatorState, Poller, now_ts

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
# setWebhook max_connections: Telegram's default and allowed range.
WEBHOOK_DEFAULT_CONNECTIONS = 40
WEBHOOK_MAX_CONNECTIONS = 100
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
# Fields of a message that are content (copied by copyMessage), as opposed to envelope.
_ENVELOPE = frozenset({
    "message_id", "date", "chat", "from", "sender_chat", "reply_to_message", "forward_origin", "edit_date",
    "reply_markup", "media_group_id", "message_thread_id", "is_topic_message", "author_signature",
    "link_preview_options", "external_reply", "quote",
})
_SERVICE_FIELDS = frozenset({
    "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo", "delete_chat_photo",
    "group_chat_created", "supergroup_chat_created", "pinned_message", "migrate_to_chat_id",
})
_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
# sendDocument & co: method -> (parameter name, message field / file kind).
_MEDIA_METHODS = {
    "senddocument": "document",
    "sendvideo": "video",
    "sendvoice": "voice",
    "sendaudio": "audio",
    "sendanimation": "animation",
    "sendsticker": "sticker",
    "sendvideonote": "video_note",
}


@dataclass
class Upload:
    """A file part of a multipart request."""

    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class CallContext:
    """Everything a handler needs about one Bot API call."""

    bot_id: int
    method: str
    params: dict[str, Any]
    files: dict[str, Upload] = field(default_factory=dict)
    is_stale: Callable[[], bool] = lambda: False


Handler = Callable[[CallContext], Awaitable[Any]]


# ---------------------------------------------------------------------- parameter helpers

def p_int(ctx: CallContext, name: str, required: bool = False) -> int | None:
    """An integer parameter (form values arrive as strings)."""
    value = ctx.params.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f'parameter "{name}" is required')
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f'invalid parameter "{name}": number expected') from None


def p_float(ctx: CallContext, name: str) -> float:
    """A required float parameter."""
    value = ctx.params.get(name)
    if value is None or value == "":
        raise bad_request(f'parameter "{name}" is required')
    try:
        return float(value)
    except (TypeError, ValueError):
        raise bad_request(f'invalid parameter "{name}": number expected') from None


def p_bool(ctx: CallContext, name: str) -> bool:
    """A boolean parameter ("true"/"1" in forms, true in JSON)."""
    value = ctx.params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def p_str(ctx: CallContext, name: str) -> str | None:
    """A string parameter (None when absent)."""
    value = ctx.params.get(name)
    return None if value is None else str(value)


def p_json(ctx: CallContext, name: str, what: str | None = None) -> Any:
    """A JSON-serialized parameter; accepts already-decoded values from JSON bodies."""
    value = ctx.params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(f"can't parse {what or name} JSON object") from None
    return value


# ---------------------------------------------------------------------- the API

class BotApi:
    """Implements the Bot API methods; ``handlers`` maps lower-case method names to coroutines."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.handlers: dict[str, Handler] = {}
        self.names: dict[str, str] = {}
        for name, handler in [
            ("getMe", self.get_me), ("getUpdates", self.get_updates), ("setWebhook", self.set_webhook),
            ("deleteWebhook", self.delete_webhook), ("getWebhookInfo", self.get_webhook_info),
            ("setMyCommands", self.set_my_commands), ("getMyCommands", self.get_my_commands),
            ("deleteMyCommands", self.delete_my_commands), ("getChat", self.get_chat),
            ("getChatMember", self.get_chat_member),
            ("sendMessage", self.send_message), ("sendPhoto", self.send_photo),
            ("sendMediaGroup", self.send_media_group), ("sendLocation", self.send_location),
            ("sendChatAction", self.send_chat_action), ("getFile", self.get_file),
            ("answerCallbackQuery", self.answer_callback_query), ("editMessageText", self.edit_message_text),
            ("editMessageCaption", self.edit_message_caption),
            ("editMessageReplyMarkup", self.edit_message_reply_markup), ("deleteMessage", self.delete_message),
            ("copyMessage", self.copy_message), ("forwardMessage", self.forward_message),
            ("close", self.close), ("logOut", self.log_out),
            ("sendDocument", self.send_media), ("sendVideo", self.send_media), ("sendVoice", self.send_media),
            ("sendAudio", self.send_media), ("sendAnimation", self.send_media), ("sendSticker", self.send_media),
            ("sendVideoNote", self.send_media),
        ]:
            self.handlers[name.lower()] = handler
            self.names[name.lower()] = name

    # ------------------------------------------------------------------ shared building blocks

    def _format(self, ctx: CallContext, text: str | None, parse_mode: str | None, entities_param: str,
                limit: int, too_long: str) -> tuple[str, list[dict[str, Any]]]:
        """Apply parse_mode and Telegram's trimming/length rules; returns (plain text, entities)."""
        text = text or ""
        mode = (parse_mode or "").lower()
        entities: list[dict[str, Any]]
        if mode == "html":
            try:
                text, entities = parse_html(text, strict=self.state.strict_html)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown modes are passed through unparsed: the project's bot uses HTML.
            entities = p_json(ctx, entities_param) or []
        else:
            raise bad_request(f"unsupported parse_mode {parse_mode!r}")
        text, entities = strip_text(text, entities)
        if len(text) > limit:
            raise bad_request(too_long)
        return text, entities

    def _text_content(self, ctx: CallContext, key: str = "text") -> tuple[dict[str, Any], str | None]:
        """Message text fields from ``text``/``parse_mode``; raises on empty/too long/bad HTML."""
        raw = p_str(ctx, key)
        text, entities = self._format(ctx, raw, p_str(ctx, "parse_mode"), "entities", MAX_TEXT,
                                      "message is too long")
        if not text:
            raise bad_request("message text is empty")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content, raw

    def _caption_content(self, ctx: CallContext) -> dict[str, Any]:
        """Caption fields from the call's ``caption``/``parse_mode`` parameters."""
        return self._caption(ctx, p_str(ctx, "caption"), p_str(ctx, "parse_mode"))

    def _caption(self, ctx: CallContext, caption: str | None, parse_mode: str | None) -> dict[str, Any]:
        """Caption fields (possibly empty) from a caption and its parse_mode."""
        if caption is None:
            return {}
        text, entities = self._format(ctx, caption, parse_mode, "caption_entities", MAX_CAPTION,
                                      "message caption is too long")
        content: dict[str, Any] = {}
        if text:
            content["caption"] = text
            if entities:
                content["caption_entities"] = entities
        return content

    def _reply_markup(self, ctx: CallContext) -> tuple[Any, dict[str, Any] | None]:
        """Validate reply_markup; returns (markup as sent, inline markup to embed in the Message)."""
        markup = p_json(ctx, "reply_markup", "reply keyboard markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("can't parse inline keyboard button: field \"inline_keyboard\" must be an Array")
            for row in rows:
                for button in row:
                    self._check_inline_button(button)
            # Only inline keyboards are echoed back in Message.reply_markup.
            return markup, markup
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("can't parse keyboard button: field \"keyboard\" must be an Array")
            for row in rows:
                for button in row:
                    if not (isinstance(button, str) or (isinstance(button, dict) and button.get("text"))):
                        raise bad_request("can't parse keyboard button: Text must be non-empty")
        elif not ({"remove_keyboard", "force_reply"} & markup.keys()):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup, None

    @staticmethod
    def _check_inline_button(button: Any) -> None:
        if not isinstance(button, dict) or not button.get("text"):
            raise bad_request("can't parse inline keyboard button: Text must be non-empty")
        kinds = {"url", "callback_data", "web_app", "login_url", "switch_inline_query",
                 "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                 "callback_game", "pay"} & button.keys()
        if not kinds:
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = button["callback_data"]
            size = len(str(data).encode("utf-8"))
            if not isinstance(data, str) or size < 1 or size > MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url):
                raise bad_request("BUTTON_URL_INVALID")

    def _reply_to(self, ctx: CallContext, chat: ChatState) -> dict[str, Any] | None:
        """The message being replied to (reply_parameters or legacy reply_to_message_id)."""
        params = p_json(ctx, "reply_parameters")
        allow_missing = p_bool(ctx, "allow_sending_without_reply")
        if isinstance(params, dict):
            message_id = params.get("message_id")
            allow_missing = bool(params.get("allow_sending_without_reply", allow_missing))
        else:
            message_id = p_int(ctx, "reply_to_message_id")
        if message_id is None:
            return None
        original = self.state.find_message(chat.id, int(message_id))
        if original is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return original

    def _deliver(self, ctx: CallContext, chat: ChatState, content: dict[str, Any], details: dict[str, Any],
                 inline_markup: dict[str, Any] | None, reply_to: dict[str, Any] | None,
                 count_against_limits: bool = True) -> dict[str, Any]:
        """Store a bot message, log it and return the Message object."""
        if count_against_limits:
            self._spend(chat, 1)
        if inline_markup is not None:
            content["reply_markup"] = inline_markup
        preview = p_json(ctx, "link_preview_options")
        if isinstance(preview, dict) and "text" in content:
            content["link_preview_options"] = preview
        message = self.state.store_message(chat, self.state.bot_user(ctx.bot_id), content, reply_to,
                                           p_int(ctx, "message_thread_id"))
        self.state.record_sent(self.names[ctx.method], chat.id, message, details)
        return message

    def _spend(self, chat: ChatState, n: int) -> None:
        retry_after = self.state.limiter.acquire(chat.id, chat.type, n)
        if retry_after is not None:
            raise too_many_requests(retry_after)

    def _common_details(self, ctx: CallContext, markup: Any) -> dict[str, Any]:
        return {
            "parse_mode": p_str(ctx, "parse_mode"),
            "reply_markup": markup,
            "message_thread_id": p_int(ctx, "message_thread_id"),
            "disable_notification": p_bool(ctx, "disable_notification"),
            "link_preview_options": p_json(ctx, "link_preview_options"),
            "disable_web_page_preview": p_bool(ctx, "disable_web_page_preview"),
        }

    def _input_file(self, ctx: CallContext, value: Any, param: str) -> tuple[Upload | None, StoredFile | None]:
        """Resolve an InputFile-or-string: (upload, None) for new bytes, (None, stored) for a file_id."""
        upload: Upload | None = None
        if param in ctx.files:
            upload = ctx.files[param]
        elif isinstance(value, str) and value.startswith("attach://"):
            upload = ctx.files.get(value[len("attach://"):])
            if upload is None:
                raise bad_request(f"there is no {param} in the request")
        elif isinstance(value, str) and re.match(r"^https?://", value):
            # No internet here: stand in for the download with placeholder bytes.
            upload = Upload(f"emulator placeholder for {value}".encode(), value.rsplit("/", 1)[-1] or None, None)
        elif isinstance(value, str) and value:
            stored = self.state.files.get(value)
            if stored is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return None, stored
        else:
            raise bad_request(f"there is no {param} in the request")
        if not upload.data:
            raise bad_request("file must be non-empty")
        return upload, None

    def _photo_sizes(self, ctx: CallContext, value: Any, param: str = "photo") -> list[dict[str, Any]]:
        upload, stored = self._input_file(ctx, value, param)
        if upload is not None:
            return self.state.files.make_photo(upload.data)
        assert stored is not None
        sizes = self.state.files.photo_sets.get(stored.file_id)
        if sizes is None:
            raise bad_request(f"can't use file of type {stored.kind.capitalize()} as Photo")
        return [dict(s) for s in sizes]

    # ------------------------------------------------------------------ identity / updates

    async def get_me(self, ctx: CallContext) -> Any:
        """getMe: the bot user derived from the token."""
        return self.state.get_me(ctx.bot_id)

    async def get_updates(self, ctx: CallContext) -> Any:
        """getUpdates with offset confirmation, limit, allowed_updates and long polling."""
        state = self.state
        if state.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = p_int(ctx, "offset")
        limit = min(max(p_int(ctx, "limit") or 100, 1), 100)
        timeout = max(p_int(ctx, "timeout") or 0, 0)
        allowed = p_json(ctx, "allowed_updates")
        if isinstance(allowed, list):
            # Telegram remembers the last allowed_updates; [] means "the default set".
            state.allowed_updates = [str(a) for a in allowed] or None

        current = state.poller
        if current is not None and not current.is_stale():
            if state.conflict_mode == "reject_new":
                raise ApiError(409, CONFLICT_DESCRIPTION)
            # Telegram's real behaviour: the newer request wins, the older one gets the 409.
            current.terminated.set()
        me = Poller(is_stale=ctx.is_stale)
        state.poller = me
        try:
            state.confirm_updates(offset)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                event = state.updates_changed
                if me.terminated.is_set():
                    raise ApiError(409, CONFLICT_DESCRIPTION)
                ready = state.pending_updates(limit)
                remaining = deadline - loop.time()
                if ready or remaining <= 0:
                    return ready
                waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(me.terminated.wait())]
                try:
                    await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            if state.poller is me:
                state.poller = None

    async def set_webhook(self, ctx: CallContext) -> Any:
        """setWebhook: the emulator's webhook pusher then POSTs updates there; getUpdates answers 409.

        The calling bot's id is kept so the pusher can execute the bot's webhook answers as its calls.
        """
        url = p_str(ctx, "url") or ""
        if not url:
            # An empty url is Telegram's other way of saying deleteWebhook.
            return await self.delete_webhook(ctx)
        connections = min(max(p_int(ctx, "max_connections") or WEBHOOK_DEFAULT_CONNECTIONS, 1),
                          WEBHOOK_MAX_CONNECTIONS)
        allowed = p_json(ctx, "allowed_updates")
        self.state.webhook = {"url": url, "secret_token": p_str(ctx, "secret_token"), "allowed_updates": allowed,
                              "max_connections": connections, "bot_id": ctx.bot_id}
        if isinstance(allowed, list):
            # One allowed_updates setting serves both delivery modes, as in Telegram.
            self.state.allowed_updates = [str(a) for a in allowed] or None
        if p_bool(ctx, "drop_pending_updates"):
            self.state.updates.clear()
        self.state._notify_updates()  # wake the webhook pusher
        return True

    async def delete_webhook(self, ctx: CallContext) -> Any:
        """deleteWebhook (optionally dropping pending updates); in-flight webhook POSTs may still finish."""
        self.state.webhook = {"url": ""}
        if p_bool(ctx, "drop_pending_updates"):
            self.state.updates.clear()
        self.state._notify_updates()  # wake the webhook pusher and any long poll
        return True

    async def get_webhook_info(self, ctx: CallContext) -> Any:
        """getWebhookInfo: url, pending_update_count and the pusher's delivery stats."""
        webhook = self.state.webhook
        pending = self.state.pending_updates(max(len(self.state.updates), 1))
        info: dict[str, Any] = {"url": webhook.get("url") or "", "has_custom_certificate": False,
                                "pending_update_count": len(pending)}
        if webhook.get("url"):
            info["max_connections"] = webhook.get("max_connections", WEBHOOK_DEFAULT_CONNECTIONS)
        for key in ("last_error_date", "last_error_message", "allowed_updates"):
            if webhook.get(key):
                info[key] = webhook[key]
        return info

    # ------------------------------------------------------------------ commands / chats

    @staticmethod
    def _commands_key(ctx: CallContext) -> str:
        scope = p_json(ctx, "scope") or {"type": "default"}
        return json.dumps([scope, p_str(ctx, "language_code") or ""], sort_keys=True)

    async def set_my_commands(self, ctx: CallContext) -> Any:
        """setMyCommands: validated like Telegram and stored per scope and language."""
        commands = p_json(ctx, "commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_NAME_RE.match(str(cmd.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.state.commands[self._commands_key(ctx)] = commands
        return True

    async def get_my_commands(self, ctx: CallContext) -> Any:
        """getMyCommands for a scope and language."""
        return self.state.commands.get(self._commands_key(ctx), [])

    async def delete_my_commands(self, ctx: CallContext) -> Any:
        """deleteMyCommands for a scope and language."""
        self.state.commands.pop(self._commands_key(ctx), None)
        return True

    async def get_chat(self, ctx: CallContext) -> Any:
        """getChat for chats the emulator knows (400 for an upgraded group, 403 where the bot was kicked)."""
        return self.state.readable_chat(ctx.params.get("chat_id")).to_full_info()

    async def get_chat_member(self, ctx: CallContext) -> Any:
        """getChatMember: the bot itself (member or administrator) or a user the emulator knows."""
        chat = self.state.readable_chat(ctx.params.get("chat_id"))
        return self.state.chat_member(chat, p_int(ctx, "user_id", required=True) or 0, ctx.bot_id)

    # ------------------------------------------------------------------ sending

    async def send_message(self, ctx: CallContext) -> Any:
        """sendMessage."""
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        content, raw = self._text_content(ctx)
        markup, inline = self._reply_markup(ctx)
        reply_to = self._reply_to(ctx, chat)
        details = {**self._common_details(ctx, markup), "text": raw}
        return self._deliver(ctx, chat, content, details, inline, reply_to)

    async def send_photo(self, ctx: CallContext) -> Any:
        """sendPhoto: multipart upload, attach:// part or an existing file_id."""
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        caption = self._caption_content(ctx)
        markup, inline = self._reply_markup(ctx)
        reply_to = self._reply_to(ctx, chat)
        photo = self._photo_sizes(ctx, ctx.params.get("photo"))
        details = {**self._common_details(ctx, markup), "caption": p_str(ctx, "caption")}
        return self._deliver(ctx, chat, {"photo": photo, **caption}, details, inline, reply_to)

    async def send_media(self, ctx: CallContext) -> Any:
        """sendDocument / sendVideo / sendVoice / sendAudio / sendAnimation / sendSticker / sendVideoNote."""
        kind = _MEDIA_METHODS[ctx.method]
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        caption = self._caption_content(ctx) if kind not in ("sticker", "video_note") else {}
        markup, inline = self._reply_markup(ctx)
        reply_to = self._reply_to(ctx, chat)
        upload, stored = self._input_file(ctx, ctx.params.get(kind), kind)
        if upload is not None:
            obj = self.state.files.make_media(kind, upload.data, upload.filename, upload.content_type)
        else:
            assert stored is not None
            obj = dict(self.state.files.media_objects.get(stored.file_id) or stored.to_file_json())
            obj.pop("file_path", None)
        details = {**self._common_details(ctx, markup), "caption": p_str(ctx, "caption"),
                   "file_id": obj["file_id"]}
        return self._deliver(ctx, chat, {kind: obj, **caption}, details, inline, reply_to)

    async def send_media_group(self, ctx: CallContext) -> Any:
        """sendMediaGroup: 2-10 items sharing a new media_group_id; returns the list of Messages."""
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        media = p_json(ctx, "media", "media")
        if not isinstance(media, list) or not media:
            raise bad_request("media to send are not specified")
        if not 2 <= len(media) <= 10:
            raise bad_request("media group must include 2-10 items")
        reply_to = self._reply_to(ctx, chat)
        built: list[tuple[dict[str, Any], str | None]] = []
        for item in media:
            if not isinstance(item, dict) or "media" not in item:
                raise bad_request("can't parse InputMedia: media not found")
            kind = str(item.get("type", ""))
            caption = self._caption(ctx, item.get("caption"), item.get("parse_mode"))
            if kind == "photo":
                content: dict[str, Any] = {"photo": self._photo_sizes(ctx, item["media"], "media"), **caption}
            elif kind in ("video", "document", "audio"):
                upload, stored = self._input_file(ctx, item["media"], "media")
                if upload is not None:
                    obj = self.state.files.make_media(kind, upload.data, upload.filename, upload.content_type)
                else:
                    assert stored is not None
                    obj = dict(self.state.files.media_objects.get(stored.file_id) or stored.to_file_json())
                content = {kind: obj, **caption}
            else:
                raise bad_request(f"can't parse InputMedia: unsupported media type \"{kind}\"")
            built.append((content, item.get("caption")))
        self._spend(chat, len(built))
        group_id = self.state.new_media_group_id()
        messages = []
        for content, raw_caption in built:
            content["media_group_id"] = group_id
            details = {**self._common_details(ctx, None), "caption": raw_caption}
            messages.append(self._deliver(ctx, chat, content, details, None, reply_to, count_against_limits=False))
        return messages

    async def send_location(self, ctx: CallContext) -> Any:
        """sendLocation."""
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        lat, lon = p_float(ctx, "latitude"), p_float(ctx, "longitude")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise bad_request("wrong location specified")
        markup, inline = self._reply_markup(ctx)
        reply_to = self._reply_to(ctx, chat)
        location: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if ctx.params.get("horizontal_accuracy") not in (None, ""):
            location["horizontal_accuracy"] = float(ctx.params["horizontal_accuracy"])
        return self._deliver(ctx, chat, {"location": location}, self._common_details(ctx, markup), inline, reply_to)

    async def send_chat_action(self, ctx: CallContext) -> Any:
        """sendChatAction (only logged in the call list)."""
        self.state.target_chat(ctx.params.get("chat_id"))
        if p_str(ctx, "action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def copy_message(self, ctx: CallContext) -> Any:
        """copyMessage: the content without the link to the original; returns a MessageId."""
        message = self._copy_or_forward(ctx, forward=False)
        return {"message_id": message["message_id"]}

    async def forward_message(self, ctx: CallContext) -> Any:
        """forwardMessage: the content plus forward_origin."""
        return self._copy_or_forward(ctx, forward=True)

    def _copy_or_forward(self, ctx: CallContext, forward: bool) -> dict[str, Any]:
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        source = self.state.lookup_chat(ctx.params.get("from_chat_id"))
        if source is None:
            raise bad_request("chat not found")
        self.state.check_migrated(source)
        original = self.state.find_message(source.id, p_int(ctx, "message_id", required=True) or 0)
        verb = "forward" if forward else "copy"
        if original is None:
            raise bad_request(f"message to {verb} not found")
        if _SERVICE_FIELDS & original.keys():
            raise bad_request(f"message can't be {verb}ed" if forward else "message can't be copied")
        content = {k: v for k, v in original.items() if k not in _ENVELOPE}
        markup, inline = (None, None)
        reply_to = None
        if forward:
            sender = original.get("from")
            if sender is not None:
                content["forward_origin"] = {"type": "user", "date": original["date"], "sender_user": sender}
            else:
                content["forward_origin"] = {"type": "chat", "date": original["date"], "sender_chat": source.to_api()}
        else:
            markup, inline = self._reply_markup(ctx)
            reply_to = self._reply_to(ctx, chat)
            if ctx.params.get("caption") is not None and "text" not in content:
                content.pop("caption", None)
                content.pop("caption_entities", None)
                content.update(self._caption_content(ctx))
        details = {**self._common_details(ctx, markup), "text": content.get("text"),
                   "caption": content.get("caption"), "from_chat_id": source.id,
                   "source_message_id": original["message_id"]}
        return self._deliver(ctx, chat, content, details, inline, reply_to)

    # ------------------------------------------------------------------ files

    async def get_file(self, ctx: CallContext) -> Any:
        """getFile: returns a File with file_path for /file/bot<token>/<file_path>."""
        file_id = p_str(ctx, "file_id")
        stored = self.state.files.get(file_id or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return stored.to_file_json()

    # ------------------------------------------------------------------ callbacks

    async def answer_callback_query(self, ctx: CallContext) -> Any:
        """answerCallbackQuery: recorded; a second answer or unknown id is a 400."""
        callback_id = p_str(ctx, "callback_query_id") or ""
        text = p_str(ctx, "text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        answer = {"text": text, "show_alert": p_bool(ctx, "show_alert"),
                  "url": p_str(ctx, "url"), "cache_time": p_int(ctx, "cache_time")}
        self.state.answer_callback(callback_id, answer)
        return True

    # ------------------------------------------------------------------ edits and deletes

    def _editable(self, ctx: CallContext) -> tuple[ChatState, dict[str, Any]]:
        if ctx.params.get("inline_message_id"):
            raise bad_request("message to edit not found")  # inline mode is not emulated
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        message = self.state.find_message(chat.id, p_int(ctx, "message_id", required=True) or 0)
        if message is None:
            raise bad_request("message to edit not found")
        if not (message.get("from") or {}).get("is_bot") or message["from"]["id"] != ctx.bot_id:
            raise bad_request("message can't be edited")
        return chat, message

    def _apply_edit(self, ctx: CallContext, chat: ChatState, message: dict[str, Any], changes: dict[str, Any],
                    removals: set[str], details: dict[str, Any]) -> dict[str, Any]:
        updated = {k: v for k, v in message.items() if k not in removals}
        updated.update(changes)
        if updated == message:
            raise bad_request("message is not modified: specified new message content and reply markup are "
                              "exactly the same as a current content and reply markup of the message")
        updated["edit_date"] = now_ts()
        message.clear()
        message.update(updated)
        self.state.record_sent(self.names[ctx.method], chat.id, message, details)
        return message

    async def edit_message_text(self, ctx: CallContext) -> Any:
        """editMessageText (reply_markup omitted = keyboard removed, as in Telegram)."""
        chat, message = self._editable(ctx)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        content, raw = self._text_content(ctx)
        markup, inline = self._reply_markup(ctx)
        removals = {"entities", "reply_markup"}
        if inline is not None:
            content["reply_markup"] = inline
        details = {**self._common_details(ctx, markup), "text": raw}
        return self._apply_edit(ctx, chat, message, content, removals, details)

    async def edit_message_caption(self, ctx: CallContext) -> Any:
        """editMessageCaption."""
        chat, message = self._editable(ctx)
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        content = self._caption_content(ctx)
        markup, inline = self._reply_markup(ctx)
        if inline is not None:
            content["reply_markup"] = inline
        details = {**self._common_details(ctx, markup), "caption": p_str(ctx, "caption")}
        return self._apply_edit(ctx, chat, message, content, {"caption", "caption_entities", "reply_markup"}, details)

    async def edit_message_reply_markup(self, ctx: CallContext) -> Any:
        """editMessageReplyMarkup (no reply_markup: remove the inline keyboard)."""
        chat, message = self._editable(ctx)
        markup, inline = self._reply_markup(ctx)
        if markup is not None and inline is None:
            raise bad_request("inline keyboard expected")
        changes = {"reply_markup": inline} if inline is not None else {}
        details = self._common_details(ctx, markup)
        return self._apply_edit(ctx, chat, message, changes, {"reply_markup"}, details)

    async def delete_message(self, ctx: CallContext) -> Any:
        """deleteMessage."""
        chat = self.state.target_chat(ctx.params.get("chat_id"))
        message_id = p_int(ctx, "message_id", required=True) or 0
        message = self.state.messages.pop((chat.id, message_id), None)
        if message is None:
            raise bad_request("message to delete not found")
        self.state.record_sent("deleteMessage", chat.id, None, {"message_id": message_id,
                                                               "deleted_message": message})
        return True

    async def close(self, ctx: CallContext) -> Any:
        """close: nothing to close here."""
        return True

    async def log_out(self, ctx: CallContext) -> Any:
        """logOut: nothing to log out of here."""
        return True
