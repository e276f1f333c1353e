"""Retry delays: exponential, capped, with jitter so that retries of a burst spread out."""

from __future__ import annotations

import random

_JITTER = random.Random()
"""A generator of its own: retry timing never disturbs (or depends on) the global `random`
state, which tests and libraries may seed or watch."""


def retry_delay(attempt: int, base: float, cap: float = float("inf")) -> float:
    """Seconds before retry number `attempt` (1-based): `base * 2**(attempt-1)`, at most `cap`,
    then scaled by a random 0.5-1.0 ("equal jitter": never less than half the step)."""
    return _JITTER.uniform(0.5, 1.0) * min(cap, base * 2 ** (attempt - 1))
