"""Small helpers for what people read: times, places, lengths."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.models import Location
from bot.text.rich import Rich, as_rich, join, link


def moment(at: datetime, tz: ZoneInfo) -> str:
    """A time as residents and officials read it: 22.11.2026 14:05."""
    return at.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def map_url(location: Location) -> str | None:
    """A link that opens the point on a map, if coordinates are known."""
    if not location.has_point:
        return None
    return f"https://yandex.ru/maps/?pt={location.longitude:.6f},{location.latitude:.6f}&z=17&l=map"


def place(location: Location) -> Rich:
    """The address and/or coordinates (as a map link) of a place."""
    parts: list[Rich | str] = []
    if location.address:
        parts.append(location.address)
    url = map_url(location)
    if url is not None:
        parts.append(link(f"{location.latitude:.5f}, {location.longitude:.5f}", url))
    return join(" · ", parts) if parts else as_rich("—")


def shorten(text: str, limit: int) -> str:
    """Cut plain text to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
