"""The core writes Telegram-style HTML; VK shows plain text, so tags go and links show their address."""

from __future__ import annotations

import html
import re

_LINK = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.S)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
VK_TEXT_LIMIT = 4096


def plain(markup: str) -> str:
    """HTML (as the core renders it) to the plain text VK shows."""

    def link(match: re.Match[str]) -> str:
        url, label = html.unescape(match.group(1)), match.group(2)
        return f"{label} ({url})"

    text = _TAG.sub("", _LINK.sub(link, markup))
    return html.unescape(text)[:VK_TEXT_LIMIT]
