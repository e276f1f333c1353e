"""`gateway identity | allowlist | audit | send`: who is who, who may chat, what happened, and
messages the app starts.

Every change is made with the actor `cli` and lands in the audit log. A running gateway reads
links and the allowlist from the database on every turn, so changes apply without a restart.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from channels.common import is_bsuid
from gateway.cli.common import emit, err, fail, load_settings, opened_store, run, validated
from gateway.config import Settings

if TYPE_CHECKING:  # the database layer is imported when a command runs, not for --help
    from gateway.storage.projects import ProjectStore
    from identity.store import IdentityStore, Link

DEFAULT = "default"
ACTOR = "cli"
CHANNELS = ("telegram", "sms", "whatsapp")
T = TypeVar("T")

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IdentityArg = Annotated[
    str,
    typer.Argument(
        metavar="CHANNEL:SENDER",
        help="A channel identity: telegram:<user id>, sms:<+E.164 number> or "
        "whatsapp:<number, digits only, or business-scoped user id>, e.g. telegram:123456789 "
        "or sms:+15551234567.",
        show_default=False,
    ),
]
AppUserArg = Annotated[
    str, typer.Argument(metavar="APP_USER", help="The app's own user id.", show_default=False)
]

LINK_COLUMNS = ("channel", "sender", "app_user_id", "created_by", "created_at", "last_inbound_at")
AUDIT_COLUMNS = ("created_at", "actor", "action", "subject", "details")

_SENDERS: dict[str, tuple[re.Pattern[str], str]] = {
    "telegram": (re.compile(r"\d{1,20}"), "a Telegram user id (digits), like 123456789"),
    "sms": (re.compile(r"\+\d{6,15}"), "a phone number in E.164 form, like +15551234567"),
    "whatsapp": (
        re.compile(r"\d{6,15}"),
        "a phone number (digits only), like 15551234567, or a business-scoped user id, like "
        "US.13491208655302741918",
    ),
}


# --- parsing and output -------------------------------------------------------------------------
def parse_identity(value: str) -> tuple[str, str]:
    """`channel:sender`, split at the first colon, checked against what each channel sends."""
    channel, colon, sender = value.strip().partition(":")
    channel = channel.strip().lower()
    if not colon or not channel:
        fail(f"{value!r} is not <channel>:<sender> (like telegram:123456789 or sms:+15551234567)")
    check_channel(channel)
    sender = sender.strip()
    if channel == "whatsapp":
        sender = sender.removeprefix("+")  # WhatsApp senders are known by digits alone
    pattern, expected = _SENDERS[channel]
    if channel == "whatsapp" and is_bsuid(sender):
        return channel, sender  # a user known by a username only (docs/decisions.md)
    if not pattern.fullmatch(sender):
        fail(f"{channel} senders are {expected}; got {sender!r}")
    return channel, sender


def check_channel(channel: str | None) -> str | None:
    if channel is not None and channel not in CHANNELS:
        fail(f"unknown channel {channel!r}: use one of {', '.join(CHANNELS)}")
    return channel


def _when(value: datetime | None, as_json: bool) -> str | None:
    """Full ISO 8601 in JSON; to the second, in UTC (`Z`), in tables, which are narrow."""
    if value is None:
        return None
    if as_json:
        return value.isoformat()
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def link_data(link: Link, as_json: bool) -> dict[str, Any]:
    data = asdict(link)
    data["created_at"] = _when(link.created_at, as_json)
    data["last_inbound_at"] = _when(link.last_inbound_at, as_json)
    return data


def _duration(ttl: timedelta) -> str:
    minutes = round(ttl.total_seconds() / 60)
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """`run` plus the identity layer's own refusals, as one `error:` line and exit 1."""
    from identity.reach import Undeliverable
    from identity.store import IdentityError

    try:
        return run(coro)
    except IdentityError as exc:
        fail(exc.message)
    except Undeliverable as exc:
        fail(f"cannot send: {exc.message} ({exc.code})")
    raise AssertionError("unreachable")


@asynccontextmanager
async def opened_identity(settings: Settings) -> AsyncIterator[tuple[ProjectStore, IdentityStore]]:
    """The project store and an identity store on the same database and secret box."""
    from identity.store import IdentityStore

    async with opened_store(settings) as store:
        identity = IdentityStore(store.db, store.box)
        try:
            yield store, identity
        finally:
            await identity.close()


def _with_identity(action: Callable[[ProjectStore, IdentityStore], Coroutine[Any, Any, T]]) -> T:
    settings = load_settings()

    async def main() -> T:
        async with opened_identity(settings) as (store, identity):
            return await action(store, identity)

    return _run(main())


# --- commands -----------------------------------------------------------------------------------
def register(
    identity_app: typer.Typer, allowlist_app: typer.Typer, audit_app: typer.Typer, root: typer.Typer
) -> None:
    _register_identity(identity_app)
    _register_allowlist(allowlist_app)
    _register_audit(audit_app)
    _register_send(root)


