"""aiogram's HTTP session for aiogram's own calls, and our plain JSON calls (calls.py) beside it.

The calls the bot makes most (replies, callback answers, cards and photos by file_id, getFile and the download)
are plain JSON (calls.py): aiogram would build a pydantic model for each, send it as multipart form data with each
nested object serialised to a string of its own, and validate the whole answer into a model. They go out through an
aiohttp session of this session's own, as does getUpdates (polling.py). aiogram's models (uploads, rare calls)
take aiogram's own request path, unmodified.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any, TypeVar

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import ClientDecodeError, TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiohttp import ClientError, ClientTimeout

from bot.core.models import Messenger
from bot.delivery.budgets import Budgets, sending
from bot.delivery.live import retrying
from handlers.telegram.calls import Call, get_file, messages_in
from handlers.telegram.failures import live_verdict

JSON_HEADERS = {"Content-Type": "application/json"}
DOWNLOAD_CHUNK = 64 * 1024
# As aiogram's own session: up to 100 connections, and Telegram's address cached for an hour.
HTTP_CONNECTIONS = 100
DNS_CACHE_SECONDS = 3600
# pydantic caches a parametrised model like Response[Message] only weakly: once collected, the next answer of
# that type built its schema again (a few ms). Every one aiogram's check builds is held here for good.
_RESPONSE_TYPES: set[type[Response[Any]]] = set()

R = TypeVar("R")


class JsonSession(AiohttpSession):
    """aiogram's `AiohttpSession` with our plain calls beside it; paces the messages `perform` sends."""

    budgets: Budgets | None = None
    reply_timeout: float | None = None
    _plain_http: aiohttp.ClientSession | None = None

    def pace_with(self, budgets: Budgets) -> None:
        """Count the messages of every `perform` against these budgets, waiting when they are spent."""
        self.budgets = budgets

    def answer_within(self, seconds: float) -> None:
        """Give up one attempt of a `perform` after `seconds` (and try again), instead of the session's timeout."""
        self.reply_timeout = seconds

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

    def check_response(self, bot: Bot, method: TelegramMethod[R], status_code: int, content: str) -> Response[R]:
        """aiogram's check, keeping the answer's model (Response[Message]...) alive once built."""
        response = super().check_response(bot, method, status_code, content)
        _RESPONSE_TYPES.add(type(response))
        return response

    def plain_http(self) -> aiohttp.ClientSession:
        """The HTTP session of the plain calls, downloads and getUpdates (opened when first needed)."""
        if self._plain_http is None or self._plain_http.closed:
            connector = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS, ttl_dns_cache=DNS_CACHE_SECONDS)
            self._plain_http = aiohttp.ClientSession(connector=connector)
        return self._plain_http

    async def close(self) -> None:
        """Close both HTTP sessions: ours and aiogram's."""
        if self._plain_http is not None and not self._plain_http.closed:
            await self._plain_http.close()
        await super().close()

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
        origin: Call,
    ) -> tuple[int, str]:
        """POST a JSON body; a network failure raises aiogram's TelegramNetworkError naming the call."""
        url = self.api.api_url(token=bot.token, method=method)
        try:
            async with self.plain_http().post(
                url,
                data=body,
                headers=JSON_HEADERS,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                return resp.status, await resp.text()
        except (TimeoutError, ClientError) as e:
            detail = "Request timeout error" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            raise TelegramNetworkError(method=origin.as_method(), message=detail) from e

    async def download(self, bot: Bot, file_id: str, path: str, limit: int) -> bytes:
        """The bytes of the file getFile(file_id) pointed at, at most `limit` of them."""
        url = self.api.file_url(token=bot.token, path=path)
        chunks: list[bytes] = []
        size = 0
        try:
            async with self.plain_http().get(url, timeout=ClientTimeout(total=self.timeout)) as resp:
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
    """Make a live call through the bot's JSON session, within the send budgets, and return Telegram's result.

    A 5xx, network failure or timeout is tried again, a 429 after its retry_after (bot/delivery/live.py); each
    attempt is counted against the budgets, and its wait for them is not part of its timeout.
    """
    session = json_session(bot)

    async def attempt() -> Any:
        async with session.paced(call):
            return await session.call(bot, call, session.reply_timeout)

    return await retrying(attempt, live_verdict, call.method)


async def perform_counted(bot: Bot, call: Call) -> Any:
    """Make a call whose messages the caller already counted against the budgets (the delivery worker)."""
    return await json_session(bot).call(bot, call)
