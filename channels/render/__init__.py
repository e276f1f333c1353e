"""The agent's Markdown answer rendered as the messages one channel shows.

Markdown is parsed with markdown-it-py (CommonMark, `~~strike~~`, GFM tables; `parse.py`) into runs
of visible text with their styles (`model.py`), written per dialect (`write.py`) and cut into
parts on the rendered form (`split.py`), images in their place (`parts.py`).

| Markdown | html (Telegram HTML parse mode) | whatsapp | plain (SMS) |
| --- | --- | --- | --- |
| `**b**` `*i*` `~~s~~` | `<b>` `<i>` `<s>` | `*b*` `_i_` `~s~` | the text |
| `` `code` `` | `<code>` | `` `code` `` | the text |
| fenced code | `<pre><code class="language-x">` | ```` ```code``` ```` | the text |
| `# heading` | a bold line | a bold line | the line |
| `[text](url)` | `<a href="url">` | `text (url)` | `text (url)` |
| lists | `• item`, `1. item` | `- item`, `1. item` | `- item`, `1. item` |
| `> quote` | `<blockquote>` | `> ` lines | the text |
| `![alt](https://…)` | an image part, alt its caption | the same | the same |

Nested list items are indented under their parent's text. A link whose text is its URL is shown
once. WhatsApp markers hug the text they format (whitespace stays outside, one line at a time)
or WhatsApp shows them literally. Telegram's nesting rules hold: nothing inside `pre` / `code`, no
code inside a link, quotes do not nest. An image goes as its own part in its place where the
channel `sends_images` and the URL is https; a caption longer than `max_caption_units` follows the
image as text; otherwise the image is `alt (url)` in the text.

A text with none of Markdown's special characters skips the parser: it is split exactly as
`Capabilities.split` splits it and its parts are `plain` (valid in every dialect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.render.html import html_to_plain
from gateway.messages import ReplyPart

if TYPE_CHECKING:
    from channels.capabilities import Capabilities

__all__ = ["html_to_plain", "render_reply"]

_SYNTAX = frozenset("*_~`[]<>&\\|")
"""Characters that may be Markdown (or must be escaped in HTML) anywhere in a line."""
_LINE_START = frozenset("-+*>#=\t")
"""First characters of a line that may open a block: list, quote, heading, setext underline."""


def render_reply(
    markdown: str, caps: Capabilities, max_parts: int | None = None
) -> list[ReplyPart]:
    """`markdown` as the parts this channel sends, in order: text parts within
    `caps.max_text_units` (at most `max_parts` of them, the last ending with the truncation
    marker when cut) and image parts in their place."""
    if _no_markdown(markdown):
        return [ReplyPart(part) for part in caps.split(markdown, max_parts)]
    # markdown-it-py (~2 MB, ~40 ms to import) is loaded with the first Markdown answer: a
    # process whose answers are plain never pays for it.
    from channels.render.parse import flatten
    from channels.render.parts import assemble

    parts = assemble(flatten(markdown, caps.markup, caps.sends_images), caps, max_parts)
    return parts or [ReplyPart(part) for part in caps.split(markdown.strip(), max_parts)]


def _no_markdown(text: str) -> bool:
    """No character that could start Markdown syntax (cheap: no parse, a few microseconds)."""
    if not _SYNTAX.isdisjoint(text):
        return False
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if not stripped:
            continue
        if len(line) - len(stripped) >= 4 or stripped[0] in _LINE_START:
            return False  # indented code, or a block's marker
        if stripped[0].isdigit() and stripped.lstrip("0123456789")[:1] in (".", ")"):
            return False  # an ordered list item
    return True