def _register_identity(app: typer.Typer) -> None:
    @app.command(
        "link",
        help=(
            "Link a channel identity to an app user: its turns then reach the "
            "core as that user. Refuses to move an identity linked to another app "
            "user unless --force."
        ),
    )
    def link(
        identity: IdentityArg,
        app_user: AppUserArg,
        force: Annotated[
            bool,
            typer.Option("--force", help="Move the identity if it is linked to another app user."),
        ] = False,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        from gateway.schemas import IdentityLinkPut

        channel, sender = parse_identity(identity)
        validated(IdentityLinkPut, channel=channel, sender=sender, app_user_id=app_user)

        async def action(_: ProjectStore, ids: IdentityStore) -> tuple[Link | None, Link]:
            from identity.store import IdentityError

            before = await ids.get(project, channel, sender)
            if before is not None and before.app_user_id != app_user and not force:
                raise IdentityError(
                    "conflict",
                    f"{channel}:{sender} is already linked to app user {before.app_user_id!r}; "
                    "pass --force to move it",
                )
            after = await ids.link(project, channel, sender, app_user, actor=ACTOR, force=force)
            return before, after

        before, after = _with_identity(action)
        emit(link_data(after, as_json), as_json)
        if before is not None and before.app_user_id != app_user and not as_json:
            err.print(f"moved {channel}:{sender} from app user {before.app_user_id!r}")

    @app.command(
        "unlink",
        help="Remove a channel identity's link (its next message follows the unlinked policy).",
    )
    def unlink(
        identity: IdentityArg, project: ProjectOpt = DEFAULT, as_json: JsonOpt = False
    ) -> None:
        channel, sender = parse_identity(identity)

        async def action(_: ProjectStore, ids: IdentityStore) -> Link | None:
            current = await ids.get(project, channel, sender)
            if current is None or not await ids.unlink(project, channel, sender, actor=ACTOR):
                return None
            return current

        removed = _with_identity(action)
        if removed is None:
            fail(f"{channel}:{sender} is not linked in project {project!r}")
        if as_json:
            emit({"channel": channel, "sender": sender, "app_user_id": removed.app_user_id}, True)
        else:
            typer.echo(f"unlinked {channel}:{sender} (was app user {removed.app_user_id!r})")

    @app.command("list", help="List identity links, by app user.")
    def list_(
        app_user: Annotated[
            str | None, typer.Option("--app-user", help="Only this app user's identities.")
        ] = None,
        channel: Annotated[
            str | None, typer.Option(help="Only this channel: telegram, sms or whatsapp.")
        ] = None,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        check_channel(channel)

        async def action(_: ProjectStore, ids: IdentityStore) -> list[Link]:
            return await ids.list(project, app_user_id=app_user, channel=channel)

        links = _with_identity(action)
        emit(
            [link_data(x, as_json) for x in links],
            as_json,
            LINK_COLUMNS,
            title=f"links of {project}",
        )

    @app.command("show", help="Show one channel identity's link and where it was last heard from.")
    def show(
        identity: IdentityArg, project: ProjectOpt = DEFAULT, as_json: JsonOpt = False
    ) -> None:
        channel, sender = parse_identity(identity)

        async def action(_: ProjectStore, ids: IdentityStore) -> Link | None:
            return await ids.get(project, channel, sender)

        found = _with_identity(action)
        if found is None:
            fail(f"{channel}:{sender} is not linked in project {project!r}")
        emit(link_data(found, as_json), as_json)

    @app.command(
        "code",
        help=(
            "Mint a one-time link code for an app user and print how to use it on "
            "each of the project's channels: the Telegram deep link, LINK <code> "
            "by SMS or on WhatsApp."
        ),
    )
    def code(
        app_user: AppUserArg,
        ttl_minutes: Annotated[
            int, typer.Option(min=1, max=30, help="Minutes the code stays valid (at most 30).")
        ] = 10,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        from gateway.schemas import LinkCodeCreate
        from gateway.storage.projects import AccountDirectory
        from identity.instructions import link_instructions

        validated(LinkCodeCreate, app_user_id=app_user, ttl_seconds=ttl_minutes * 60)
        ttl = timedelta(minutes=ttl_minutes)

        async def action(
            store: ProjectStore, ids: IdentityStore
        ) -> tuple[str, datetime, dict[str, str]]:
            minted, expires = await ids.mint_code(project, app_user, actor=ACTOR, ttl=ttl)
            directory = AccountDirectory(store)
            try:
                return minted, expires, await link_instructions(store, directory, project, minted)
            finally:
                await directory.close()

        minted, expires, instructions = _with_identity(action)
        if as_json:
            emit(
                {
                    "code": minted,
                    "app_user_id": app_user,
                    "expires_at": _when(expires, True),
                    "instructions": instructions,
                },
                True,
            )
            return
        rows: dict[str, Any] = {
            "code": minted,
            "app_user_id": app_user,
            "expires_at": f"{_when(expires, False)} (in {_duration(ttl)}; works once)",
        }
        for channel, how in instructions.items():
            rows[f"on {channel}"] = how
        if not instructions:
            rows["how"] = "the project has no enabled channel account to redeem it on"
        emit(rows, False)


def _register_allowlist(app: typer.Typer) -> None:
    @app.command(
        "add", help="Allow a channel identity to chat unlinked (under the `allowlist` policy)."
    )
    def add(identity: IdentityArg, project: ProjectOpt = DEFAULT, as_json: JsonOpt = False) -> None:
        channel, sender = parse_identity(identity)

        async def action(_: ProjectStore, ids: IdentityStore) -> bool:
            return await ids.allow(project, channel, sender, actor=ACTOR)

        added = _with_identity(action)
        if as_json:
            emit({"channel": channel, "sender": sender, "added": added}, True)
        else:
            typer.echo(
                f"{'added' if added else 'already on the allowlist:'} {channel}:{sender}"
                f"{' to the allowlist' if added else ''} of {project}"
            )

    @app.command("remove", help="Take a channel identity off the allowlist.")
    def remove(
        identity: IdentityArg, project: ProjectOpt = DEFAULT, as_json: JsonOpt = False
    ) -> None:
        channel, sender = parse_identity(identity)

        async def action(_: ProjectStore, ids: IdentityStore) -> bool:
            return await ids.disallow(project, channel, sender, actor=ACTOR)

        if not _with_identity(action):
            fail(f"{channel}:{sender} is not on the allowlist of project {project!r}")
        if as_json:
            emit({"channel": channel, "sender": sender, "removed": True}, True)
        else:
            typer.echo(f"removed {channel}:{sender} from the allowlist of {project}")

    @app.command("list", help="List the channel identities allowed to chat unlinked.")
    def list_(project: ProjectOpt = DEFAULT, as_json: JsonOpt = False) -> None:
        async def action(_: ProjectStore, ids: IdentityStore) -> list[tuple[str, str, datetime]]:
            return await ids.allowlist(project)

        entries = [
            {"channel": channel, "sender": sender, "created_at": _when(created, as_json)}
            for channel, sender, created in _with_identity(action)
        ]
        emit(entries, as_json, ("channel", "sender", "created_at"), title=f"allowlist of {project}")


def _register_audit(app: typer.Typer) -> None:
    @app.command(
        "list",
        help=(
            "Show the audit log of a project, newest first: links, unlinks, code "
            "redemptions, allowlist and configuration changes, each with its "
            "actor."
        ),
    )
    def list_(
        action: Annotated[
            str | None, typer.Option(help="Only this action, e.g. link.create or link.remove.")
        ] = None,
        actor: Annotated[
            str | None,
            typer.Option(
                help="Only this actor: cli, admin-api:global, admin-api:key:<name>(<id>) or "
                "chat:<ch>:<sender>."
            ),
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")] = 50,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        from sqlalchemy import select

        from gateway.storage.db.models import AuditEntry

        async def read(store: ProjectStore, _: IdentityStore) -> list[dict[str, Any]]:
            owner = await store.project_info(project)
            query = select(AuditEntry).where(AuditEntry.project_id == owner.id)
            if action is not None:
                query = query.where(AuditEntry.action == action)
            if actor is not None:
                query = query.where(AuditEntry.actor == actor)
            query = query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
            async with store.db.session() as session:
                return [
                    {
                        "created_at": _when(entry.created_at, as_json),
                        "actor": entry.actor,
                        "action": entry.action,
                        "subject": entry.subject,
                        "details": entry.details or {},
                    }
                    for entry in await session.scalars(query)
                ]

        emit(_with_identity(read), as_json, AUDIT_COLUMNS, title=f"audit log of {project}")


def _register_send(app: typer.Typer) -> None:
    @app.command(
        "send",
        help=(
            "Queue a proactive message to an app user on a linked channel, "
            "through the outbox (a running gateway or `gateway worker` delivers "
            "it). Refused when the user has no linked channel, opted out of SMS, "
            "or is outside WhatsApp's 24-hour window."
        ),
    )
    def send(
        app_user: AppUserArg,
        text: Annotated[str, typer.Argument(metavar="TEXT", help="The message.")],
        channel: Annotated[
            str | None,
            typer.Option(
                help="telegram, sms or whatsapp; default: the linked channel the user wrote "
                "from most recently."
            ),
        ] = None,
        project: ProjectOpt = DEFAULT,
        as_json: JsonOpt = False,
    ) -> None:
        from gateway.delivery.proactive import Queued, send_to_user
        from gateway.schemas import MessageCreate

        check_channel(channel)
        validated(MessageCreate, app_user_id=app_user, text=text, channel=channel)

        async def action(store: ProjectStore, ids: IdentityStore) -> Queued:
            return await send_to_user(
                store.db, ids, project, app_user, text, channel=channel, actor=ACTOR
            )

        queued = _with_identity(action)
        data = asdict(queued)
        data["queued_at"] = _when(queued.queued_at, as_json)
        emit(data, as_json)
