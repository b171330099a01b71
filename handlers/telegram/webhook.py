"""Webhook intake: Telegram (or a load balancer) POSTs each update; we answer after handling it.

The answer may carry the update's last Bot API call (see handlers/telegram/keyboards.py), which Telegram then
makes for us: one HTTP round trip less per update. It is written as JSON, the form the Bot API documents first.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers.telegram.intake import TelegramIntake, Unreadable
from handlers.telegram.session import json_session

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_handler(intake: TelegramIntake, secret: str | None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of Telegram's POSTs: the update goes to the intake, the answer carries its call as JSON.

    With a secret, a request without Telegram's secret header is refused with 401 (as aiogram's handler does). An
    update nobody can read is answered 200 and skipped, as the poller skips it: a 500 would make Telegram deliver it
    again and again. An update whose handling fails is answered 500 (the failure propagates to aiohttp), so
    Telegram delivers it again. A step takes milliseconds; should one ever take Telegram's 60 s, the update simply
    comes again.
    """
    expected = secret.encode() if secret else None
    session = json_session(intake.bot)

    async def handle(request: web.Request) -> web.Response:
        if expected is not None and not hmac.compare_digest(
            request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace"), expected
        ):
            return web.Response(body="Unauthorized", status=401)
        try:
            answer = await intake.feed_json(await request.read())
        except Unreadable:
            log.warning("a webhook update could not be read and was skipped")
            return web.json_response({})
        if answer is None:
            return web.json_response({})
        # Telegram makes the call as soon as it reads the answer: it must fit the send budgets first.
        async with session.paced(answer):
            return web.json_response(answer.as_webhook_answer(), dumps=session.json_dumps)

    return handle


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
    app.router.add_post(path, webhook_handler(intake, secret))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    await intake.bot.set_webhook(url.rstrip("/") + path, secret_token=secret, allowed_updates=intake.allowed_updates())
    log.info("webhook listening on %s:%s%s", host, port, path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
