"""The core's rich text as the plain text VK shows: no markup, links followed by their address."""

from __future__ import annotations

from bot.text.rich import Rich, fit

VK_TEXT_LIMIT = 4096


def to_plain(text: Rich, limit: int = VK_TEXT_LIMIT) -> str:
    """Plain text for VK, at most `limit` characters; a link's address follows its label."""
    parts = []
    for span in fit(text, limit).spans:
        if span.url is not None and span.url != span.text:
            parts.append(f"{span.text} ({span.url})")
        else:
            parts.append(span.text)
    return "".join(parts)[:limit]
