"""Telegram's HTML parse mode as the Bot API reads it, for the fake Bot API: which markup it
refuses ("can't parse entities") and what the user sees of the rest.

Follows TDLib's `parse_html`: every `<` opens a tag, so a bare `<` is an error; an `&` that is
not one of the known entities (`&lt;`, `&gt;`, `&amp;`, `&quot;`, numeric) is kept as typed; tags
are the Bot API's list, closed in order (`</>` closes the innermost one); attribute values may be
quoted or not, and their entities are decoded.
"""

from __future__ import annotations

import re

__all__ = ["HtmlError", "visible_text"]

TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_SPACE = " \t\n\r"
_ATTRIBUTE = re.compile(
    r"""([a-zA-Z][a-zA-Z0-9_-]*)(?:[ \t\n\r]*=[ \t\n\r]*("[^"]*"|'[^']*'|[^ \t\n\r>"']+))?"""
)


class HtmlError(ValueError):
    """Markup Telegram refuses; the message is what follows "can't parse entities: "."""


def visible_text(html: str) -> str:
    """The text a user sees of `html` (tags gone, entities decoded); raise `HtmlError` where
    Telegram answers 400 "can't parse entities"."""
    out: list[str] = []
    open_tags: list[str] = []
    i, size = 0, len(html)
    while i < size:
        char = html[i]
        if char == "&":
            decoded, i = _entity(html, i)
            out.append(decoded)
        elif char != "<":
            out.append(char)
            i += 1
        elif html.startswith("</", i):
            i = _end_tag(html, i, open_tags)
        else:
            i = _start_tag(html, i, open_tags)
    if open_tags:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(out)


def _offset(html: str, i: int) -> int:
    """Telegram reports byte offsets in the UTF-8 text."""
    return len(html[:i].encode("utf-8", "surrogatepass"))


def _entity(html: str, i: int) -> tuple[str, int]:
    match = _ENTITY.match(html, i)
    if match is None:
        return "&", i + 1
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        if name not in _NAMED:
            return "&", i + 1
        return _NAMED[name], match.end()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "&", i + 1
    return chr(code), match.end()


def _start_tag(html: str, begin: int, open_tags: list[str]) -> int:
    i = begin + 1
    while i < len(html) and html[i] not in _SPACE and html[i] != ">":
        i += 1
    if i >= len(html):
        raise HtmlError(f"Unclosed start tag at byte offset {_offset(html, begin)}")
    name = html[begin + 1 : i].lower()
    if name not in TAGS:
        raise HtmlError(f'Unsupported start tag "{name}" at byte offset {_offset(html, begin)}')
    attributes, end = _attributes(html, i, begin)
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise HtmlError('Tag "span" must have class "tg-spoiler"')
    open_tags.append(name)
    return end + 1


def _attributes(html: str, at: int, begin: int) -> tuple[dict[str, str], int]:
    """The attributes from `at` to the tag's `>` (a quoted value may hold one), and where that
    `>` is."""
    found: dict[str, str] = {}
    while True:
        while at < len(html) and html[at] in _SPACE:
            at += 1
        if at < len(html) and html[at] == ">":
            return found, at
        match = _ATTRIBUTE.match(html, at)
        if match is None:
            raise HtmlError(f"Unclosed start tag at byte offset {_offset(html, begin)}")
        name, value = match.group(1).lower(), match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        found[name] = _decode(value)
        at = match.end()


def _decode(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            decoded, i = _entity(value, i)
            out.append(decoded)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _end_tag(html: str, begin: int, open_tags: list[str]) -> int:
    if not open_tags:
        raise HtmlError(f"Unexpected end tag at byte offset {_offset(html, begin)}")
    i = begin + 2
    while i < len(html) and html[i] not in _SPACE and html[i] != ">":
        i += 1
    name = html[begin + 2 : i].lower()
    while i < len(html) and html[i] in _SPACE:
        i += 1
    if i >= len(html) or html[i] != ">":
        raise HtmlError(f"Unclosed end tag at byte offset {_offset(html, begin)}")
    expected = open_tags.pop()
    if name and name != expected:
        raise HtmlError(
            f"Unmatched end tag at byte offset {_offset(html, begin)}, "
            f'expected "</{expected}>", found "</{name}>"'
        )
    return i + 1
