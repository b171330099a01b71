"""aiogram's HTTP session, sending calls without files as one JSON body, and our plain calls (calls.py).

aiogram sends every call as multipart form data, with each nested object serialised to a string of its own;
the Bot API takes JSON bodies as well, and building one is several times cheaper. Calls with uploads keep
aiogram's multipart path.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import ClientDecodeError, TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientError, ClientTimeout

from bot.core.models import Messenger
from bot.delivery.budgets import Budgets, sending
from handlers.telegram.calls import Call, get_file, messages_in

JSON_HEADERS = {"Content-Type": "application/json"}
DOWNLOAD_CHUNK = 64 * 1024
# pydantic caches a parametrised model like Response[Message] only weakly: once collected, the next call builds
# its schema again (a few ms, on every Bot API answer). Holding each one here keeps its cache entry alive.
_RESPONSE_TYPES: dict[Any, type[Response[Any]]] = {}


class JsonSession(AiohttpSession):
    """An `AiohttpSession` that posts JSON unless the call uploads a file, and paces the messages `perform` sends."""

    budgets: Budgets | None = None

    def pace_with(self, budgets: Budgets) -> None:
        """Count the messages of every `perform` against these budgets, waiting when they are spent."""
        self.budgets = budgets

    @contextlib.asynccontextmanager
    async def paced(self, call: Call) -> AsyncIterator[None]:
        """Wait until the budgets let the call's messages go, and count them for the block that makes the call.

        Replies to residents and officials share the limits with the outbox: uncounted, a surge of them drew
        429s, and a reply refused with 429 was lost (a webhook answer is made by Telegram, out of our sight).
        """
        cost = messages_in(call)
        chat_id = call.params.get("chat_id")
        if self.budgets is None or cost == 0 or not isinstance(chat_id, int):
            yield
            return
        async with sending(self.budgets, Messenger.TELEGRAM, chat_id, cost):
            yield

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        """aiogram's check, with the answer's model built once per result type."""
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)

    def json_payload(self, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The call's parameters as JSON-ready values, or None when it uploads files."""
        files: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                payload[key] = prepared
        return None if files else payload

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        """Post the call and read Telegram's answer, as aiogram does, but with a JSON body when possible."""
        payload = self.json_payload(bot, method)
        if payload is None:
            return await super().make_request(bot, method, timeout)
        status, content = await self._post(bot, method.__api_method__, self.json_dumps(payload), timeout, method)
        response = self.check_response(bot=bot, method=method, status_code=status, content=content)
        return cast(TelegramType, response.result)

    async def call(self, bot: Bot, call: Call, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Make a plain call and return Telegram's `result` as JSON; a refusal raises aiogram's matching error."""
        status, content = await self._post(bot, call.method, self.json_dumps(call.params), timeout, call)
        try:
            answer = self.json_loads(content)
        except ValueError:
            answer = None
        if (
            HTTPStatus.OK <= status <= HTTPStatus.IM_USED
            and isinstance(answer, dict)
            and answer.get("ok") is True
            and "result" in answer
        ):
            return answer["result"]
        # The rare path: aiogram's own check turns the refusal into TelegramRetryAfter, TelegramForbiddenError...
        self.check_response(bot=bot, method=call.as_method(), status_code=status, content=content)
        raise ClientDecodeError("Telegram's answer is not a result", ValueError(status), content)

    async def _post(
        self,
        bot: Bot,
        method: str,
        body: str,
        timeout: float | None,  # noqa: ASYNC109
        origin: Call | TelegramMethod[Any],
    ) -> tuple[int, str]:
        """POST a JSON body; a network failure raises aiogram's TelegramNetworkError naming the call."""
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method)
        try:
            async with session.post(
                url,
                data=body,
                headers=JSON_HEADERS,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                return resp.status, await resp.text()
        except (TimeoutError, ClientError) as e:
            named = origin.as_method() if isinstance(origin, Call) else origin
            detail = "Request timeout error" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            raise TelegramNetworkError(method=named, message=detail) from e

    async def download(self, bot: Bot, file_id: str, path: str, limit: int) -> bytes:
        """The bytes of the file getFile(file_id) pointed at, at most `limit` of them."""
        session = await self.create_session()
        url = self.api.file_url(token=bot.token, path=path)
        chunks: list[bytes] = []
        size = 0
        try:
            async with session.get(url, timeout=ClientTimeout(total=self.timeout)) as resp:
                if resp.status != HTTPStatus.OK:
                    raise _download_failed(file_id, f"HTTP {resp.status}")
                async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise _download_failed(file_id, "larger than announced")
                    chunks.append(chunk)
        except (TimeoutError, ClientError) as e:
            raise _download_failed(file_id, type(e).__name__) from e
        return b"".join(chunks)


def _download_failed(file_id: str, why: str) -> TelegramNetworkError:
    # The error names getFile, the call that handed out the path.
    return TelegramNetworkError(method=get_file(file_id).as_method(), message=f"download failed: {why}")


def json_session(bot: Bot) -> JsonSession:
    """The bot's JSON session (bot.app.make_bot gives every bot one)."""
    session = bot.session
    if not isinstance(session, JsonSession):
        raise TypeError("the bot needs a JsonSession")
    return session


async def perform(bot: Bot, call: Call) -> Any:
    """Make a plain call through the bot's JSON session, within the send budgets, and return Telegram's result."""
    session = json_session(bot)
    async with session.paced(call):
        return await session.call(bot, call)


async def perform_counted(bot: Bot, call: Call) -> Any:
    """Make a call whose messages the caller already counted against the budgets (the delivery worker)."""
    return await json_session(bot).call(bot, call)
