"""Button actions: short codes the bot itself puts on buttons, parsed strictly because any client can forge them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.models import Piece

NEW = "r.new"
MY = "r.my"
SEND = "r.send"
CANCEL = "r.cancel"
NO_PHOTO = "r.nophoto"
FRESH = "r.fresh"
AGREE = "r.agree"
FORGET = "r.forget"
KEEP = "r.keep"
_MAX_ID = 10**9


def category(category_id: int) -> str:
    """The action of choosing a category."""
    return f"r.cat.{category_id}"


def about(report_id: int) -> str:
    """The action of writing to the officials about one of the resident's reports."""
    return f"r.about.{report_id}"


def verdict(report_id: int, fixed: bool) -> str:
    """The resident's answer to "is it really fixed?" about one of their reports."""
    return f"r.{'fixed' if fixed else 'notfixed'}.{report_id}"


def rate(report_id: int, rating: int) -> str:
    """The resident's rating (1 to 5) of the answer to one of their reports."""
    return f"r.rate.{report_id}.{rating}"


def edit(piece: Piece) -> str:
    """The action of changing one piece of the draft."""
    return f"r.edit.{piece.value}"


def staff(verb: str, number: int) -> str:
    """A staff action on report or pending resolution `number`."""
    return f"s.{verb}.{number}"


@dataclass(frozen=True, slots=True)
class Action:
    """A parsed button press."""

    name: str
    arg: int | None = None
    piece: Piece | None = None
    value: int | None = None


_RESIDENT = re.compile(
    r"r\.(new|my|send|cancel|nophoto|fresh|agree|forget|keep|cat\.(\d{1,9})|edit\.(category|description|location|photos)"
    r"|about\.(\d{1,9})|(fixed|notfixed)\.(\d{1,9})|rate\.(\d{1,9})\.([1-5]))",
    re.ASCII,  # digits are 0-9 only: "r.cat.٣" is not the bot's
)
_STAFF = re.compile(r"s\.(take|resolve|reject|history|rnp|rnc)\.(\d{1,9})", re.ASCII)


def parse_resident(data: str | None) -> Action | None:
    """A resident's button press, or None if the data is not one of ours."""
    match = _RESIDENT.fullmatch(data or "")
    if match is None:
        return None
    if match.group(2) is not None:
        return Action("cat", int(match.group(2)))
    if match.group(3) is not None:
        return Action("edit", piece=Piece(match.group(3)))
    if match.group(4) is not None:
        return Action("about", int(match.group(4)))
    if match.group(5) is not None:
        return Action(match.group(5), int(match.group(6)))
    if match.group(7) is not None:
        return Action("rate", int(match.group(7)), value=int(match.group(8)))
    return Action(match.group(1))


def parse_staff(data: str | None) -> Action | None:
    """An official's button press, or None if the data is not one of ours."""
    match = _STAFF.fullmatch(data or "")
    if match is None or int(match.group(2)) >= _MAX_ID:
        return None
    return Action(match.group(1), int(match.group(2)))
