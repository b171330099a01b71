"""Webhook intake: Telegram (or a load balancer) POSTs each update; we answer after handling it.

The answer may carry the update's last Bot API call (see handlers/telegram/keyboards.py), which Telegram then
makes for us: one HTTP round trip less per update. It is written as JSON, the form the Bot API documents first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError

from handlers.telegram.calls import Call

log = logging.getLogger(__name__)


class AnsweringRequestHandler(SimpleRequestHandler):
    """aiogram's webhook handler (its secret check), answering with the update's call as JSON.

    An update the library cannot read is answered 200 and skipped, as the poller skips it: a 500 would make
    Telegram deliver it again and again. An update whose handling fails is answered 500, so Telegram delivers it
    again. A step takes milliseconds; should one ever take Telegram's 60 s, the update simply comes again.
    """

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = Update.model_validate_json(await request.read(), context={"bot": bot})
        except ValidationError:
            log.warning("a webhook update could not be read and was skipped")
            return web.json_response({})
        try:
            result = await self.dispatcher.feed_update(bot, update, **self.data)
        except Exception:
            log.exception("update %s failed", update.update_id)
            raise
        if isinstance(result, Call):
            return web.json_response(result.as_webhook_answer(), dumps=bot.session.json_dumps)
        return web.json_response({})


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
