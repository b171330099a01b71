"""Webhook intake: Telegram (or a load balancer) POSTs each update; we answer after handling it.

The answer may carry the update's last Bot API call (see handlers/telegram/keyboards.py), which Telegram then
makes for us: one HTTP round trip less per update. It is written as JSON, the form the Bot API documents first.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from handlers.telegram.intake import TelegramIntake, Unreadable
from handlers.telegram.session import json_session

log = logging.getLogger(__name__)


class AnsweringRequestHandler(SimpleRequestHandler):
    """aiogram's webhook handler (its secret check) feeding our intake, answering with the update's call as JSON.

    An update nobody can read is answered 200 and skipped, as the poller skips it: a 500 would make Telegram
    deliver it again and again. An update whose handling fails is answered 500, so Telegram delivers it again.
    A step takes milliseconds; should one ever take Telegram's 60 s, the update simply comes again.
    """

    def __init__(self, intake: TelegramIntake, secret_token: str | None) -> None:
        super().__init__(
            dispatcher=intake.dispatcher, bot=intake.bot, handle_in_background=False, secret_token=secret_token
        )
        self._intake = intake

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            answer = await self._intake.feed_json(await request.read())
        except Unreadable:
            log.warning("a webhook update could not be read and was skipped")
            return web.json_response({})
        if answer is not None:
            # Telegram makes the call as soon as it reads the answer: it must fit the send budgets first.
            async with json_session(bot).paced(answer):
                return web.json_response(answer.as_webhook_answer(), dumps=bot.session.json_dumps)
        return web.json_response({})


async def serve_webhook(
    intake: TelegramIntake,
    stop: asyncio.Event,
    *,
    url: str,
    host: str,
    port: int,
    path: str,
    secret: str | None,
) -> None:
    """Listen for updates on host:port/path until `stop` is set, after telling Telegram where to send them."""
    app = web.Application()
    # Answer Telegram only after the update is handled: if we die first, Telegram delivers it again.
    AnsweringRequestHandler(intake, secret).register(app, path=path)
    bot = intake.bot
    setup_application(app, intake.dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    await bot.set_webhook(url.rstrip("/") + path, secret_token=secret, allowed_updates=intake.allowed_updates())
    log.info("webhook listening on %s:%s%s", host, port, path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
