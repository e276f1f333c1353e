"""The renderer's intermediate model: a reply is a flat sequence of runs of visible text, each
with the formatting it sits in (outermost first), and the images in their place. (Named tuples:
a reply has hundreds of runs, and they are cheap to make.)"""

from __future__ import annotations

from typing import Literal, NamedTuple

StyleKind = Literal["b", "i", "s", "code", "a", "pre", "quote"]


class Style(NamedTuple):
    kind: StyleKind
    value: str = ""
    """A link's href, a code block's language."""


BOLD = Style("b")
ITALIC = Style("i")
STRIKE = Style("s")
CODE = Style("code")
QUOTE = Style("quote")


class Run(NamedTuple):
    """Visible text in its formatting. Styles nest as listed: a run's styles start with the
    styles of the block it is in (quote, code block), then the inline ones."""

    text: str
    styles: tuple[Style, ...] = ()


class Image(NamedTuple):
    """An image the channel sends by its https URL, its caption in runs."""

    url: str
    caption: tuple[Run, ...] = ()


Item = Run | Image
