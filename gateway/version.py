"""Which build is running: the gateway's own version and commit, and what the core says of its.

Support tickets and launch evidence need both sides' builds. The gateway's version comes from the
installed distribution's metadata (pyproject's `[project] version`), its commit from
`GATEWAY_COMMIT` (set at build or deploy time) or, in a git checkout, `git rev-parse`; both are
read once per process and cached, so nothing on a hot path runs git.

The core's build is what it reports itself: the `X-General-Augment-Version` and
`X-General-Augment-Build` headers on any answer, or `version` / `build` in the JSON of
`GET {core}/health` (docs/decisions.md). `CoreBuildCache` keeps the latest report so readiness
can show it without calling the core.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import aiohttp

from gateway.netguard import guarded_connector

DISTRIBUTION = "channel-gateway"
COMMIT_ENV = "GATEWAY_COMMIT"
UNKNOWN = "unknown"
VERSION_HEADER = "X-General-Augment-Version"
BUILD_HEADER = "X-General-Augment-Build"
HEALTH_PATH = "/health"
PROBE_EVERY_SECONDS = 60.0
_MAX_LEN = 80
_CHECKOUT = Path(__file__).resolve().parents[1]


@functools.cache
def gateway_version() -> str:
    """The installed distribution's version ("unknown" when run from an uninstalled tree)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


@functools.cache
def gateway_commit() -> str | None:
    """`GATEWAY_COMMIT`, else the checkout's short HEAD; None when neither is known. Never
    fails: git may be missing, slow or not a checkout."""
    given = _clean(os.environ.get(COMMIT_ENV))
    if given:
        return given
    if not (_CHECKOUT / ".git").exists():
        return None
    try:
        found = subprocess.run(
            ["git", "-C", str(_CHECKOUT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return _clean(found.stdout) if found.returncode == 0 else None


def gateway_build() -> dict[str, str | None]:
    return {"version": gateway_version(), "commit": gateway_commit()}


def describe() -> str:
    """`gateway 0.1.0 (commit abc1234)`, the `--version` line."""
    commit = gateway_commit()
    return f"gateway {gateway_version()}" + (f" (commit {commit})" if commit else "")


@dataclass(frozen=True)
class CoreBuild:
    """What a core said about its build, when, and where it said it."""

    version: str | None
    build: str | None
    source: str  # "response header" or "health"
    seen_at: datetime

    def as_dict(self) -> dict[str, str | None]:
        return {
            "version": self.version,
            "build": self.build,
            "source": self.source,
            "seen_at": self.seen_at.isoformat(),
        }


def core_build_from_headers(headers: Mapping[str, str]) -> CoreBuild | None:
    version, build = _clean(headers.get(VERSION_HEADER)), _clean(headers.get(BUILD_HEADER))
    if version is None and build is None:
        return None
    return CoreBuild(version, build, "response header", datetime.now(UTC))


def core_build_from_health(payload: object) -> CoreBuild | None:
    if not isinstance(payload, dict):
        return None
    version, build = _clean(payload.get("version")), _clean(payload.get("build"))
    if version is None and build is None:
        return None
    return CoreBuild(version, build, "health", datetime.now(UTC))


async def probe_core(base_url: str, *, timeout: float = 5.0) -> CoreBuild | None:
    """`GET {core}/health`, then its headers; None when the core is unreachable or silent."""
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), connector=guarded_connector()
            ) as http,
            http.get(base_url.rstrip("/") + HEALTH_PATH) as resp,
        ):
            try:
                payload: object = await resp.json(content_type=None)
            except ValueError:
                payload = None
            return core_build_from_health(payload) or core_build_from_headers(resp.headers)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


def core_report(found: CoreBuild | None) -> dict[str, str | None] | str:
    return found.as_dict() if found is not None else UNKNOWN


class CoreBuildCache:
    """The latest build a core reported (on a turn's answer or a probe).

    Readiness is polled, so it only reads this; `probe_due` lets it start at most one
    background probe a minute while nothing newer is known.
    """

    def __init__(self, probe_every: float = PROBE_EVERY_SECONDS) -> None:
        self.latest: CoreBuild | None = None
        self.probe_every = probe_every
        self._heard = float("-inf")
        self._probed = float("-inf")

    def note(self, found: CoreBuild | None) -> None:
        if found is not None:
            self.latest = found
            self._heard = time.monotonic()

    def note_headers(self, headers: Mapping[str, str]) -> None:
        self.note(core_build_from_headers(headers))

    def probe_due(self) -> bool:
        """True (and the probe counted as started) when neither an answer nor a probe came
        within `probe_every` seconds."""
        now = time.monotonic()
        if now - max(self._heard, self._probed) < self.probe_every:
            return False
        self._probed = now
        return True


def _clean(value: object) -> str | None:
    """A short printable string, or None: what a remote says about itself is untrusted."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    text = "".join(ch for ch in str(value).strip() if ch.isprintable())[:_MAX_LEN]
    return text or None
