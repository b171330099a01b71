"""Webhook intake: Telegram (or a load balancer) POSTs each update; we answer after handling it.

The answer may carry the update's last Bot API call (see handlers/telegram/keyboards.py), which Telegram then
makes for us: one HTTP round trip less per update. It is written as JSON, the form the Bot API documents first.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiohttp import web

from bot.reach import why_unreachable
from handlers.telegram.client import ApiRefused, ApiUnreachable
from handlers.telegram.intake import TelegramIntake, Unreadable
from handlers.telegram.session import json_session

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"


def new_secret() -> str:
    """A random webhook secret (256 bits; only A-Z, a-z, 0-9, _ and -, as Telegram allows in the header)."""
    return secrets.token_urlsafe(32)


def webhook_handler(intake: TelegramIntake, secret: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of Telegram's POSTs: the update goes to the intake, the answer carries its call as JSON.

    A request without Telegram's secret header, or with another secret, is refused with 401 before its body is
    read: nobody but Telegram can post updates as residents or officials. An
    update nobody can read is answered 200 and skipped, as the poller skips it: a 500 would make Telegram deliver it
    again and again. An update whose handling fails is answered 500 (the failure propagates to aiohttp), so
    Telegram delivers it again. A step takes milliseconds; should one ever take Telegram's 60 s, the update simply
    comes again.
    """
    if not secret:
        raise ValueError("a webhook needs a secret")
    expected = secret.encode()
    session = json_session(intake.bot)

    async def handle(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace"), expected):
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


class ListenFailed(Exception):
    """The webhook server could not listen on WEBHOOK_HOST:WEBHOOK_PORT; the argument is why."""


@contextlib.asynccontextmanager
async def webhook_server(
    intake: TelegramIntake,
    *,
    url: str,
    host: str,
    port: int,
    path: str,
    secret: str,
) -> AsyncIterator[None]:
    """Listen for updates on host:port/path, and tell Telegram where to send them, until the block ends.

    `GET /healthz` answers 200 while the server runs (nothing secret or personal in it; no secret needed). Raises
    `ListenFailed` if the port cannot be had, `ApiRefused`/`ApiUnreachable` if setWebhook fails.
    """
    app = web.Application()
    # Answer Telegram only after the update is handled: if we die first, Telegram delivers it again.
    app.router.add_post(path, webhook_handler(intake, secret))
    app.router.add_get(HEALTH_PATH, _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ListenFailed(exc.strerror or type(exc).__name__) from exc
        try:
            await intake.bot.set_webhook(
                url.rstrip("/") + path, secret_token=secret, allowed_updates=intake.allowed_updates()
            )
        except TelegramNetworkError as exc:
            raise ApiUnreachable(why_unreachable(exc)) from exc
        except TelegramAPIError as exc:
            raise ApiRefused(exc.message) from exc
        log.info("webhook listening on %s:%s%s", host, port, path)
        yield
    finally:
        await runner.cleanup()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
