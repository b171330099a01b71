"""The VK adapter: residents write to the city's VK community; officials still work in Telegram."""

from __future__ import annotations

from vkbottle import API
from vkbottle.http import AiohttpClient

from handlers.vk.adapter import VkAdapter
from handlers.vk.longpoll import LongPollRefused, VkUnreachable
from handlers.vk.sender import VkSender

__all__ = ["LongPollRefused", "VkAdapter", "VkSender", "VkUnreachable", "make_api"]


def make_api(token: str, api_url: str) -> API:
    """A vkbottle API with its own HTTP client (vkbottle's default one is process-wide) at `api_url`."""
    api = API(token, http_client=AiohttpClient())
    # The base as people write it: with or without the /method/ that vkbottle's own constant ends in.
    api.API_URL = api_url.rstrip("/").removesuffix("/method") + "/method/"
    return api
