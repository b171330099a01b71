"""Webhook intake: Telegram (or a load balancer) POSTs each update; we answer after handling it.

The answer may carry the update's last Bot API call (see handlers/telegram/keyboards.py), which Telegram then
makes for us: one HTTP round trip less per update. aiogram writes that answer as multipart form data; a JSON
answer is what the Bot API documents first and costs a fraction to build.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from aiohttp.payload import JsonPayload, Payload
from pydantic import ValidationError

from handlers.telegram.session import JsonSession

log = logging.getLogger(__name__)


class AnsweringRequestHandler(SimpleRequestHandler):
    """aiogram's webhook handler, answering with JSON unless the call uploads a file.

    An update the library cannot read is answered 200 and skipped, as the poller skips it: a 500 would make
    Telegram deliver it again and again.
    """

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = Update.model_validate_json(await request.read(), context={"bot": bot})
        except ValidationError:
            log.warning("a webhook update could not be read and was skipped")
            return web.json_response({})
        result: TelegramMethod[Any] | None = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        return web.Response(body=self._build_response_writer(bot=bot, result=result))

    def _build_response_writer(self, bot: Bot, result: TelegramMethod[TelegramType] | None) -> Payload:
        session = bot.session
        if result is not None and isinstance(session, JsonSession):
            payload = session.json_payload(bot, result)
            if payload is not None:
                return JsonPayload({"method": result.__api_method__, **payload}, dumps=session.json_dumps)
        return super()._build_response_writer(bot, result)


async def serve_webhook(
    dp: Dispatcher,
    bot: Bot,
    stop: asyncio.Event,
    *,
    url: str,
    host: str,
    port: int,
    path: str,
    secret: str | None,
    **data: Any,
) -> None:
    """Listen for updates on host:port/path until `stop` is set, after telling Telegram where to send them."""
    app = web.Application()
    # Answer Telegram only after the update is handled: if we die first, Telegram delivers it again.
    AnsweringRequestHandler(dispatcher=dp, bot=bot, handle_in_background=False, secret_token=secret, **data).register(
        app, path=path
    )
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    await bot.set_webhook(url.rstrip("/") + path, secret_token=secret, allowed_updates=dp.resolve_used_update_types())
    log.info("webhook listening on %s:%s%s", host, port, path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
