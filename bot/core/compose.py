"""Turning a text with photos into durable outbox messages, one platform call each."""

from __future__ import annotations

from bot.core.models import Button, Messenger, OutboxKind, OutboxMessage
from bot.text.formatting import visible_length

CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10


def compose(
    messenger: Messenger,
    chat_id: int,
    text: str,
    photos: tuple[str, ...] = (),
    *,
    buttons: tuple[tuple[Button, ...], ...] = (),
    report_id: int | None = None,
    link_to_report: bool = False,
    priority: int = 0,
) -> list[OutboxMessage]:
    """Messages that show `text` with `photos`: a captioned photo where it fits, else photos then text.

    Buttons cannot sit on an album, so with several photos (or a long text) the text goes separately.
    """

    def message(
        kind: OutboxKind, body: str, pics: tuple[str, ...], btns: tuple[tuple[Button, ...], ...]
    ) -> OutboxMessage:
        return OutboxMessage(
            messenger=messenger,
            chat_id=chat_id,
            kind=kind,
            text=body,
            photos=pics,
            buttons=btns,
            report_id=report_id,
            link_to_report=link_to_report,
            priority=priority,
        )

    photos = photos[:ALBUM_LIMIT]
    fits = visible_length(text) <= CAPTION_LIMIT
    if not photos:
        return [message(OutboxKind.TEXT, text, (), buttons)]
    if len(photos) == 1:
        if fits:
            return [message(OutboxKind.PHOTO, text, photos, buttons)]
        return [message(OutboxKind.PHOTO, "", photos, ()), message(OutboxKind.TEXT, text, (), buttons)]
    if fits and not buttons:
        return [message(OutboxKind.ALBUM, text, photos, ())]
    return [message(OutboxKind.ALBUM, "", photos, ()), message(OutboxKind.TEXT, text, (), buttons)]
