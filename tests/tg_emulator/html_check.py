"""Validation of Telegram's HTML parse mode, producing plain text plus MessageEntity dicts.

Mirrors the rules of tdlib's ``parse_html`` (which the real Bot API uses) closely enough that a
message the emulator accepts is accepted by Telegram, and error descriptions have the same shape
("Unsupported start tag "br" at byte offset 5").  One deliberate difference: in strict mode a bare
``>`` or an ``&`` that does not start an entity is an error, because the Bot API documentation
requires escaping them and a bot that relies on tdlib's leniency is a latent bug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Tag -> MessageEntity type (None: decided when the tag closes).
_TAG_ENTITY: dict[str, str | None] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": None,
    "code": None,
    "pre": "pre",
    "blockquote": None,
    "tg-emoji": "custom_emoji",
}
SUPPORTED_TAGS: frozenset[str] = frozenset(_TAG_ENTITY)

_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(err)`` is the part after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit Telegram uses for entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    byte_offset: int
    start16: int
    attrs: dict[str, str]
    language: str | None = None
    children_codes: list[str] = field(default_factory=list)


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at ``text[i] == '&'``; None when it is not one."""
    m = _ENTITY_RE.match(text, i)
    if m is None:
        return None
    body = m.group(1)
    if body in _NAMED:
        return _NAMED[body], m.end() - i
    code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
    # NUL, surrogates and out-of-range code points are not characters Telegram accepts.
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end() - i


def _decode_lenient(value: str) -> str:
    """Decode entities inside an attribute value, keeping anything unrecognised literally."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&" and (dec := _decode_entity(value, i)) is not None:
            out.append(dec[0])
            i += dec[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_html(text: str, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain_text, entities)``.

    Raises EntityParseError with a tdlib-like message for unsupported or unbalanced tags,
    unclosed tags and (in ``strict`` mode) unescaped ``>`` / ``&``.
    """
    # Byte offsets appear in error messages; tdlib counts UTF-8 bytes.
    byte_at = [0] * (len(text) + 1)
    for idx, ch in enumerate(text):
        byte_at[idx + 1] = byte_at[idx] + len(ch.encode("utf-8", "surrogatepass"))

    out: list[str] = []
    pos16 = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal pos16
        out.append(chunk)
        pos16 += utf16_len(chunk)

    while i < n:
        c = text[i]
        if c == "&":
            dec = _decode_entity(text, i)
            if dec is None:
                if strict:
                    raise EntityParseError(
                        f"Character '&' is reserved and must be escaped as &amp; at byte offset {byte_at[i]}"
                    )
                dec = ("&", 1)
            emit(dec[0])
            i += dec[1]
            continue
        if c == ">":
            if strict:
                raise EntityParseError(
                    f"Character '>' is reserved and must be escaped as &gt; at byte offset {byte_at[i]}"
                )
            emit(c)
            i += 1
            continue
        if c != "<":
            emit(c)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            # End tag: </name  >
            j = i + 1
            while j < n and text[j] != ">" and not text[j].isspace():
                j += 1
            name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_at[begin]}")
            i = j + 1
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_at[begin]}")
            top = stack.pop()
            if top.name != name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {byte_at[begin]}, expected "</{top.name}>", '
                    f'found "</{name}>"'
                )
            _close_tag(top, pos16, stack, entities)
            continue

        # Start tag: <name attr="value" flag>
        j = i
        while j < n and text[j] != ">" and not text[j].isspace():
            j += 1
        name = text[i:j].lower()
        if name not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {byte_at[begin]}')
        i = j
        attrs: dict[str, str] = {}
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {byte_at[begin]}")
            if text[i] == ">":
                i += 1
                break
            a = i
            while i < n and text[i] in _ATTR_NAME_CHARS:
                i += 1
            attr = text[a:i].lower()
            if not attr:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {byte_at[begin]}'
                )
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {byte_at[begin]}")
            if text[i] != "=":
                # Valueless attribute, e.g. <blockquote expandable>.
                attrs[attr] = ""
                continue
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {byte_at[begin]}")
            if text[i] in "\"'":
                quote = text[i]
                end = text.find(quote, i + 1)
                if end < 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {byte_at[begin]}")
                attrs[attr] = _decode_lenient(text[i + 1 : end])
                i = end + 1
            else:
                a = i
                while i < n and text[i] != ">" and not text[i].isspace():
                    i += 1
                attrs[attr] = _decode_lenient(text[a:i])
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_at[begin]}')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise EntityParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_at[begin]}')
        stack.append(_OpenTag(name=name, byte_offset=byte_at[begin], start16=pos16, attrs=attrs))

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')

    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_tag(tag: _OpenTag, pos16: int, stack: list[_OpenTag], entities: list[dict[str, Any]]) -> None:
    """Turn a closed tag into a MessageEntity (if it yields one) and append it to ``entities``."""
    length = pos16 - tag.start16
    parent = stack[-1] if stack else None
    entity: dict[str, Any] | None
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        entity = {"type": "text_link", "url": href} if href else None
    elif tag.name == "code":
        cls = tag.attrs.get("class", "")
        if parent is not None and parent.name == "pre":
            # <pre><code class="language-x"> is one pre entity with a language, as in tdlib.
            if cls.startswith("language-") and len(cls) > len("language-"):
                parent.language = cls[len("language-") :]
            entity = None
        else:
            entity = {"type": "code"}
    elif tag.name == "pre":
        entity = {"type": "pre"}
        if tag.language:
            entity["language"] = tag.language
    elif tag.name == "blockquote":
        entity = {"type": "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"}
    elif tag.name == "tg-emoji":
        entity = {"type": "custom_emoji", "custom_emoji_id": tag.attrs["emoji-id"]}
    else:
        entity_type = _TAG_ENTITY[tag.name]
        entity = {"type": entity_type} if entity_type else None
    if entity is not None and length > 0:
        entities.append({"offset": tag.start16, "length": length, **entity})


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entities to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead16 = utf16_len(text[: len(text) - len(text.lstrip())])
    total16 = utf16_len(stripped)
    shifted: list[dict[str, Any]] = []
    for ent in entities:
        start = max(0, ent["offset"] - lead16)
        end = min(total16, ent["offset"] + ent["length"] - lead16)
        if end > start:
            shifted.append({**ent, "offset": start, "length": end - start})
    return stripped, shifted
