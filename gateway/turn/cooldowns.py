"""The core's 429s this process remembers, per user or for the whole project.

A 429 is about one user unless the core's reason says the limit is the project's
(`project_rate_limited`, or any reason starting with `project`): then every user of the project
waits. While a wait is in force the turn is deferred without calling the core again, so a storm
of 429s never raises the request rate. When a wait ends, one turn asks the core (the probe) while
the others hold back `PROBE_HOLD_SECONDS` more: a success clears the wait, another 429 starts a
new one, so deferred turns do not all call at the same instant. Each process learns its own waits
(a process that has not seen the 429 asks once and is told); nothing is shared through the
database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

Scope = Literal["user", "project"]

MAX_ENTRIES = 10_000
"""Past this many remembered waits the ones already over are forgotten (memory stays bounded)."""
PROBE_HOLD_SECONDS = 2.0
"""How long the others wait for the probe's answer (a lost probe costs at most this)."""


def limit_scope(reason: str | None) -> Scope:
    """Per user unless the core's reason says the whole project is limited."""
    return "project" if reason and reason.lower().startswith("project") else "user"


@dataclass(frozen=True)
class Wait:
    seconds: float
    scope: Scope
    reason: str | None


class Cooldowns:
    def __init__(self) -> None:
        self._until: dict[tuple[int, str | None], tuple[float, Scope, str | None]] = {}

    def note(
        self, project_id: int, user: str, scope: Scope, seconds: float, reason: str | None
    ) -> None:
        """The core asked `user` (or, `scope` project, everyone) to wait `seconds`."""
        now = time.monotonic()
        if len(self._until) >= MAX_ENTRIES:
            self._until = {k: v for k, v in self._until.items() if v[0] > now}
        key = (project_id, None if scope == "project" else user)
        until = max(now + seconds, self._until.get(key, (0.0, scope, None))[0])
        self._until[key] = (until, scope, reason)

    def left(self, project_id: int, user: str) -> Wait | None:
        """The longest wait in force for `user` of the project (theirs or the project's); None
        when there is none, or when a wait just ended and this caller is to probe."""
        now = time.monotonic()
        keys = [k for k in ((project_id, None), (project_id, user)) if k in self._until]
        active = [self._until[key] for key in keys if self._until[key][0] > now]
        if active:
            until, scope, reason = max(active, key=lambda entry: entry[0])
            return Wait(until - now, scope, reason)
        for key in keys:  # every wait is over: this caller probes, the others hold back
            _, scope, reason = self._until[key]
            self._until[key] = (now + PROBE_HOLD_SECONDS, scope, reason)
        return None

    def clear(self, project_id: int, user: str) -> None:
        """The core answered `user` without a 429: their wait and the project's are over."""
        self._until.pop((project_id, None), None)
        self._until.pop((project_id, user), None)
