"""Small helpers for the HTML that messengers show: escaping, times, places, lengths."""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.models import Location

_TAG = re.compile(r"<[^>]+>")


def esc(text: str) -> str:
    """Escape text for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


def moment(at: datetime, tz: ZoneInfo) -> str:
    """A time as residents and officials read it: 22.11.2026 14:05."""
    return at.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def map_url(location: Location) -> str | None:
    """A link that opens the point on a map, if coordinates are known."""
    if not location.has_point:
        return None
    return f"https://yandex.ru/maps/?pt={location.longitude:.6f},{location.latitude:.6f}&z=17&l=map"


def place_html(location: Location) -> str:
    """The address and/or coordinates (as a map link) of a place, escaped."""
    parts: list[str] = []
    if location.address:
        parts.append(esc(location.address))
    url = map_url(location)
    if url is not None:
        coords = f"{location.latitude:.5f}, {location.longitude:.5f}"
        parts.append(f'<a href="{html.escape(url, quote=True)}">{coords}</a>')
    return " · ".join(parts) or "—"


def visible_length(markup: str) -> int:
    """Length of HTML text as the messenger counts it (tags dropped, entities decoded)."""
    return len(html.unescape(_TAG.sub("", markup)))


def shorten(text: str, limit: int) -> str:
    """Cut plain text to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
