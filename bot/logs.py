"""How the bot logs: levels for the libraries, and tracebacks without exception messages.

Residents' texts, names and ids must never reach a log. The bot's own lines name only ids of updates, outbox
messages and chats of staff; but an exception's message may quote what it failed on (a validation error quotes the
input, a library error the request), so a logged traceback keeps its frames and exception types and drops every
message. The frames say where it failed, which is what fixing it takes.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during, oldest first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain[::-1]


class PrivateFormatter(logging.Formatter):
    """A formatter whose tracebacks show where and what failed, never an exception's message."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's line; its traceback made here, never one another handler cached with the messages."""
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatException(self, ei: ExcInfo) -> str:
        """The traceback of each exception in the chain, each ending in the exception's type alone."""
        if ei[1] is None:
            return ""
        lines: list[str] = []
        for exc in _chain(ei[1]):
            if lines:
                lines.append("\nDuring or because of the exception above:\n\n")
            lines.append("Traceback (most recent call last):\n")
            lines.extend(traceback.format_tb(exc.__traceback__))
            kind = type(exc)
            lines.append(f"{kind.__module__}.{kind.__qualname__} (message not logged: it may quote a resident)\n")
        return "".join(lines).rstrip("\n")


def configure_logging(level: str | int) -> None:
    """Log to stderr at `level` with tracebacks that quote nobody; libraries that log contents held back."""
    root = logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(PrivateFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    effective = root.level
    # vkbottle logs request bodies (residents' texts) at DEBUG: never below INFO. aiogram logs a line per update
    # at INFO, which costs more than handling some updates: only with LOG_LEVEL=DEBUG.
    logging.getLogger("vkbottle").setLevel(max(logging.INFO, effective))
    logging.getLogger("aiogram.event").setLevel(effective if effective <= logging.DEBUG else logging.WARNING)
