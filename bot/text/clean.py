"""What residents and officials type, cleaned of characters nobody sees before anyone reads it.

Invisible and direction-control characters (Unicode "format" characters: zero-width spaces and joiners, the
byte-order mark, bidi embeddings, overrides and isolates, the soft hyphen, tag characters) make an empty-looking
description pass as text and let a name flip the line it is shown in ("From: ... ") right to left. Control
characters other than a newline or a tab have no place in a message either. Both are removed here.

One exception, decided on purpose: a zero-width joiner between two emoji stays, because it is what glues a family
or a profession emoji (👨‍👩‍👧) into one picture; anywhere else it goes. A joiner between emoji changes no direction
and makes no text look non-empty (an emoji on either side is visible anyway).
"""

from __future__ import annotations

import unicodedata

NAME_MAX = 64
"""A display name's length at most (Telegram's first and last names are up to 64 characters each)."""

_ZWJ = "\u200d"
# Categories removed: format (Cf), control (Cc; \n and \t are kept), lone surrogates (Cs, unstorable as UTF-8).
_DROPPED = frozenset({"Cf", "Cc", "Cs"})
_KEPT_CONTROLS = frozenset("\n\t")
# Line and paragraph separators read as line breaks.
_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
# What may sit between an emoji and a joiner: a variation selector or a skin-tone modifier.
_EMOJI_TAILS = frozenset({"\ufe0f", "\ufe0e", *map(chr, range(0x1F3FB, 0x1F400))})


def _emoji(char: str) -> bool:
    """Whether a character is (roughly) an emoji picture: the blocks emoji sequences are built from."""
    code = ord(char)
    return 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF or code == 0x2764


def _joins_emoji(text: str, i: int) -> bool:
    """Whether the zero-width joiner at `i` stands between two emoji (a tail of the first one may come between)."""
    before = i - 1
    while before >= 0 and text[before] in _EMOJI_TAILS:
        before -= 1
    return before >= 0 and _emoji(text[before]) and i + 1 < len(text) and _emoji(text[i + 1])


def _dropped(char: str) -> bool:
    return char not in _KEPT_CONTROLS and unicodedata.category(char) in _DROPPED


def visible(text: str) -> str:
    """The text without invisible and direction-control characters, with plain line breaks, trimmed."""
    for old, new in _BREAKS.items():
        if old in text:
            text = text.replace(old, new)
    if any(_dropped(c) for c in text):
        text = "".join(c for i, c in enumerate(text) if not _dropped(c) or (c == _ZWJ and _joins_emoji(text, i)))
    return text.strip()


def display_name(text: str, limit: int = NAME_MAX) -> str:
    """A person's name for one line of a card: visible characters only, whitespace collapsed, at most `limit`."""
    name = " ".join(visible(text).split())
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"
