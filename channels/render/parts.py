"""A rendered reply's messages in order: its text split into parts, its images in their place,
at most `max_parts` text parts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from channels.render.model import Image, Item, Run
from channels.render.parse import strip_runs
from channels.render.split import split_runs
from channels.render.write import measure, write
from gateway.messages import ReplyPart

if TYPE_CHECKING:
    from channels.capabilities import Capabilities


def assemble(items: list[Item], caps: Capabilities, max_parts: int | None) -> list[ReplyPart]:
    """The parts of a flattened reply. Images do not count as text parts; when the text is cut
    short, nothing after the cut is sent."""
    markup = caps.markup

    def cost(runs: Sequence[Run]) -> int:
        return measure(runs, markup, caps.text_units)

    sequence = _segments(items, lambda caption: cost(caption) <= caps.max_caption_units)
    parts: list[ReplyPart] = []
    texts = 0
    for index, element in enumerate(sequence):
        if isinstance(element, Image):
            parts.append(ReplyPart(write(element.caption, markup), markup, element.url))
            continue
        more_after = any(not isinstance(later, Image) for later in sequence[index + 1 :])
        budget = None if max_parts is None else max_parts - texts
        pieces, cut = split_runs(
            element, caps.max_text_units, cost, caps.text_units, budget, more_after
        )
        parts.extend(ReplyPart(write(piece, markup), markup) for piece in pieces)
        texts += len(pieces)
        if cut:
            break
    return parts


def _segments(
    items: list[Item], caption_fits: Callable[[Sequence[Run]], bool]
) -> list[list[Run] | Image]:
    """Text between images as lists of runs (whitespace next to an image dropped, empty text
    left out), an image whose caption is too long followed by its caption as text."""
    sequence: list[list[Run] | Image] = [[]]
    for item in items:
        if isinstance(item, Run):
            last = sequence[-1]
            if isinstance(last, Image):
                last = []
                sequence.append(last)
            last.append(item)
        elif item.caption and not caption_fits(item.caption):
            sequence.extend([Image(item.url), list(item.caption)])
        else:
            sequence.append(item)
    out: list[list[Run] | Image] = []
    for index, element in enumerate(sequence):
        if isinstance(element, Image):
            out.append(element)
            continue
        after_image = index > 0 and isinstance(sequence[index - 1], Image)
        before_image = index + 1 < len(sequence) and isinstance(sequence[index + 1], Image)
        runs = strip_runs(element, after_image, before_image)
        if "".join(run.text for run in runs).strip():
            out.append(runs)
    return out
