"""Platform-neutral buttons as VK keyboards: callback buttons where the client has them, text buttons otherwise."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from bot.core.models import Button

LABEL_LIMIT = 40
INLINE_MAX_BUTTONS = 10
INLINE_MAX_ROWS = 6
MAX_ROWS = 10
MAX_PER_ROW = 5


@dataclass(frozen=True, slots=True)
class ClientCaps:
    """What the resident's VK client can show (from `client_info`)."""

    inline: bool = False
    callback: bool = False

    @classmethod
    def of(cls, client_info: Any) -> ClientCaps:
        """Read capabilities from an untrusted `client_info` object."""
        if not isinstance(client_info, dict):
            return cls()
        actions = client_info.get("button_actions")
        actions = actions if isinstance(actions, list) else []
        return cls(inline=client_info.get("inline_keyboard") is True, callback="callback" in actions)


def payload_of(button: Button) -> str:
    """The payload a button carries back to us."""
    return json.dumps({"a": button.action}, separators=(",", ":"))


def _repack(rows: tuple[tuple[Button, ...], ...], max_rows: int) -> list[list[Button]]:
    if len(rows) <= max_rows and all(len(r) <= MAX_PER_ROW for r in rows):
        return [list(r) for r in rows]
    flat = [b for row in rows for b in row]
    per_row = min(MAX_PER_ROW, math.ceil(len(flat) / max_rows))
    return [flat[i : i + per_row] for i in range(0, len(flat), per_row)]


def keyboard(rows: tuple[tuple[Button, ...], ...], caps: ClientCaps) -> str | None:
    """A VK keyboard JSON for the buttons, within VK's limits, or None when there are none."""
    if not rows:
        return None
    count = sum(len(r) for r in rows)
    inline = caps.inline and count <= INLINE_MAX_BUTTONS
    kind = "callback" if caps.callback and inline else "text"
    packed = _repack(rows, INLINE_MAX_ROWS if inline else MAX_ROWS)
    buttons = [
        [{"action": {"type": kind, "label": b.label[:LABEL_LIMIT], "payload": payload_of(b)}} for b in row]
        for row in packed
    ]
    body: dict[str, Any] = {"inline": inline, "buttons": buttons}
    if not inline:
        body["one_time"] = True
    return json.dumps(body, ensure_ascii=False)
