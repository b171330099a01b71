"""Telegram's failures in the delivery worker's terms, for the outbox sender and for live replies alike."""

from __future__ import annotations

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.core.outbox import Refusal, Scope
from bot.delivery.worker import RetryLater, Undeliverable

# Telegram's words for an edit that cannot be made because the card is gone or too old.
_CARD_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")
_CHAT_GONE = ("chat not found", "group chat was deactivated", "have no rights to send", "not enough rights")


def verdict(exc: TelegramAPIError, edit: bool = False) -> Exception:
    """`RetryLater` for a 429, `Undeliverable` for a refusal for good, else `exc` itself: tried again later.

    `edit`: the call edits a card, which may be gone. A revoked token (401) stays `exc`: the outbox keeps
    everything queued until an administrator fixes it.
    """
    if isinstance(exc, TelegramRetryAfter):
        return RetryLater(float(exc.retry_after), "429 Too Many Requests")
    if isinstance(exc, TelegramMigrateToChat):
        return Undeliverable(Refusal(exc.message, Scope.CHAT, moved_to=exc.migrate_to_chat_id))
    if isinstance(exc, TelegramForbiddenError | TelegramNotFound):
        return Undeliverable(Refusal(exc.message, Scope.CHAT))
    if isinstance(exc, TelegramBadRequest):
        # A 400 will not pass on retry (chat not found, user deactivated, bad markup).
        text = exc.message.lower()
        if edit and any(words in text for words in _CARD_GONE):
            return Undeliverable(Refusal(exc.message, Scope.CARD))
        scope = Scope.CHAT if any(words in text for words in _CHAT_GONE) else Scope.MESSAGE
        return Undeliverable(Refusal(exc.message, scope))
    return exc


def live_verdict(exc: Exception) -> Exception:
    """A live call's failure: as `verdict`, but only a server's or the network's failure is tried again.

    A live reply cannot wait for an administrator: a 401, 409, 413 or any other refusal is given up at once.
    """
    if isinstance(exc, TelegramAPIError):
        judged = verdict(exc)
        if judged is not exc or isinstance(exc, TelegramServerError | TelegramNetworkError):
            return judged
    elif isinstance(exc, ClientDecodeError | TimeoutError):
        return exc  # a garbled answer (a proxy in the way) or a timeout: try again
    return Undeliverable(Refusal(type(exc).__name__, Scope.MESSAGE))
