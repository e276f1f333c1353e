"""Who calls the admin API: the operators' global key (`GATEWAY_ADMIN_KEY`) or a project's API key.

Both arrive in `X-Admin-Key`. The global key works everywhere; a project key (`gwk_...`, made by
`gateway keys create`) only under `/api/v1/admin/projects/{its project}/`. A project key is
found by its hash and remembered for `KEY_CACHE_SECONDS`, so a revocation (made by the CLI, in
another process) takes effect on every process within that bound.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

import structlog

from gateway.config import Settings
from gateway.storage.api_keys import ApiKeyStore, KeyOwner, key_hash, looks_like_project_key

MIN_ADMIN_KEY_CHARS = 32
PLACEHOLDERS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        # The value in deploy/gateway.env.example (tests/web/test_admin_auth.py checks every
        # example file's value is refused).
        "replace-with-a-random-key-from-secrets-token-urlsafe-32",
    }
)
KEY_CACHE_SECONDS = 5.0
"""How long a project key's lookup (found, unknown or revoked) is reused: the revocation bound."""
_CACHE_ENTRIES = 4096
log = structlog.get_logger("gateway.admin")


@dataclass(frozen=True)
class Caller:
    """The identity behind one admin request."""

    project: str | None = None
    """None: the global key; else the only project this key may act on."""
    key_id: str | None = None
    key_name: str | None = None

    @property
    def is_global(self) -> bool:
        return self.project is None

    @property
    def actor(self) -> str:
        """The audit log's actor: `admin-api:global` or `admin-api:key:<name>(<id>)`."""
        return (
            "admin-api:global"
            if self.is_global
            else f"admin-api:key:{self.key_name}({self.key_id})"
        )

    @property
    def via(self) -> str:
        """Appended to an actor the caller names itself: `alice via key:ops-bot`."""
        return "global" if self.is_global else f"key:{self.key_name}"

    def may_act_on(self, project: str | None) -> bool:
        """Whether this caller may use a route of `project` (None: a project-less route)."""
        return self.is_global or (project is not None and project == self.project)


GLOBAL = Caller()


def configured_admin_key(settings: Settings) -> str | None:
    """The global key, or None when unset; an empty (or blank) value is unset, never a key."""
    if settings.admin_key is None:
        return None
    key = settings.admin_key.get_secret_value()
    return key if key.strip() else None


def admin_key_problem(settings: Settings) -> str | None:
    """Why the configured global key must not be served (one line), or None when it may."""
    key = configured_admin_key(settings)
    if key is None:
        return None
    how = "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    if key.strip().lower() in PLACEHOLDERS:
        return f"GATEWAY_ADMIN_KEY is a placeholder from an example; {how}"
    if len(key) < MIN_ADMIN_KEY_CHARS:
        return (
            f"GATEWAY_ADMIN_KEY has {len(key)} characters, fewer than {MIN_ADMIN_KEY_CHARS}; {how}"
        )
    return None


class AdminAuth:
    """Maps an `X-Admin-Key` value to its `Caller`, or None (401)."""

    def __init__(
        self, settings: Settings, keys: ApiKeyStore, cache_seconds: float = KEY_CACHE_SECONDS
    ) -> None:
        self.keys, self.cache_seconds = keys, cache_seconds
        key = configured_admin_key(settings)
        if key is not None and (problem := admin_key_problem(settings)) is not None:
            # `serve` stops on this; any other way of starting the app never accepts it either.
            log.error("admin.global_key_refused", problem=problem)
            key = None
        self._global = key.encode() if key is not None else None
        self._cache: dict[str, tuple[float, KeyOwner | None]] = {}

    async def caller(self, given: str) -> Caller | None:
        if not given:
            return None
        raw = given.encode("utf-8", "surrogateescape")
        if self._global is not None and hmac.compare_digest(raw, self._global):
            return GLOBAL
        if not looks_like_project_key(given):
            return None
        owner = await self._owner(given)
        if owner is None:
            return None
        return Caller(project=owner.project, key_id=owner.key_id, key_name=owner.name)

    async def _owner(self, key: str) -> KeyOwner | None:
        digest, now = key_hash(key), time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        owner = await self.keys.owner(key)
        if len(self._cache) >= _CACHE_ENTRIES:
            self._cache = {d: e for d, e in self._cache.items() if e[0] > now}
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
        self._cache[digest] = (now + self.cache_seconds, owner)
        return owner
