"""Split long replies into provider-sized parts that join back to exactly the original text."""

from __future__ import annotations

from collections.abc import Callable

# Preferred cut points, best first: paragraph, line, sentence end, word, anywhere.
_BOUNDARIES = ("\n\n", "\n", ". ", "! ", "? ", " ")


TRUNCATED = "\n[…message cut short: too long]"
"""Ends the last part of a text cut at the most parts allowed: the reader sees it was cut."""


def split_text(
    text: str, limit: int, measure: Callable[[str], int] = len, max_parts: int | None = None
) -> list[str]:
    """Cut after the best boundary that keeps each part within `limit` units.

    Nothing is added or dropped: `"".join(parts) == text`, unless more than `max_parts` parts
    would be needed: then the last one allowed ends early (at a boundary) with `TRUNCATED`. A
    part only ends mid-word when a word alone is longer than the limit, and never inside a
    UTF-16 surrogate pair.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    if max_parts is not None and max_parts <= 0:
        raise ValueError("max_parts must be positive")
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        if max_parts is not None and len(parts) == max_parts - 1:
            room = limit - measure(TRUNCATED)
            head = rest[: _cut(rest, room, measure)] if room > 0 else ""
            parts.append(head.rstrip() + TRUNCATED if room > 0 else TRUNCATED.strip())
            return parts
        cut = _cut(rest, limit, measure)
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """Where the part that starts `text` ends: after the best boundary within `limit` units."""
    return best_cut(text[: longest_prefix(text, limit, measure)])


def best_cut(window: str) -> int:
    """Where a part that may hold all of `window` ends: after its best boundary, else at its
    end (also used on the visible text of formatted replies, `channels/render/`)."""
    fit = len(window)
    for boundary in _BOUNDARIES:
        at = window.rfind(boundary)
        # Ignore cuts in the first quarter: they would leave a tiny part.
        if at > fit // 4:
            return at + len(boundary)
    return fit


def longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """Largest n with measure(text[:n]) <= limit (binary search: measure is monotonic)."""
    lo, hi = 1, min(len(text), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return max(lo, 1)
