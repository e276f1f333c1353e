"""Split long replies into provider-sized parts that join back to exactly the original text."""

from __future__ import annotations

from collections.abc import Callable

# Preferred cut points, best first: paragraph, line, sentence end, word, anywhere.
_BOUNDARIES = ("\n\n", "\n", ". ", "! ", "? ", " ")


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut after the best boundary that keeps each part within `limit` units.

    Nothing is added or dropped: `"".join(parts) == text`. A part only ends mid-word when a word
    alone is longer than the limit, and never inside a UTF-16 surrogate pair.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        fit = _longest_prefix(rest, limit, measure)
        window = rest[:fit]
        cut = 0
        for boundary in _BOUNDARIES:
            at = window.rfind(boundary)
            # Ignore cuts in the first quarter: they would leave a tiny part.
            if at > fit // 4:
                cut = at + len(boundary)
                break
        cut = cut or fit
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """Largest n with measure(text[:n]) <= limit (binary search: measure is monotonic)."""
    lo, hi = 1, min(len(text), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return max(lo, 1)
