"""The approval state machine.

Every decision, whatever its source (button, text reply, admin API, CLI, the expiry sweeper), is
one conditional `UPDATE ... WHERE status = 'pending'` inside a transaction that also writes the
decision's effects: the audit entry, the lifecycle event for the app, the notices to the user and,
for a core approval, the continuation of the agent's turn. Exactly one caller's update matches;
every other caller is told the approval was already decided, and nothing of theirs is written.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from approvals import prompts
from approvals.redact import redact_text, summarize_arguments
from approvals.tokens import ApprovalTokens
from channels.base import ChannelAdapter
from channels.capabilities import capabilities
from gateway.messages import InboundEvent
from gateway.schemas import ApprovalOut
from gateway.storage import lifecycle, outbox
from gateway.storage.db import Database
from gateway.storage.db.models import (
    Approval,
    AuditEntry,
    InboxEvent,
    Project,
    utcnow,
)
from gateway.storage.db.raw import Statements
from gateway.storage.inbox import inbox_row
from identity.reach import Reach

if TYPE_CHECKING:
    from gateway.storage.projects import ProjectInfo

Status = Literal["approved", "denied", "expired"]
PENDING = "pending"
CORE_OWNED = "core_owned"
"""The source of an approval the core owns (listed by its admin API, decided through it)."""
EVENT_TYPES = ("approval.pending", "approval.approved", "approval.denied", "approval.expired")


@dataclass(frozen=True)
class Destination:
    """Where the prompt goes: the account route that sends it, and the user-facing channel."""

    route: str
    account: str
    chat: str
    channel: str
    buttons: bool

    @classmethod
    def to(cls, reach: Reach, adapter: ChannelAdapter) -> Destination:
        """Where an app user is reached now, with what that chat can render."""
        buttons = adapter.capabilities_for(reach.chat).buttons
        return cls(reach.route, reach.account, reach.chat, reach.channel, buttons)


@dataclass(frozen=True)
class ChatPlace:
    """One chat as an approval row records where its prompt went: the route (the account's
    channel: Twilio's `sms` also carries WhatsApp), the account, the chat address (`whatsapp:+1...`
    through Twilio, the bare number for SMS) and the user-facing channel."""

    route: str
    account: str
    chat: str
    channel: str

    @classmethod
    def of(cls, event: InboundEvent) -> ChatPlace:
        """The chat an inbound message was written in."""
        return cls(event.route, event.account, event.chat or "-", event.channel)


@dataclass(frozen=True)
class DecidedApproval:
    """What the core is told about one approval it asked for."""

    core_request_id: str | None
    status: str
    app_user_id: str
    decision_source: str | None
    context: dict[str, Any] | None


@dataclass(frozen=True)
class CoreAsk:
    """One `mcp_approval_request` output item."""

    core_request_id: str
    tool: str
    server_label: str | None
    arguments: Any


@dataclass(frozen=True)
class Decision:
    """`won`: this caller's decision is the one recorded. Otherwise `reason` says why not:
    already_decided, not_found, not_owner."""

    won: bool
    reason: str
    approval: ApprovalOut | None = None


class ApprovalService:
    def __init__(self, db: Database, tokens: ApprovalTokens) -> None:
        self.db = db
        self.tokens = tokens
        self.listeners: list[Callable[[str], None]] = []
        """Called with an outcome (pending, approved, denied, expired, refused) after commit."""

    def _notify(self, outcome: str) -> None:
        for listener in self.listeners:
            listener(outcome)

    def notify(self, outcome: str) -> None:
        """Something was queued outside a decision (core-owned approvals): wake the loops."""
        self._notify(outcome)

    # --- creation ------------------------------------------------------------------------------
    async def add_core_approvals(
        self,
        conn: AsyncConnection,
        project: ProjectInfo,
        *,
        app_user_id: str,
        asks: Sequence[CoreAsk],
        response_id: str,
        turn_id: int | None,
        inbox_event_id: int,
        destination: Destination,
        context: dict[str, Any],
    ) -> list[str]:
        """Inside the turn's own transaction: one approval (and prompt) per request. The ids are
        derived from the core's request ids, so a replayed turn adds nothing twice."""
        now = utcnow()
        rows = []
        for ask in asks:
            input_summary = summarize_arguments(ask.arguments)
            where = f" on {ask.server_label}" if ask.server_label else ""
            summary = f"run {ask.tool}{where}" + (f" ({input_summary})" if input_summary else "")
            approval_id = (
                "apr_"
                + hashlib.sha256(f"{project.id}:{ask.core_request_id}".encode()).hexdigest()[:24]
            )
            rows.append(
                {
                    "id": approval_id,
                    "project_id": project.id,
                    "app_user_id": app_user_id,
                    "source": "core",
                    "tool": ask.tool[:200],
                    "server_label": (ask.server_label or None) and ask.server_label[:200],
                    "summary": summary,
                    "input_summary": input_summary or None,
                    "core_request_id": ask.core_request_id[:128],
                    "response_id": response_id,
                    "turn_id": turn_id,
                    "inbox_event_id": inbox_event_id,
                    "context": context,
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=project.approval_ttl_seconds),
                }
            )
        created = await self._insert(conn, project, rows, destination, actor="core")
        for _ in created:
            self._notify("pending")
        return created

    async def request(
        self,
        project: ProjectInfo,
        *,
        app_user_id: str,
        tool: str,
        summary: str,
        ttl_seconds: int | None,
        destination: Destination,
        actor: str,
    ) -> ApprovalOut:
        """An app-owned action: prompt the user, report the outcome through the webhook."""
        now = utcnow()
        approval_id = f"apr_{uuid.uuid4().hex[:24]}"
        row = {
            "id": approval_id,
            "project_id": project.id,
            "app_user_id": app_user_id,
            "source": "api",
            "tool": tool,
            "server_label": None,
            "summary": redact_text(summary),
            "input_summary": None,
            "core_request_id": None,
            "response_id": None,
            "turn_id": None,
            "inbox_event_id": None,
            "context": {},
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds or project.approval_ttl_seconds),
        }
        async with self.db.engine.begin() as conn:
            await self._insert(conn, project, [row], destination, actor=actor)
        self._notify("pending")
        found = await self.get(approval_id, project.id)
        assert found is not None
        return found

    async def add_core_owned(
        self,
        project: ProjectInfo,
        *,
        core_approval_id: str,
        app_user_id: str,
        tool: str,
        summary: str,
        expires_at: datetime,
        destination: Destination,
    ) -> str | None:
        """One of the core's own pending approvals: prompted like any other, once (the id is
        derived from the core's, so an event and a poll that both bring it add it once).
        Returns the new approval's id, None if it was already known."""
        derived = hashlib.sha256(f"{project.id}:owned:{core_approval_id}".encode())
        approval_id = "apr_" + derived.hexdigest()[:24]
        row = {
            "id": approval_id,
            "project_id": project.id,
            "app_user_id": app_user_id,
            "source": CORE_OWNED,
            "tool": tool[:200],
            "server_label": None,
            "summary": redact_text(f"run {tool}" + (f" ({summary})" if summary else "")),
            "input_summary": redact_text(summary) if summary else None,
            "core_request_id": None,
            "core_approval_id": core_approval_id[:128],
            "response_id": None,
            "turn_id": None,
            "inbox_event_id": None,
            "context": {},
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        async with self.db.engine.begin() as conn:
            created = await self._insert(conn, project, [row], destination, actor="core")
        for _ in created:
            self._notify("pending")
        return created[0] if created else None

    async def _insert(
        self,
        conn: AsyncConnection,
        project: ProjectInfo,
        rows: list[dict[str, Any]],
        destination: Destination,
        *,
        actor: str,
    ) -> list[str]:
        if not rows:
            return []
        user = rows[0]["app_user_id"]
        taken = set(
            (
                await conn.execute(
                    select(Approval.short_code).where(
                        Approval.project_id == project.id,
                        Approval.app_user_id == user,
                        Approval.status == PENDING,
                    )
                )
            ).scalars()
        )
        with_code = len(taken) + len(rows) > 1
        for row in rows:
            row["short_code"] = _short_code(taken)
            taken.add(row["short_code"])
            row["token_hash"] = self.tokens.lookup_hash(self.tokens.token_for(row["id"]))
            row["status"] = PENDING
            row["route"], row["account"] = destination.route, destination.account
            row["chat"], row["channel"] = destination.chat, destination.channel
        inserted = await conn.execute(
            self.db.insert(Approval)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Approval.id),
            rows,
        )
        created: set[str] = set(inserted.scalars())
        fresh = [row for row in rows if row["id"] in created]
        prompts_queued: list[dict[str, Any]] = []
        for row in fresh:
            facts = _facts(row)
            text = prompts.prompt_text(facts, buttons=destination.buttons, with_code=with_code)
            options: dict[str, Any] = {"approval_prompt": row["id"]}
            if destination.buttons:
                options["footer"] = prompts.footer(facts)
            prompts_queued += outbox.rows(
                project_id=project.id,
                channel=destination.route,
                account=destination.account,
                chat=destination.chat,
                parts=[text],
                dedupe_key=f"approval:{row['id']}:prompt",
                inbox_event_id=row["inbox_event_id"],
                turn_id=row["turn_id"],
                options=options,
            )
            await self._event(conn, project.id, project.name, row, "approval.pending")
            details = {"tool": row["tool"], "app_user_id": row["app_user_id"]}
            await _audit(conn, project.id, actor, "approval.request", row["id"], details)
        await outbox.insert(self.db, Statements(conn), prompts_queued)
        return [row["id"] for row in fresh]

    # --- decisions -----------------------------------------------------------------------------
    async def decide(
        self,
        *,
        verdict: Status,
        actor: str,
        source: str,
        approval_id: str | None = None,
        token: str | None = None,
        project_id: int | None = None,
        decider_user: str | None = None,
    ) -> Decision:
        """Record `verdict` unless the approval is already decided. `decider_user` (decisions
        from a channel) must be the approval's own app user. An approve or deny that arrives
        after the deadline expires the approval instead (the caller is told it expired)."""
        decision = await self._decide(
            verdict, actor, source, approval_id, token, project_id, decider_user
        )
        if decision.won and decision.approval is not None:
            self._notify(decision.approval.status)
        elif decision.reason in ("not_owner", "not_found") and source != "sweeper":
            self._notify("refused")
        return decision

    async def _decide(
        self,
        verdict: Status,
        actor: str,
        source: str,
        approval_id: str | None,
        token: str | None,
        project_id: int | None,
        decider_user: str | None,
    ) -> Decision:
        async with self.db.engine.begin() as conn:
            query = select(*Approval.__table__.c, Project.name.label("project_name")).join(
                Project, Project.id == Approval.project_id
            )
            if token is not None:
                query = query.where(Approval.token_hash == self.tokens.lookup_hash(token))
            else:
                query = query.where(Approval.id == approval_id)
            if project_id is not None:
                query = query.where(Approval.project_id == project_id)
            found = (await conn.execute(query)).first()
            if found is None:
                await _audit(conn, project_id, actor, "approval.refused", "-", {
                    "reason": "unknown approval or token", "source": source,
                })  # fmt: skip
                return Decision(False, "not_found")
            row, project_name = _RowView.of(found), found.project_name
            if decider_user is not None and decider_user != row.app_user_id:
                await _audit(conn, row.project_id, actor, "approval.refused", row.id, {
                    "reason": "not the approval's app user", "source": source,
                })  # fmt: skip
                return Decision(False, "not_owner", _out(row, project_name))
            if row.response_id:
                # Decisions on one core response are serialized, so the last one sees all the
                # others and continues the turn exactly once (no-op on SQLite: one writer).
                await conn.execute(
                    select(Approval.id)
                    .where(
                        Approval.project_id == row.project_id,
                        Approval.response_id == row.response_id,
                    )
                    .order_by(Approval.id)
                    .with_for_update()
                )
            now = utcnow()
            status: Status = verdict
            conditions = [Approval.id == row.id, Approval.status == PENDING]
            if source == "core":
                pass  # the core's own approval, decided or expired by the core: its word stands
            elif verdict == "expired":
                conditions.append(Approval.expires_at <= now)
            elif row.expires_at <= now:
                status, actor, source = "expired", "expiry", "sweeper"
            changed = await conn.execute(
                update(Approval)
                .where(*conditions)
                .values(
                    status=status, decided_by=actor[:200], decision_source=source, decided_at=now
                )
            )
            if changed.rowcount != 1:
                current = (
                    await conn.execute(select(*Approval.__table__.c).where(Approval.id == row.id))
                ).one()
                return Decision(False, "already_decided", _out(_RowView.of(current), project_name))
            row.status, row.decided_by, row.decision_source, row.decided_at = (
                status, actor[:200], source, now
            )  # fmt: skip
            await _audit(conn, row.project_id, actor, f"approval.{status}", row.id, {
                "source": source, "tool": row.tool, "app_user_id": row.app_user_id,
            })  # fmt: skip
            await self._event(
                conn, row.project_id, project_name, row.__dict__, f"approval.{status}"
            )
            await outbox.insert(self.db, Statements(conn), _notices(row, status))
            if row.source == CORE_OWNED and source not in ("core", "sweeper"):
                # Decided here: the core is told by the durable sync (`approvals.core_owned`).
                await conn.execute(
                    update(Approval)
                    .where(Approval.id == row.id)
                    .values(core_sync=PENDING, core_sync_attempts=0, core_sync_next_at=now)
                )
            if row.source == "core" and row.response_id:
                await self._continue_turn(conn, row)
            return Decision(True, "decided", _out(row, project_name))

    async def _continue_turn(self, conn: AsyncConnection, row: _RowView) -> None:
        """When the last approval of a core response is decided, queue the turn's continuation
        (in the chat's order, like any message): the worker sends the decisions to the core."""
        waiting = await conn.scalar(
            select(func.count(Approval.id)).where(
                Approval.project_id == row.project_id,
                Approval.response_id == row.response_id,
                Approval.status == PENDING,
            )
        )
        if waiting:
            return
        ctx = row.context or {}
        assert row.response_id is not None
        hints: dict[str, Any] = {"response_id": row.response_id}
        if ctx.get("via"):
            hints["via"] = ctx["via"]
        if ctx.get("thread"):  # the answer goes to the thread (forum topic) it was asked in
            hints["thread"] = ctx["thread"]
        event = InboundEvent(
            channel=ctx.get("channel") or row.channel or row.route or "-",
            account=ctx.get("account") or row.account or "-",
            event_id=_resume_id(row.response_id),
            kind="resume",
            sender=ctx.get("sender"),
            chat=ctx.get("chat") or row.chat,
            is_group=bool(ctx.get("is_group")),
            message_id=ctx.get("message_id"),
            hints=hints,
        )
        await conn.execute(
            self.db.insert(InboxEvent).on_conflict_do_nothing(
                index_elements=["project_id", "channel", "account", "event_id"]
            ),
            [inbox_row(row.project_id, event, None, None)],
        )

    async def expire_overdue(self, limit: int = 100) -> int:
        """The sweeper: expire what is past its deadline (racing any late decision fairly)."""
        async with self.db.session() as session:
            due = (
                await session.scalars(
                    select(Approval.id)
                    .where(Approval.status == PENDING, Approval.expires_at <= utcnow())
                    .order_by(Approval.expires_at)
                    .limit(limit)
                )
            ).all()
        expired = 0
        for approval_id in due:
            decision = await self.decide(
                approval_id=approval_id, verdict="expired", actor="sweeper", source="sweeper"
            )
            expired += decision.won
        return expired

    # --- reads ---------------------------------------------------------------------------------
    async def get(self, approval_id: str, project_id: int | None = None) -> ApprovalOut | None:
        found = await self.list(project_id, approval_id=approval_id, limit=1)
        return found[0] if found else None

    async def list(
        self,
        project_id: int | None = None,
        *,
        status: str | None = None,
        app_user_id: str | None = None,
        response_id: str | None = None,
        approval_id: str | None = None,
        limit: int = 200,
    ) -> builtins.list[ApprovalOut]:
        query = select(Approval, Project.name).join(Project, Project.id == Approval.project_id)
        if approval_id is not None:
            query = query.where(Approval.id == approval_id)
        if project_id is not None:
            query = query.where(Approval.project_id == project_id)
        if status is not None:
            query = query.where(Approval.status == status)
        if app_user_id is not None:
            query = query.where(Approval.app_user_id == app_user_id)
        if response_id is not None:
            query = query.where(Approval.response_id == response_id)
        query = query.order_by(Approval.created_at.desc(), Approval.id).limit(limit)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [_out(_RowView.of(row), name) for row, name in rows]

    async def pending_for(
        self, project_id: int, app_user_id: str
    ) -> builtins.list[tuple[str, str, str]]:
        """(id, short code, tool) of the user's pending approvals, oldest first."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(Approval.id, Approval.short_code, Approval.tool)
                    .where(
                        Approval.project_id == project_id,
                        Approval.app_user_id == app_user_id,
                        Approval.status == PENDING,
                        Approval.expires_at > utcnow(),
                    )
                    .order_by(Approval.created_at, Approval.id)
                )
            ).all()
        return [(r.id, r.short_code, r.tool) for r in rows]

    async def latest_prompt_in(
        self, project_id: int, app_user_id: str, where: ChatPlace
    ) -> builtins.list[tuple[str, bool]]:
        """The user's most recent approval prompt in one chat, whatever its status, as (id, still
        pending and not overdue); two when another was prompted at the same moment (one core
        response asking for several tools). Empty when none was prompted there."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(Approval.id, Approval.status, Approval.created_at, Approval.expires_at)
                    .where(
                        Approval.project_id == project_id,
                        Approval.app_user_id == app_user_id,
                        Approval.route == where.route,
                        Approval.account == where.account,
                        Approval.chat == where.chat,
                        Approval.channel == where.channel,
                    )
                    .order_by(Approval.created_at.desc(), Approval.id.desc())
                    .limit(2)
                )
            ).all()
        if not rows:
            return []
        newest = [r for r in rows if r.created_at == rows[0].created_at]
        now = utcnow()
        return [(r.id, r.status == PENDING and r.expires_at > now) for r in newest]

    async def pending_with_code(self, project_id: int, code: str) -> builtins.list[str]:
        async with self.db.session() as session:
            return list(
                (
                    await session.scalars(
                        select(Approval.id).where(
                            Approval.project_id == project_id,
                            Approval.short_code == code,
                            Approval.status == PENDING,
                        )
                    )
                ).all()
            )

    async def decisions_for(
        self, project_id: int, response_id: str
    ) -> builtins.list[DecidedApproval]:
        """Every approval a core response asked for, in the order they were asked."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(
                        Approval.core_request_id,
                        Approval.status,
                        Approval.app_user_id,
                        Approval.decision_source,
                        Approval.context,
                    )
                    .where(Approval.project_id == project_id, Approval.response_id == response_id)
                    .order_by(Approval.created_at, Approval.id)
                )
            ).all()
        return [
            DecidedApproval(
                core_request_id=row.core_request_id,
                status=row.status,
                app_user_id=row.app_user_id,
                decision_source=row.decision_source,
                context=row.context,
            )
            for row in rows
        ]

    # --- lifecycle events ------------------------------------------------------------------
    async def _event(
        self,
        conn: AsyncConnection,
        project_id: int,
        project_name: str,
        row: dict[str, Any],
        event_type: str,
    ) -> None:
        """Queue one lifecycle event, if the project has an approval webhook (in order per
        approval)."""
        if await lifecycle.webhook_target(conn, project_id) is None:
            return
        approval = _out(_RowView(**{k: row.get(k) for k in _RowView.FIELDS}), project_name)
        await lifecycle.enqueue(
            conn,
            project_id,
            event_type=event_type,
            subject=row["id"],
            order_key=f"approval:{row['id']}",
            fields={"approval": _event_approval(approval, row)},
        )


class _RowView:
    """A plain, mutable copy of an approval row (ORM rows stay out of the transaction logic)."""

    FIELDS = (
        "id", "project_id", "app_user_id", "source", "tool", "server_label", "summary",
        "input_summary", "status", "short_code", "core_request_id", "response_id", "turn_id",
        "inbox_event_id", "route", "account", "chat", "channel", "context", "decided_by",
        "decision_source", "decided_at", "created_at", "expires_at", "core_approval_id",
    )  # fmt: skip

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    @classmethod
    def of(cls, row: Any) -> _RowView:
        """From an ORM object or a Core row of the approvals columns."""
        return cls(**{name: getattr(row, name) for name in cls.FIELDS})

    id: str
    project_id: int
    app_user_id: str
    source: str
    tool: str
    summary: str
    status: str
    short_code: str
    response_id: str | None
    route: str | None
    account: str | None
    chat: str | None
    channel: str | None
    context: dict[str, Any]
    created_at: Any
    expires_at: Any
    decided_by: str | None
    decision_source: str | None
    decided_at: Any


def _out(row: _RowView, project_name: str) -> ApprovalOut:
    return ApprovalOut(
        id=row.id,
        project=project_name,
        status=row.status,  # type: ignore[arg-type]
        app_user_id=row.app_user_id,
        tool=row.tool,
        summary=row.summary,
        input_summary=getattr(row, "input_summary", None),
        source=row.source,  # type: ignore[arg-type]
        server_label=getattr(row, "server_label", None),
        channel=row.channel,
        response_id=row.response_id,
        turn_id=getattr(row, "turn_id", None),
        core_approval_id=getattr(row, "core_approval_id", None),
        decided_by=row.decided_by,
        decision_source=row.decision_source,
        decided_at=row.decided_at,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _event_approval(approval: ApprovalOut, row: dict[str, Any]) -> dict[str, Any]:
    body = approval.model_dump(mode="json")
    body["conversation"] = {
        "channel": approval.channel,
        "turn_id": approval.turn_id,
        "response_id": approval.response_id,
    }
    return body


def _facts(row: dict[str, Any] | _RowView) -> prompts.PromptFacts:
    """From an approval row being inserted, or a `_RowView` (both carry every field)."""
    values: dict[str, Any] = row if isinstance(row, dict) else vars(row)
    return prompts.PromptFacts(
        tool=values["tool"],
        summary=values["summary"],
        expires_at=values["expires_at"],
        created_at=values["created_at"],
        short_code=values["short_code"],
    )


class _NoticeTarget(TypedDict):
    """The arguments every notice of one approval passes to `outbox.rows`."""

    project_id: int
    channel: str
    account: str
    chat: str
    inbox_event_id: int | None
    turn_id: int | None


def _notices(row: _RowView, status: str) -> list[dict[str, Any]]:
    """Tell the user in the prompt's chat. Where messages can be edited (Telegram): the prompt
    is edited to show the outcome (buttons gone); an expiry also gets a message of its own.
    Elsewhere: a short message."""
    if not (row.route and row.account and row.chat):
        return []
    edits = capabilities(row.channel or row.route).edits
    facts = _facts(row)
    common: _NoticeTarget = {
        "project_id": row.project_id,
        "channel": row.route,
        "account": row.account,
        "chat": row.chat,
        "inbox_event_id": getattr(row, "inbox_event_id", None),
        "turn_id": getattr(row, "turn_id", None),
    }
    queued: list[dict[str, Any]] = []
    if edits:
        queued += outbox.rows(
            **common,
            parts=[prompts.closed_prompt_text(facts, status)],
            dedupe_key=f"approval:{row.id}:closed",
            options={"edit_of": f"approval:{row.id}:prompt:0"},
        )
    if not edits or status == "expired":
        queued += outbox.rows(
            **common,
            parts=[prompts.outcome_text(facts, status)],
            dedupe_key=f"approval:{row.id}:outcome",
        )
    return queued


async def _audit(
    conn: AsyncConnection,
    project_id: int | None,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> None:
    await conn.execute(
        insert(AuditEntry),
        {
            "project_id": project_id,
            "actor": actor[:128],
            "action": action,
            "subject": subject[:256],
            "details": details,
            "created_at": utcnow(),
        },
    )


SHORT_CODE_DIGITS = 6
"""A prompt's code (`YES 482913`): six digits, so naming a request by a guessed code is hopeless
and a code still fits the prompt of a one-part SMS."""


def _short_code(taken: set[str]) -> str:
    low = 10 ** (SHORT_CODE_DIGITS - 1)
    while True:
        code = f"{secrets.randbelow(9 * low) + low}"
        if code not in taken:
            return code


def _resume_id(response_id: str) -> str:
    if len(response_id) <= 110:
        return f"approval:{response_id}"
    return "approval:" + hashlib.sha256(response_id.encode()).hexdigest()
