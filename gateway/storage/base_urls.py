"""Moving a base URL moves the secrets sent there: who may, and what they must give again.

A project's `core_base_url` receives its core key (and the core's admin key, for core-owned
approvals); an account's `api_base_url` receives the provider secrets its adapter names
(`ChannelAdapter.api_secrets`: the bot token, the Twilio auth token, the WhatsApp access
token). Whoever changes the URL must re-enter each of those the row holds in the same request,
so a stolen admin credential cannot send a tenant's stored secrets to a host of its choosing; a
project API key may not change these URLs at all. Setting a URL to its current value is not a
change.
"""

from __future__ import annotations

from typing import Any

from channels import ADAPTERS
from gateway.errors import Forbidden, Invalid
from gateway.storage.db.models import Project

PROJECT_URL_SECRETS = (
    ("core_api_key", "core_key_encrypted"),
    ("genaug_admin_key", "genaug_admin_key_encrypted"),
)
"""A project's secrets sent to `core_base_url`, and the column each is stored in."""


def check_project_move(
    project: Project, changes: dict[str, Any], default_url: str, *, may_move: bool
) -> None:
    """Raise unless `changes` (a project patch) leaves the core URL or may move it."""
    if "core_base_url" not in changes:
        return
    before = (project.core_base_url or default_url).rstrip("/")
    after = (changes["core_base_url"] or default_url).rstrip("/")
    if before == after:
        return
    held = [name for name, column in PROJECT_URL_SECRETS if getattr(project, column) is not None]
    _check("core_base_url", held, changes, may_move, cli_hint=" (CLI: --core-key)")


def check_account_move(
    channel: str,
    before: dict[str, Any],
    after: dict[str, Any],
    secrets: dict[str, str],
    changes: dict[str, Any],
    *,
    may_move: bool,
) -> None:
    """Raise unless an account change (config `before` -> `after`) leaves `api_base_url` or
    may move it; `secrets` are the account's stored ones."""
    if before.get("api_base_url") == after.get("api_base_url"):
        return
    held = [name for name in ADAPTERS[channel].api_secrets if secrets.get(name)]
    _check("api_base_url", held, changes, may_move)


def _check(
    field: str, held: list[str], changes: dict[str, Any], may_move: bool, cli_hint: str = ""
) -> None:
    if not may_move:
        raise Forbidden(f"a project API key cannot change {field}; use the global admin key")
    missing = [name for name in held if not changes.get(name)]
    if missing:
        names = ", ".join(missing)
        raise Invalid(
            f"changing {field} sends {names} to the new host: give {names} again in the same "
            f"request{cli_hint}"
        )
