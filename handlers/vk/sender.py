"""Outbox messages to VK: photos through the messages upload flow, idempotent sends by random_id."""

from __future__ import annotations

import zlib
from typing import Any

import aiohttp
from vkbottle import API, VKAPIError
from vkbottle.tools import PhotoMessageUploader

from bot.core.outbox import Card, OutboxKind, OutboxMessage, Refusal, Scope
from bot.delivery.worker import RetryLater, Undeliverable
from handlers.vk.keyboards import ClientCaps, keyboard
from storage.photos import PhotoArchive

# 6: too many requests per second; 9: flood control.
_SLOW_DOWN = {6: 1.0, 9: 10.0}
# 7 permission denied, 15 access denied, 18 user deleted or banned, 100 bad parameters, 900 blacklisted,
# 901 the user did not allow messages from the community, 902 privacy settings, 914 message too long.
_REFUSED = {7, 15, 18, 100, 900, 901, 902, 914}
_BAD_MESSAGE = {100, 914}
# 909 a message too old to edit, 920 cannot edit this kind of message, 924 cannot edit a deleted message.
_CARD_GONE = {909, 920, 924}
# 1 unknown error (vkbottle's word for an HTTP 5xx page too), 10 internal server error.
_SERVER_FAILED = {1, 10}


def verdict(exc: VKAPIError, edit: bool = False) -> Exception:
    """`RetryLater` when VK asks to slow down, `Undeliverable` for a refusal for good, else `exc`: tried again later.

    `edit`: the call edits a card, which may be gone.
    """
    if exc.code in _SLOW_DOWN:
        return RetryLater(_SLOW_DOWN[exc.code], f"VK error {exc.code}")
    if exc.code in _REFUSED:
        scope = Scope.MESSAGE if exc.code in _BAD_MESSAGE else Scope.CHAT
        return Undeliverable(Refusal(f"VK error {exc.code}: {exc.error_msg}", scope))
    if edit and exc.code in _CARD_GONE:
        return Undeliverable(Refusal(f"VK error {exc.code}: {exc.error_msg}", Scope.CARD))
    return exc


def live_verdict(exc: Exception) -> Exception:
    """A live call's failure: as `verdict`, but only a server's or the network's failure is tried again.

    VK's "unknown error" (1, also what vkbottle makes of an HTTP 5xx page) and "internal server error" (10) are
    tried again; any other refusal (a bad token, say) is given up at once: a live reply cannot wait for an
    administrator.
    """
    if isinstance(exc, VKAPIError):
        judged = verdict(exc)
        if judged is not exc or exc.code in _SERVER_FAILED:
            return judged
    elif isinstance(exc, TimeoutError | aiohttp.ClientError):
        return exc
    return Undeliverable(Refusal(type(exc).__name__, Scope.MESSAGE))


def random_id_for(message: OutboxMessage) -> int:
    """The same outbox message always gets the same random_id, so VK drops a retried duplicate."""
    key = f"priemnaya:{message.id}:{message.report_id}:{message.chat_id}:{message.kind.value}".encode()
    return zlib.crc32(key) & 0x7FFFFFFF or 1


class VkSender:
    """Sends one outbox message to a VK resident."""

    def __init__(self, api: API, archive: PhotoArchive) -> None:
        self._api = api
        self._archive = archive

    async def send(self, message: OutboxMessage, card: Card | None = None) -> list[int]:
        """Upload the photos, send the message (or edit the card), return its id."""
        try:
            if message.kind is OutboxKind.EDIT:
                assert card is not None  # the worker finds the card first
                return await self._edit(message, card)
            return await self._send(message, card.message_id if card and message.reply_to_card else None)
        except VKAPIError as exc:
            judged = verdict(exc, edit=message.kind is OutboxKind.EDIT)
            if judged is exc:
                raise  # VK's own failure: kept queued and tried again
            raise judged from exc

    async def _edit(self, m: OutboxMessage, card: Card) -> list[int]:
        params: dict[str, Any] = {"peer_id": m.chat_id, "message_id": card.message_id, "message": m.text}
        markup = keyboard(m.buttons, ClientCaps(inline=True, callback=True))
        params["keyboard"] = markup or '{"buttons":[],"inline":true}'
        await self._api.request("messages.edit", params)
        return [card.message_id]

    async def _send(self, m: OutboxMessage, reply_to: int | None) -> list[int]:
        uploader = PhotoMessageUploader(self._api)
        attachments = [await uploader.upload(await self._archive.get(d), peer_id=m.chat_id) for d in m.photos]
        params: dict[str, Any] = {"peer_id": m.chat_id, "random_id": random_id_for(m), "message": m.text}
        if reply_to is not None:
            params["reply_to"] = reply_to
        if attachments:
            params["attachment"] = ",".join(attachments)
        markup = keyboard(m.buttons, ClientCaps(inline=True, callback=True))
        if markup is not None:
            params["keyboard"] = markup
        response = await self._api.request("messages.send", params)
        return [int(response["response"])]
