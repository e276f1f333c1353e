"""`gateway keys create|list|revoke`: per-project admin API keys for apps.

A project key opens only `/api/v1/admin/projects/<its project>/...` and cannot change a base URL;
the global `GATEWAY_ADMIN_KEY` stays with the operators. The key is printed once, at creation,
and stored only as a hash. Creating and revoking are audited with the actor `cli`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from gateway.cli.common import console, emit, err, load_settings, opened_store, run, validated
from gateway.schemas import ApiKeyCreate, ApiKeyOut

if TYPE_CHECKING:
    from gateway.storage.api_keys import ApiKeyStore

ACTOR = "cli"
T = TypeVar("T")
COLUMNS = ("id", "project", "name", "prefix", "status", "last_used")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _with_keys(action: Callable[[ApiKeyStore], Coroutine[Any, Any, T]]) -> T:
    from gateway.storage.api_keys import ApiKeyStore

    async def main() -> T:
        async with opened_store(load_settings()) as store:
            return await action(ApiKeyStore(store.db))

    return run(main())


def _row(key: ApiKeyOut) -> dict[str, str]:
    """A table row narrow enough for 80 columns (`--json` has every field)."""

    return {
        "id": key.id,
        "project": key.project,
        "name": key.name,
        "prefix": key.prefix + "…",
        "status": "revoked" if key.revoked_at is not None else "active",
        "last_used": key.last_used_at.strftime("%Y-%m-%d") if key.last_used_at else "-",
    }


def register(keys_app: typer.Typer) -> None:
    @keys_app.command(
        "create",
        help=(
            "Create an admin API key for one project and print it once (it is "
            "stored as a hash: save it now)."
        ),
    )
    def create(
        project: Annotated[str, typer.Option("--project", "-p", help="The key's project.")],
        name: Annotated[
            str, typer.Option(help="What the key is for (shown in lists and the audit log).")
        ] = "default",
        as_json: Annotated[
            bool, typer.Option("--json", help='Print {"id": ..., "key": ...} only.')
        ] = False,
    ) -> None:
        data = validated(ApiKeyCreate, name=name)
        listed, key = _with_keys(lambda keys: keys.create(project, data.name, actor=ACTOR))
        if as_json:
            sys.stdout.write(json.dumps({"id": listed.id, "key": key}) + "\n")
            return
        console.print(key, highlight=False, soft_wrap=True)
        err.print(
            f"API key {listed.id} ({listed.name}) for project {listed.project}: send it as "
            "X-Admin-Key; it is shown only now."
        )

    @keys_app.command(
        "list", help="List API keys (never the keys themselves: their first characters)."
    )
    def list_(
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Only this project's keys.")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        found = _with_keys(lambda keys: keys.list(project))
        if as_json:
            emit(found, True)
            return
        emit([_row(k) for k in found], False, COLUMNS, title="API keys")

    @keys_app.command(
        "revoke",
        help=(
            "Revoke an API key: running gateways refuse it within a few seconds "
            "(the lookup cache: gateway.web.admin_auth.KEY_CACHE_SECONDS)."
        ),
    )
    def revoke(
        key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (key_...).")],
    ) -> None:
        revoked = _with_keys(lambda keys: keys.revoke(key_id, actor=ACTOR))
        console.print(f"revoked {revoked.id} ({revoked.name}) of project {revoked.project}")
