"""The core's rich text as Telegram's HTML: every run escaped, emphasis and links as the few tags Telegram takes."""

from __future__ import annotations

import html

from bot.text.rich import Rich, Span, Style, fit

_TAGS = {Style.BOLD: "b", Style.ITALIC: "i"}


def _span(span: Span) -> str:
    text = html.escape(span.text, quote=False)
    if span.url is not None:
        text = f'<a href="{html.escape(span.url, quote=True)}">{text}</a>'
    tag = _TAGS.get(span.style)
    return f"<{tag}>{text}</{tag}>" if tag else text


def to_html(text: Rich, limit: int | None = None) -> str:
    """HTML for Telegram's parse mode; with `limit`, shortened to that many visible characters first."""
    if limit is not None:
        text = fit(text, limit)
    return "".join(_span(span) for span in text.spans)


def to_plain(text: Rich, limit: int | None = None) -> str:
    """Plain text (a button press's popup takes no markup)."""
    return (fit(text, limit) if limit is not None else text).plain
