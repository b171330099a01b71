"""`python -m bot check`: whether storage, the queue and each configured messenger answer, one line each.

Start-up wiring like bot/app.py (it opens the same storage and clients), so it may know every adapter and backend.
No line carries a token, a password or anything of a resident's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.reach import unreachable
from bot.settings import Settings, shown_url
from handlers.telegram.client import ApiRefused, ApiUnreachable, TokenRejected, chat_title, make_bot, who_am_i
from handlers.vk import LongPollRefused, VkUnreachable
from handlers.vk import make_api as make_vk_api
from handlers.vk.longpoll import LongPoll
from storage.sqlite import SqliteStorage

Check = Callable[[Settings], Awaitable[str]]


class Failed(Exception):
    """A check's failure; the message says what failed and which setting it concerns."""


async def storage(settings: Settings) -> str:
    """The SQLite database opens, with its reports and outbox counted."""
    try:
        records = await SqliteStorage.open(settings.database_path, settings.default_answer_hours)
    except OSError as exc:
        raise Failed(f"cannot open {settings.database_path} ({exc.strerror or type(exc).__name__}; DATA_DIR)") from None
    try:
        reports = await records.report_count()
        queued = await records.pending_count()
        failed = await records.failed_count()
    finally:
        await records.close()
    return f"{settings.database_path}, {reports} reports, {queued} queued, {failed} failed"


async def queue(settings: Settings) -> str:
    """Redis answers (and how much waits in it), or the SQLite outbox serves as the queue."""
    if settings.redis_url is None:
        return "SQLite outbox"
    from storage.redis_pool import RedisUnreachable, connect, ping
    from storage.redis_queue import RedisQueue

    client = connect(settings.redis_url, max_connections=2, timeout=10, decode_responses=True)
    try:
        await ping(client)
        queued = await RedisQueue(client, namespace=settings.redis_namespace).pending_count()
    except RedisUnreachable as exc:
        raise Failed(f"cannot connect to REDIS_URL ({shown_url(settings.redis_url)}): {exc}") from None
    finally:
        await client.aclose()
    return f"{shown_url(settings.redis_url)}, {queued} queued"


async def telegram(settings: Settings) -> str:
    """The Bot API knows the token, and the bot can read the staff chat."""
    assert settings.telegram_token is not None and settings.staff_chat_id is not None
    bot = make_bot(settings.telegram_token, settings.telegram_api_url)
    try:
        me = await who_am_i(bot)
        title = await chat_title(bot, settings.staff_chat_id)
    except TokenRejected:
        raise Failed("TELEGRAM_TOKEN was rejected by the Telegram API") from None
    except ApiUnreachable as exc:
        raise Failed(unreachable("TELEGRAM_API_URL", settings.telegram_api_url, exc)) from None
    except ApiRefused as exc:
        raise Failed(f"{exc} (STAFF_CHAT_ID {settings.staff_chat_id}, or TELEGRAM_API_URL)") from None
    finally:
        await bot.session.close()
    return f"@{me.username}, staff chat {title!r}"


async def vk(settings: Settings) -> str:
    """VK gives the community's long poll to the token (what the bot asks first when it starts)."""
    assert settings.vk_token is not None and settings.vk_group_id is not None
    api = make_vk_api(settings.vk_token, settings.vk_api_url)
    try:
        await LongPoll(api, settings.vk_group_id, settings.data_dir).open()
    except VkUnreachable as exc:
        raise Failed(unreachable("VK_API_URL", settings.vk_api_url, exc)) from None
    except LongPollRefused as exc:
        raise Failed(f"[{exc.code}] {exc.message} (VK_TOKEN, VK_GROUP_ID)") from None
    finally:
        await api.http_client.close()
    return f"community {settings.vk_group_id}"


def checks(settings: Settings) -> list[tuple[str, Check]]:
    """The checks that apply to these settings, by name."""
    found: list[tuple[str, Check]] = [("storage", storage), ("queue", queue), ("telegram", telegram)]
    if settings.vk_enabled:
        found.append(("vk", vk))
    return found


async def check(settings: Settings) -> int:
    """Print a line per check (`name: ok (...)` or `name: failed: ...`); 0 if all answered, else 1."""
    healthy = True
    for name, run in checks(settings):
        try:
            line = f"{name}: ok ({await run(settings)})"
        except Failed as exc:
            healthy = False
            line = f"{name}: failed: {exc}"
        except Exception as exc:  # a check must say what broke, not end the others with a traceback
            healthy = False
            line = f"{name}: failed: {type(exc).__name__}"
        print(line, flush=True)
    return 0 if healthy else 1
