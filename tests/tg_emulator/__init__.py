"""A Telegram Bot API emulator for tests and the officials' offline training sandbox.

The real bot (aiogram 3) talks to it over HTTP::

    async with TelegramEmulator() as emu:
        session = AiohttpSession(api=TelegramAPIServer.from_base(emu.url))
        bot = Bot("123456:TEST", session=session)
        await emu.client.inject_private_message({"id": 42, "first_name": "Ann"}, "/start")
        sent = await emu.client.wait_sent(chat_id=42)

Standalone: ``python -m tests.tg_emulator --host 127.0.0.1 --port 8081``.
"""

from .client import EmulatorClient, EmulatorControlError
from .errors import ApiError
from .limits import RateLimitConfig
from .server import TelegramEmulator

__all__ = ["ApiError", "EmulatorClient", "EmulatorControlError", "RateLimitConfig", "TelegramEmulator"]
