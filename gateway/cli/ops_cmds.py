"""Operating commands: `gateway verify`, `gateway trace`, `gateway support-bundle`,
`gateway outbox ...`, `gateway inbox ...`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from gateway.cli.common import console, emit, fail, load_settings, run

if TYPE_CHECKING:
    from gateway.storage.db import Database

T = TypeVar("T")

DEFAULT = "default"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectFilter = Annotated[
    str | None, typer.Option("--project", "-p", help="Only this project (default: all).")
]
Limit = Annotated[int, typer.Option(min=1, max=10000, help="At most this many, newest first.")]


async def _with_db(action: Callable[[Database], Awaitable[T]]) -> T:
    from gateway.storage.db import Database
    from gateway.storage.db.schema import ensure_current

    db = Database(load_settings().database_url, pool_size=2)
    try:
        await ensure_current(db)
        return await action(db)
    finally:
        await db.close()


async def _story(ident: str, project: str | None, *, versions: bool = False) -> dict[str, Any]:
    """One turn's story; with `versions`, also both sides' builds (asks the core: bundles only)."""
    from gateway.ops import support

    async def find(db: Database) -> dict[str, Any] | None:
        inbox_id = await support.find(db, ident, project)
        if inbox_id is None:
            return None
        found = await support.story(db, inbox_id)
        if versions:
            core_url = load_settings().core_base_url
            found["versions"] = await support.versions(db, found["project"], core_url)
        return found

    found = await _with_db(find)
    if found is None:
        fail(f"no turn has the id {ident!r}" + (f" in project {project!r}" if project else ""))
    return found


def register(app: typer.Typer, outbox_app: typer.Typer, inbox_app: typer.Typer) -> None:
    @app.command(
        "verify",
        help=(
            "Check that the gateway is ready for real users: database and "
            "migrations, the secret key against stored secrets, each channel's "
            "credentials and webhook, a signed self-test webhook, a real core "
            "call with the project key. Exit 0 only when nothing fails."
        ),
    )
    def verify(
        project: Annotated[str, typer.Option("--project", "-p", help="Project name.")] = DEFAULT,
        gateway_url: Annotated[
            str | None,
            typer.Option(
                help="Where the running gateway answers webhooks (default GATEWAY_PUBLIC_URL)."
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        from gateway.ops.verify import as_dicts, run_checks
        from gateway.version import CoreBuildCache, core_report, describe, gateway_build

        core_build = CoreBuildCache()
        checks = run(run_checks(load_settings(), project, gateway_url, core_build))
        if as_json:
            report = {"project": project, "ok": all(c.status != "FAIL" for c in checks)}
            builds = {"gateway": gateway_build(), "core": core_report(core_build.latest)}
            typer.echo(json.dumps({**report, **builds, "checks": as_dicts(checks)}, indent=2))
        else:
            core = core_build.latest
            said = f"{core.version or '?'} (build {core.build or '?'})" if core else "unknown"
            console.print(f"{describe()}; core {said}", highlight=False)
            colour = {"PASS": "green", "FAIL": "red", "SKIP": "yellow", "WARN": "yellow"}
            for check in checks:
                console.print(
                    f"[{colour[check.status]}]{check.status}[/] {check.name}: {check.reason}",
                    highlight=False,
                )
        if any(check.status == "FAIL" for check in checks):
            raise typer.Exit(1)

    @app.command(
        "trace",
        help="The whole story of one turn: inbound event, identity, core call, sends, delivery.",
    )
    def trace(
        ident: Annotated[
            str,
            typer.Argument(
                help="A response id, trace id, request id, provider message id (update id, "
                "MessageSid, wamid, or a reply's id) or the `ref` number of an apology."
            ),
        ],
        project: ProjectFilter = None,
        as_json: JsonOpt = False,
    ) -> None:
        story = run(_story(ident, project))
        if as_json:
            typer.echo(json.dumps(story, indent=2, default=str))
            return
        for section in ("inbound", "identity", "core"):
            if story.get(section):
                emit(story[section], False, title=section)
        columns = ("outbox_id", "status", "attempts", "provider_message_id", "delivery_status")
        emit(story["outbound"], False, (*columns, "last_error"), title="outbound")

    @app.command(
        "support-bundle",
        help=(
            "Write one turn's story as JSON for a ticket, with the gateway's and "
            "the core's builds: phone numbers masked, no secrets."
        ),
    )
    def support_bundle(
        ident: Annotated[str, typer.Argument(help="Any id `gateway trace` accepts.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
        project: ProjectFilter = None,
    ) -> None:
        story = run(_story(ident, project, versions=True))
        output.write_text(json.dumps(story, indent=2, default=str) + "\n")
        console.print(f"wrote {output}")

    @outbox_app.command("list", help="Messages that were not delivered, with the reason.")
    def outbox_list(
        status: Annotated[
            list[str] | None, typer.Option(help="failed (refused) and/or dead (out of retries).")
        ] = None,
        project: ProjectFilter = None,
        limit: Limit = 100,
        as_json: JsonOpt = False,
    ) -> None:
        from gateway.ops import deadletters

        statuses = status or list(deadletters.OUTBOX_DEAD)
        rows = run(_with_db(lambda db: deadletters.list_outbox(db, statuses, project, limit)))
        columns = ("id", "project", "channel", "chat", "status", "attempts", "reason")
        emit(rows, as_json, columns, title="undelivered messages")

    @outbox_app.command(
        "retry", help="Queue failed or dead messages again (after fixing the cause)."
    )
    def outbox_retry(
        ids: Annotated[list[int] | None, typer.Argument(help="Outbox ids.")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every failed and dead message.")] = False,
    ) -> None:
        from gateway.ops import deadletters

        if not ids and not all_:
            fail("give outbox ids or --all")
        count = run(_with_db(lambda db: deadletters.retry_outbox(db, None if all_ else ids)))
        console.print(f"requeued {count} message(s)")

    @inbox_app.command("list", help="Inbound events whose processing gave up, with the reason.")
    def inbox_list(
        status: Annotated[list[str] | None, typer.Option(help="failed")] = None,
        project: ProjectFilter = None,
        limit: Limit = 100,
        as_json: JsonOpt = False,
    ) -> None:
        from gateway.ops import deadletters

        statuses = status or list(deadletters.INBOX_DEAD)
        rows = run(_with_db(lambda db: deadletters.list_inbox(db, statuses, project, limit)))
        columns = ("id", "project", "channel", "event_id", "kind", "attempts", "reason")
        emit(rows, as_json, columns, title="failed inbound events")

    @inbox_app.command(
        "replay",
        help="Process failed inbound events again (same idempotency keys: nothing is doubled).",
    )
    def inbox_replay(
        ids: Annotated[list[int] | None, typer.Argument(help="Inbox ids.")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every failed event.")] = False,
    ) -> None:
        from gateway.ops import deadletters

        if not ids and not all_:
            fail("give inbox ids or --all")
        count = run(_with_db(lambda db: deadletters.replay_inbox(db, None if all_ else ids)))
        console.print(f"replaying {count} event(s)")
