"""The walls between the parts: data flows one way, and only the start-up wiring knows every part.

update -> adapter (handlers/) -> core (bot/core, bot/text) -> storage (storage/) and outbox -> delivery (bot/delivery)
-> messenger. Each rule reads the imports of the files, so a file that crosses a wall fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MESSENGER_LIBRARIES = ("aiogram", "vkbottle", "aiohttp")
STORAGE_LIBRARIES = ("redis", "aiosqlite", "sqlite3")
BACKENDS = (
    "storage.sqlite",
    "storage.sqlite_records",
    "storage.sqlite_outbox",
    "storage.sqlite_upgrade",
    "storage.redis_queue",
    "storage.redis_state",
    "storage.redis_budgets",
    "storage.redis_delivery",
    "storage.redis_pool",
    "storage.photos",
)
WIRING = ("bot.app", "bot.health", "bot.settings", "bot.__main__")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (`from a.b import c` counts as a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def crossing(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imports_of(path) if any(m == f or m.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("path", files("bot/core", "bot/text"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_messenger_no_backend_and_no_delivery(path: Path) -> None:
    forbidden = ("handlers", "bot.delivery", *WIRING, *BACKENDS, *MESSENGER_LIBRARIES, *STORAGE_LIBRARIES)
    assert crossing(path, forbidden) == []


@pytest.mark.parametrize("path", files("bot/delivery"), ids=lambda p: str(p.relative_to(ROOT)))
def test_delivery_knows_no_messenger_and_no_backend(path: Path) -> None:
    forbidden = ("handlers", *WIRING, *BACKENDS, *MESSENGER_LIBRARIES, *STORAGE_LIBRARIES)
    assert crossing(path, forbidden) == []


@pytest.mark.parametrize("path", files("handlers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_reach_storage_only_through_its_interfaces(path: Path) -> None:
    # The photo archive is handed to the adapters (they put residents' photos in it and send from it).
    forbidden = (*WIRING, *(b for b in BACKENDS if b != "storage.photos"), *STORAGE_LIBRARIES)
    assert crossing(path, forbidden) == []


@pytest.mark.parametrize("path", files("storage"), ids=lambda p: str(p.relative_to(ROOT)))
def test_storage_knows_no_messenger_and_no_delivery(path: Path) -> None:
    forbidden = ("handlers", "bot.delivery", *WIRING, *MESSENGER_LIBRARIES)
    # Except the send budgets' interface, which the Redis budgets implement for processes that share them.
    assert [m for m in crossing(path, forbidden) if not m.startswith("bot.delivery.budgets")] == []


@pytest.mark.parametrize("path", files("bot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_of_bot_uses_a_messenger_or_storage_library(path: Path) -> None:
    # The wiring too chooses adapters and backends by the project's own modules, never the libraries under them.
    assert crossing(path, (*MESSENGER_LIBRARIES, *STORAGE_LIBRARIES, "vkbottle")) == []


def test_only_the_wiring_knows_every_adapter_and_backend() -> None:
    knowing = {
        str(p.relative_to(ROOT))
        for p in files("bot", "handlers", "storage")
        if crossing(p, ("handlers",)) and crossing(p, BACKENDS) and not str(p.relative_to(ROOT)).startswith("handlers")
    }
    # bot/health.py opens the same storage and clients as bot/app.py to check that they answer.
    assert knowing == {"bot/app.py", "bot/health.py"}
