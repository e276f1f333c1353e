"""`gateway approvals list|show|request|approve|deny` and `gateway webhooks list|retry`.

The CLI decides through the same atomic transition as buttons, replies and the admin API; the
running worker sends the notices, continues the turn and delivers the lifecycle events.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from gateway.cli.common import console, emit, fail, load_settings, opened_store, run, validated

if TYPE_CHECKING:
    from approvals.service import ApprovalService
    from gateway.storage.projects import ProjectStore

T = TypeVar("T")
DEFAULT = "default"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
ApprovalArg = Annotated[str, typer.Argument(help="Approval id (apr_...).")]
ActorOpt = Annotated[
    str | None, typer.Option(help="Who decides, for the audit log (default cli:<login>).")
]
COLUMNS = ("id", "status", "source", "app_user_id", "tool", "expires_at")


def _with_approvals(
    action: Callable[[ProjectStore, ApprovalService], Coroutine[Any, Any, T]],
) -> T:
    from approvals.service import ApprovalService
    from approvals.tokens import tokens_from

    async def main() -> T:
        async with opened_store(load_settings()) as store:
            return await action(store, ApprovalService(store.db, tokens_from(store.box)))

    return _run(main())


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from approvals.operations import AlreadyDecided
    from identity.reach import Undeliverable
    from identity.store import IdentityError

    async def guarded() -> T:
        try:
            return await coro
        except AlreadyDecided as exc:
            fail(str(exc), code=2)
        except Undeliverable as exc:
            fail(f"{exc.code}: {exc.message}")
        except IdentityError as exc:
            fail(exc.message)
        raise AssertionError("unreachable")

    return run(guarded())


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def register(approvals_app: typer.Typer, webhooks_app: typer.Typer) -> None:
    @approvals_app.command("list", help="Approvals, newest first.")
    def list_(
        status: Annotated[
            str | None, typer.Option(help="pending, approved, denied or expired.")
        ] = None,
        user: Annotated[str | None, typer.Option("--user", help="Only this app user.")] = None,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        from approvals import operations as approval_ops

        found = _with_approvals(
            lambda store, svc: approval_ops.listing(
                store, svc, project, status=status, app_user_id=user
            )
        )
        emit(found, as_json, COLUMNS, title="approvals")

    @approvals_app.command("show", help="One approval: who asked, for what, and who decided when.")
    def show(
        approval_id: ApprovalArg, project: ProjectOpt = DEFAULT, as_json: JsonOpt = False
    ) -> None:
        from approvals import operations as approval_ops

        found = _with_approvals(
            lambda store, svc: approval_ops.show(store, svc, project, approval_id)
        )
        emit(found, as_json)

    @approvals_app.command(
        "request", help="Ask an app user to approve an app-owned action on their linked channel."
    )
    def request(
        user: Annotated[str, typer.Option("--user", help="The app user who must decide.")],
        tool: Annotated[str, typer.Option(help="The action, e.g. refund.")],
        summary: Annotated[str, typer.Option(help="What the user is asked, in plain words.")],
        ttl: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
        channel: Annotated[str | None, typer.Option(help="telegram, sms or whatsapp.")] = None,
        actor: ActorOpt = None,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        from approvals import operations as approval_ops
        from gateway.schemas import ApprovalCreate
        from gateway.storage.projects import AccountDirectory
        from identity.store import IdentityStore

        body = validated(
            ApprovalCreate,
            app_user_id=user,
            tool=tool,
            summary=summary,
            ttl_seconds=ttl,
            channel=channel,
        )

        async def action(store: ProjectStore, svc: ApprovalService) -> Any:
            directory = AccountDirectory(store)
            identity = IdentityStore(store.db, store.box)
            try:
                return await approval_ops.request_approval(
                    store, directory, identity, svc, project, body, actor=_actor(actor)
                )
            finally:
                await identity.close()
                await directory.close()

        emit(_with_approvals(action), as_json)

    def decision_command(name: str, verdict: Literal["approved", "denied"]) -> None:
        def decide(
            approval_id: ApprovalArg,
            actor: ActorOpt = None,
            project: ProjectOpt = DEFAULT,
            as_json: JsonOpt = False,
        ) -> None:
            from approvals import operations as approval_ops

            decided = _with_approvals(
                lambda store, svc: approval_ops.decide(
                    store, svc, project, approval_id, verdict, actor=_actor(actor), source="cli"
                )
            )
            emit(decided, as_json)

        summary = f"{name.capitalize()} a pending approval (exit 2: already decided)."
        approvals_app.command(name, help=summary)(decide)

    decision_command("approve", "approved")
    decision_command("deny", "denied")

    @webhooks_app.command(
        "list", help="Approval lifecycle events and their delivery to the app, newest first."
    )
    def webhooks_list(
        status: Annotated[
            str | None, typer.Option(help="pending, delivering, delivered or dead.")
        ] = None,
        approval: Annotated[str | None, typer.Option(help="Only this approval's events.")] = None,
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Only this project.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
        as_json: JsonOpt = False,
    ) -> None:
        from approvals.webhooks import list_deliveries

        async def action(store: ProjectStore, _: ApprovalService) -> Any:
            project_id = (await store.project_info(project)).id if project else None
            return await list_deliveries(
                store.db, project_id=project_id, status=status, approval_id=approval, limit=limit
            )

        rows = _with_approvals(action)
        columns = ("id", "event_type", "approval_id", "status", "attempts", "last_status",
                   "last_error", "created_at")  # fmt: skip
        emit(rows, as_json, columns, title="approval webhook deliveries")

    @webhooks_app.command(
        "retry", help="Send lifecycle events again (same event_id, so receivers deduplicate)."
    )
    def webhooks_retry(
        ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids.")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Every dead delivery.")] = False,
    ) -> None:
        from approvals.webhooks import retry_deliveries

        if not ids and not all_:
            fail("give delivery ids or --all")

        async def action(store: ProjectStore, _: ApprovalService) -> int:
            return await retry_deliveries(store.db, None if all_ else ids)

        count = _with_approvals(action)
        console.print(f"queued {count} delivery(ies) again")
