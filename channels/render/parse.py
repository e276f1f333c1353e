"""Markdown (CommonMark with `~~strike~~` and GFM tables, parsed by markdown-it-py) flattened into
runs for one dialect (`model.py`).

What differs per dialect is decided here: list bullets, whether a link is a style (Telegram's
`<a href>`) or its text followed by `(url)`, whether an image is sent as an image. Everything else
is a style the writers (`write.py`) show their own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

from channels.render.model import BOLD, CODE, ITALIC, QUOTE, STRIKE, Image, Item, Run, Style

_INLINE_STYLES = {"strong_open": BOLD, "em_open": ITALIC, "s_open": STRIKE}
_INLINE_CLOSE = frozenset({"strong_close", "em_close", "s_close"})
_LINK_SCHEMES = ("http://", "https://", "tg://")
"""Links Telegram opens from an `<a href>`; any other becomes `text (url)`."""
_RULE = {"html": "———", "whatsapp": "———", "plain": "---"}
"""A thematic break, on a line of its own (SMS: GSM-7 characters only, no UCS-2 for a line)."""


@cache
def _parser() -> MarkdownIt:
    """Built once: building the rule chains costs more than parsing a short reply. Raw HTML is
    not parsed: it is text like any other (escaped for Telegram), with Markdown around it."""
    return (
        MarkdownIt("commonmark")
        .enable(["strikethrough", "table"])
        .disable(["html_block", "html_inline"])
    )


def flatten(markdown: str, markup: str, sends_images: bool) -> list[Item]:
    """The runs (and images) of `markdown` rendered for `markup` ("html", "whatsapp", "plain")."""
    flattener = _Flattener(markup, sends_images)
    flattener.blocks(_parser().parse(markdown))
    return flattener.items


class _Flattener:
    def __init__(self, markup: str, sends_images: bool) -> None:
        self.items: list[Item] = []
        self.html = markup == "html"
        self.bullet = "• " if self.html else "- "
        self.rule = _RULE.get(markup, "---")
        self.sends_images = sends_images
        self.block: list[Style] = []  # quotes and the code block the text is in
        self.inline: list[Style] = []
        self.indent = ""  # continuation lines inside list items
        self.pending = ""  # the separator owed before the next block
        self.last_line = -1  # where the last block opened ends in the source
        self.lists: list[int | None] = []  # the next number of each open list (None: bullets)
        self.saved_indents: list[str] = []
        self.links: list[tuple[str, int] | None] = []  # (href, first item) of links shown as text
        self.first_cell = False

    # --- emitting -----------------------------------------------------------------------------

    def emit(self, text: str) -> None:
        if text:
            styles = (*self.block, *self.inline)
            if len(set(styles)) < len(styles):  # `# **x**`: bold once (`**x**` on WhatsApp)
                styles = tuple(dict.fromkeys(styles))
            self.items.append(Run(text, styles))

    def emit_lines(self, text: str) -> None:
        """Text that may hold line breaks: continuation lines keep the list item's indent."""
        self.emit(text.replace("\n", "\n" + self.indent) if self.indent else text)

    def open_block(self, token: Token) -> None:
        """Before a block: the separator owed, a blank line only where the source has one."""
        if self.pending:
            adjacent = token.map is not None and token.map[0] == self.last_line
            self.emit(("\n" if adjacent else self.pending) + self.indent)
            self.pending = ""
        if token.map is not None:
            self.last_line = token.map[1]

    def close_block(self) -> None:
        self.pending = "\n" if self.saved_indents else "\n\n"

    # --- blocks -------------------------------------------------------------------------------

    def blocks(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind == "inline":
                self.inlines(token.children or ())
            elif kind == "paragraph_open":
                self.open_block(token)
            elif kind == "table_open":
                self.open_block(token)
                self.first_cell = True  # no line break before the first row
            elif kind in ("paragraph_close", "table_close"):
                self.close_block()
            elif kind == "heading_open":
                self.open_block(token)
                self.inline.append(BOLD)
            elif kind == "heading_close":
                self.inline.pop()
                self.close_block()
            elif kind == "blockquote_open":
                self.open_block(token)
                self.block.append(QUOTE)
            elif kind == "blockquote_close":
                self.block.pop()
                self.close_block()
            elif kind in ("bullet_list_open", "ordered_list_open"):
                self.open_block(token)
                ordered = kind == "ordered_list_open"
                self.lists.append(int(token.attrGet("start") or 1) if ordered else None)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
                self.close_block()
            elif kind == "list_item_open":
                self.list_item(token)
            elif kind == "list_item_close":
                self.indent = self.saved_indents.pop()
                self.pending = "\n"
            elif kind in ("fence", "code_block"):
                self.code_block(token)
            elif kind == "hr":
                self.open_block(token)
                self.emit(self.rule)
                self.close_block()
            else:
                self.table(token)

    def list_item(self, token: Token) -> None:
        self.open_block(token)
        number = self.lists[-1]
        if number is None:
            marker = self.bullet
        else:
            marker = f"{number}. "
            self.lists[-1] = number + 1
        self.emit(marker)
        self.saved_indents.append(self.indent)
        self.indent += " " * len(marker)

    def code_block(self, token: Token) -> None:
        self.open_block(token)
        words = token.info.split(maxsplit=1)
        language = "".join(c for c in words[0] if c.isalnum() or c in "+-#._") if words else ""
        self.block.append(Style("pre", language))
        self.emit(token.content.removesuffix("\n"))  # code keeps its own lines, not the indent
        self.block.pop()
        self.close_block()

    def table(self, token: Token) -> None:
        """A table as lines of cells joined by ` | `, the header cells bold."""
        kind = token.type
        if kind == "tr_open":
            if not self.first_cell:
                self.emit("\n" + self.indent)
            self.first_cell = True
        elif kind == "tr_close":
            self.first_cell = False
        elif kind in ("th_open", "td_open"):
            if not self.first_cell:
                self.emit(" | ")
            self.first_cell = False
            if kind == "th_open":
                self.inline.append(BOLD)
        elif kind == "th_close":
            self.inline.pop()

    # --- inline -------------------------------------------------------------------------------

    def inlines(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind in ("softbreak", "hardbreak"):
                self.emit("\n" + self.indent)
            elif kind in _INLINE_STYLES:
                self.inline.append(_INLINE_STYLES[kind])
            elif kind in _INLINE_CLOSE:
                self.inline.pop()
            elif kind == "code_inline":
                self.inline.append(CODE)
                self.emit(token.content)
                self.inline.pop()
            elif kind == "link_open":
                self.link_open(str(token.attrGet("href") or ""))
            elif kind == "link_close":
                self.link_close()
            elif kind == "image":
                self.image(token)
            else:  # text
                self.emit_lines(token.content)

    def link_open(self, href: str) -> None:
        if self.html and href.lower().startswith(_LINK_SCHEMES):
            self.inline.append(Style("a", href))
            self.links.append(None)
        else:
            self.links.append((href, len(self.items)))

    def link_close(self) -> None:
        shown_as_text = self.links.pop()
        if shown_as_text is None:
            self.inline.pop()
            return
        href, first = shown_as_text
        text = "".join(item.text for item in self.items[first:] if isinstance(item, Run))
        if text.strip() in (href, href.removeprefix("mailto:")) or not href:
            return
        self.emit(f" ({href})" if text.strip() else href)

    def image(self, token: Token) -> None:
        url = str(token.attrGet("src") or "")
        if self.sends_images and url.lower().startswith("https://"):
            caption = _Flattener("html" if self.html else "plain", sends_images=False)
            caption.inlines(token.children or ())
            self.items.append(Image(url, tuple(strip_runs(caption.runs(), True, True))))
            return
        alt = "".join(item.text for item in self.alt_runs(token.children or ()))
        if url.lower().startswith("data:") or not url:
            self.emit_lines(alt)  # an inline image's bytes are no link to show
        else:
            self.emit_lines(f"{alt} ({url})" if alt.strip() else url)

    def alt_runs(self, tokens: Sequence[Token]) -> list[Run]:
        """The plain runs of inline `tokens` (an image's alt text shown in a line)."""
        alt = _Flattener("plain", sends_images=False)
        alt.inlines(tokens)
        return alt.runs()

    def runs(self) -> list[Run]:
        return [item for item in self.items if isinstance(item, Run)]


def strip_runs(runs: list[Run], head: bool, tail: bool) -> list[Run]:
    """`runs` without the whitespace at their start (`head`) and end (`tail`)."""
    runs = list(runs)
    while head and runs and not runs[0].text.lstrip():
        runs.pop(0)
    if head and runs:
        runs[0] = Run(runs[0].text.lstrip(), runs[0].styles)
    while tail and runs and not runs[-1].text.rstrip():
        runs.pop()
    if tail and runs:
        runs[-1] = Run(runs[-1].text.rstrip(), runs[-1].styles)
    return runs
