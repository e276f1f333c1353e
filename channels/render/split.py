"""A formatted reply cut into parts that fit one message each.

Cuts are chosen on the visible text with `textsplit`'s preferences (paragraph, line, sentence,
word) and measured on the part as written: a cut never falls inside a marker or an escape (they
are written after cutting), and a span crossing a cut is closed at the end of one part and
reopened at the start of the next (each part is written from its own runs).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate

from channels.render.model import Run
from channels.textsplit import TRUNCATED, best_cut, longest_prefix

Cost = Callable[[Sequence[Run]], int]
"""How long a part written from these runs is, in the provider's units."""


class _Text:
    """Runs and their visible text, sliced by offsets in that text."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.runs = runs
        self.text = "".join(run.text for run in runs)
        self.ends = list(accumulate(len(run.text) for run in runs))

    def slice(self, start: int, end: int) -> list[Run]:
        out: list[Run] = []
        index = bisect_right(self.ends, start)  # the run holding offset `start`
        run_start = self.ends[index - 1] if index else 0
        while index < len(self.runs) and run_start < end:
            run = self.runs[index]
            run_end = self.ends[index]
            a, b = max(start, run_start) - run_start, min(end, run_end) - run_start
            out.append(run if a == 0 and b == len(run.text) else Run(run.text[a:b], run.styles))
            index, run_start = index + 1, run_end
        return out


def split_runs(
    runs: Sequence[Run],
    limit: int,
    cost: Cost,
    units: Callable[[str], int],
    max_parts: int | None = None,
    more_after: bool = False,
) -> tuple[list[list[Run]], bool]:
    """`runs` in parts each within `limit`, and whether the reply was cut short.

    `cost` counts a written part; `units` counts visible text the same way, and a written part
    never costs less than its visible text. The parts' runs join back to `runs` unless more than
    `max_parts` parts would be needed (or `more_after`: more text follows these runs and this is
    the last part allowed): then the last part allowed ends early, at a boundary, with
    `TRUNCATED`. A part only exceeds `limit` when one character alone, in its reopened
    formatting, is longer.
    """
    text = _Text(runs)
    parts: list[list[Run]] = []
    start = 0
    while True:
        rest = text.slice(start, len(text.text)) if start else list(runs)
        fits = units(text.text[start:]) <= limit and cost(rest) <= limit
        if max_parts is not None and len(parts) == max_parts - 1 and (more_after or not fits):
            parts.append(_truncated(text, start, limit, cost, units))
            return parts, True
        if fits:
            if rest or not parts:
                parts.append(rest)
            return parts, False
        window = text.text[start:]
        fit = _longest_fit(text, start, limit, cost, units) or 1  # one character at least
        cut = best_cut(window[:fit])
        parts.append(text.slice(start, start + cut))
        start += cut


def _longest_fit(
    text: _Text,
    start: int,
    limit: int,
    cost: Cost,
    units: Callable[[str], int],
    tail: Sequence[Run] = (),
) -> int:
    """The most visible characters from `start` whose written part (then `tail`) fits: 0 if none.

    The visible text bounds it from above (cheap: no writing); markers are few, so the written
    part is measured only near that bound. Each character dropped shortens the written part by
    at least one unit (markers only ever go with it), hence `hi - excess` fits."""

    def written(n: int) -> int:
        return cost([*text.slice(start, start + n), *tail])

    window = text.text[start:]
    room = limit - units("".join(run.text for run in tail))
    if room <= 0 or written(0) > limit:
        return 0
    hi = min(longest_prefix(window, room, units), len(window))
    if units(window[:hi]) > room:
        hi = 0
    excess = written(hi) - limit
    if excess <= 0:
        return hi
    lo = max(hi - excess, 0)
    if written(lo) > limit:  # not expected: search all the way down
        lo = 0
    while hi - lo > 1:  # written(lo) fits, written(hi) does not
        mid = (lo + hi) // 2
        if written(mid) <= limit:
            lo = mid
        else:
            hi = mid
    return lo


def _truncated(
    text: _Text, start: int, limit: int, cost: Cost, units: Callable[[str], int]
) -> list[Run]:
    """The last part allowed: as much of the rest as fits before `TRUNCATED`, cut at a boundary."""
    marker = Run(TRUNCATED)
    window = text.text[start:]
    fit = _longest_fit(text, start, limit, cost, units, (marker,))
    keep = fit if fit == len(window) else best_cut(window[:fit])
    kept = len(window[:keep].rstrip())
    if not kept:
        return [Run(TRUNCATED.strip())]
    return [*text.slice(start, start + kept), marker]
