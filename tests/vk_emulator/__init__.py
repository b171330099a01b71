"""VK API emulator for tests: a VK API + Bots Long Poll HTTP server and its control client.

async with VkEmulator(group_id=1, token="t") as vk:
    api = API("t", http_client=AiohttpClient())
    api.API_URL = vk.api_url
    await vk.client.send_message({"id": 5, "first_name": "Ivan", "last_name": "P"}, "hi")
"""

from .client import VkEmulatorClient, VkEmulatorError
from .payloads import make_png
from .server import DEFAULT_GROUP_ID, DEFAULT_TOKEN, VkEmulator

__all__ = (
    "DEFAULT_GROUP_ID",
    "DEFAULT_TOKEN",
    "VkEmulator",
    "VkEmulatorClient",
    "VkEmulatorError",
    "make_png",
)
