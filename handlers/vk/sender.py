"""Outbox messages to VK: photos through the messages upload flow, idempotent sends by random_id."""

from __future__ import annotations

import zlib
from typing import Any

from vkbottle import API, VKAPIError
from vkbottle.tools import PhotoMessageUploader

from bot.core.models import OutboxMessage
from bot.delivery.worker import RetryLater, Undeliverable
from handlers.vk.keyboards import ClientCaps, keyboard
from handlers.vk.text import plain
from storage.photos import PhotoArchive

# 6: too many requests per second; 9: flood control.
_SLOW_DOWN = {6: 1.0, 9: 10.0}
# 7 permission denied, 15 access denied, 18 user deleted or banned, 100 bad parameters, 900 blacklisted,
# 901 the user did not allow messages from the community, 902 privacy settings, 914 message too long.
_REFUSED = {7, 15, 18, 100, 900, 901, 902, 914}


def random_id_for(message: OutboxMessage) -> int:
    """The same outbox message always gets the same random_id, so VK drops a retried duplicate."""
    key = f"priemnaya:{message.id}:{message.report_id}:{message.chat_id}:{message.kind.value}".encode()
    return zlib.crc32(key) & 0x7FFFFFFF or 1


class VkSender:
    """Sends one outbox message to a VK resident."""

    def __init__(self, api: API, archive: PhotoArchive) -> None:
        self._api = api
        self._archive = archive

    async def send(self, message: OutboxMessage) -> list[int]:
        """Upload the photos, send the message, return its id."""
        try:
            return await self._send(message)
        except VKAPIError as exc:
            if exc.code in _SLOW_DOWN:
                raise RetryLater(_SLOW_DOWN[exc.code], f"VK error {exc.code}") from exc
            if exc.code in _REFUSED:
                raise Undeliverable(f"VK error {exc.code}: {exc.error_msg}") from exc
            raise

    async def _send(self, m: OutboxMessage) -> list[int]:
        uploader = PhotoMessageUploader(self._api)
        attachments = [await uploader.upload(await self._archive.get(d), peer_id=m.chat_id) for d in m.photos]
        params: dict[str, Any] = {"peer_id": m.chat_id, "random_id": random_id_for(m), "message": plain(m.text)}
        if attachments:
            params["attachment"] = ",".join(attachments)
        markup = keyboard(m.buttons, ClientCaps(inline=True, callback=True))
        if markup is not None:
            params["keyboard"] = markup
        response = await self._api.request("messages.send", params)
        return [int(response["response"])]
