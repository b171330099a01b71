"""Why a service (a messenger's API, Redis) did not answer, in a few words for a start-up or health line.

Only the kind of failure is told, never the exception's own text: a library's message may carry a URL, and a
Telegram URL carries the bot's token.
"""

from __future__ import annotations

import socket
import ssl


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def why_unreachable(exc: BaseException) -> str:
    """The cause of a failed connection, from the innermost error of `exc`'s chain that tells one."""
    for error in reversed(_chain(exc)):
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, socket.gaierror):
            return "host name not found"
        if isinstance(error, ssl.SSLCertVerificationError):
            return "its TLS certificate was not accepted"
        if isinstance(error, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(error, TimeoutError):
            return "no answer in time"
        if isinstance(error, ConnectionResetError):
            return "the connection was reset"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[0].lower() + error.strerror[1:]
    for error in _chain(exc):
        if "timeout" in type(error).__name__.lower():
            return "no answer in time"
    return f"the connection failed ({type(exc).__name__})"


def unreachable(setting: str, url: str, exc: BaseException) -> str:
    """The one line for a service a setting names that did not answer: "cannot reach VK_API_URL (url): why"."""
    return f"cannot reach {setting} ({url}): {exc}"
