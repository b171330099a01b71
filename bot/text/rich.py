"""Rich text, platform-neutral: plain runs of text with emphasis and links, rendered by each messenger's adapter.

The core never writes a messenger's markup: Telegram's adapter renders HTML (escaping every run), VK's plain text
(links show their address). A run marked `shrink` (a resident's description in a card) may be shortened by a
renderer that has a length limit (a Telegram caption).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Style(StrEnum):
    """How a run is emphasised."""

    PLAIN = "plain"
    BOLD = "bold"
    ITALIC = "italic"


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text in one style, a link if `url` is set."""

    text: str
    style: Style = Style.PLAIN
    url: str | None = None
    shrink: bool = False


@dataclass(frozen=True, slots=True)
class Rich:
    """A text as runs of spans; concatenate with `+`."""

    spans: tuple[Span, ...] = ()

    def __add__(self, other: Rich | str) -> Rich:
        spans = as_rich(other).spans
        if self.spans and spans and _same_kind(self.spans[-1], spans[0]):
            # Adjacent runs of one kind are one run (a bold title filled in from several pieces).
            joined = Span(self.spans[-1].text + spans[0].text, spans[0].style, spans[0].url, spans[0].shrink)
            return Rich((*self.spans[:-1], joined, *spans[1:]))
        return Rich(self.spans + spans)

    def __radd__(self, other: str) -> Rich:
        return as_rich(other) + self

    @property
    def plain(self) -> str:
        """The text without emphasis (links as their labels)."""
        return "".join(span.text for span in self.spans)

    def __len__(self) -> int:
        return sum(len(span.text) for span in self.spans)

    def __bool__(self) -> bool:
        return any(span.text for span in self.spans)


RichLike = Rich | str


def _same_kind(a: Span, b: Span) -> bool:
    return a.style is b.style and a.url is None and b.url is None and a.shrink == b.shrink


def as_rich(value: RichLike) -> Rich:
    """Plain text as a rich text of one run; a rich text as it is."""
    if isinstance(value, Rich):
        return value
    return Rich((Span(value),)) if value else Rich()


def bold(text: RichLike) -> Rich:
    """Text in bold (every run of it)."""
    return _styled(text, Style.BOLD)


def italic(text: RichLike) -> Rich:
    """Text in italics (every run of it)."""
    return _styled(text, Style.ITALIC)


def _styled(text: RichLike, style: Style) -> Rich:
    return Rich(tuple(Span(s.text, style, s.url, s.shrink) for s in as_rich(text).spans))


def link(label: str, url: str) -> Rich:
    """A link with its label."""
    return Rich((Span(label, url=url),))


def shrinkable(text: str) -> Rich:
    """Text a renderer may shorten to fit its limit (a resident's long description in a caption)."""
    return Rich((Span(text, shrink=True),)) if text else Rich()


def join(separator: RichLike, parts: Iterable[RichLike]) -> Rich:
    """The parts with `separator` between them."""
    result = Rich()
    for i, part in enumerate(parts):
        if i:
            result += separator
        result += part
    return result


def lines(*parts: RichLike) -> Rich:
    """The parts as lines."""
    return join("\n", parts)


def fill(template: str, **values: RichLike | int) -> Rich:
    """A translated template with its `{placeholders}` filled: the template's text plain, each value as given.

    Like `str.format` with named fields only (no conversions or format specs are used by the catalogs).
    """
    result = Rich()
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        result += literal
        if field is not None:
            value = values[field]
            result += value if isinstance(value, Rich) else str(value)
    return result


def fit(text: Rich, limit: int) -> Rich:
    """The text in at most `limit` characters: shrinkable runs are shortened first (the longest first), then the end.

    A cut run ends with an ellipsis.
    """
    excess = len(text) - limit
    if excess <= 0:
        return text
    spans = list(text.spans)
    for i in sorted((i for i, s in enumerate(spans) if s.shrink and s.text), key=lambda i: -len(spans[i].text)):
        if excess <= 0:
            break
        spans[i], excess = _cut(spans[i], excess)
    while excess > 0 and spans:
        if len(spans[-1].text) <= excess:
            excess -= len(spans.pop().text)
        else:
            spans[-1], excess = _cut(spans[-1], excess)
    return Rich(tuple(spans))


def _cut(span: Span, excess: int) -> tuple[Span, int]:
    """The span shortened by `excess` characters (one of them the ellipsis), and what is left to cut."""
    keep = max(0, len(span.text) - excess - 1)
    text = span.text[:keep] + "…"
    return Span(text, span.style, span.url, span.shrink), excess - (len(span.text) - len(text))
