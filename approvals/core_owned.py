"""Approvals the core owns: its signed lifecycle events, the reconciliation poll of its admin API,
and the durable delivery of a decision made in a chat to the core's approve / deny endpoint.

A core approval becomes a row of the gateway's own `approvals` table (source `core_owned`, the
core's id in `core_approval_id`), so prompts, buttons, YES / NO, ownership checks, expiry notices
and `gateway approvals list` are the gateway's own. What differs: the core decides too (its app's
UI, its expiry), and a decision made in a chat is POSTed to the core (`core_sync`).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
import structlog
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from approvals import prompts, signing
from approvals.service import CORE_OWNED, PENDING, ApprovalService, Destination, Status
from gateway.config import Settings
from gateway.netguard import guarded_connector
from gateway.storage import outbox
from gateway.storage.db import Database
from gateway.storage.db.models import Approval, Conversation, CoreEvent, Project, utcnow
from gateway.storage.db.raw import Statements
from gateway.storage.projects import AccountDirectory, ProjectInfo, ProjectStore
from identity.reach import Reach, Undeliverable, reach_user
from identity.store import IdentityStore

log = structlog.get_logger("approvals.core")
DECIDED: tuple[Status, ...] = ("approved", "denied", "expired")
MAX_SYNC_ATTEMPTS = 12
"""Connection errors / 5xx from the core are retried with backoff (1 s doubling, capped at 5
minutes: about half an hour in all); then the user is told it did not reach the app."""


SESSION_WAIT_STEPS, SESSION_WAIT_STEP = 40, 0.25
SYNC_LEASE_SECONDS = 30


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CoreApproval(BaseModel):
    """An approval as the core's admin API and events describe it (aliases accepted)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(
        min_length=1, max_length=256, validation_alias=AliasChoices("user_id", "app_user_id")
    )
    tool_id: str = Field(
        "action", min_length=1, max_length=200, validation_alias=AliasChoices("tool_id", "tool")
    )
    input_summary: str = Field(
        "", max_length=4000, validation_alias=AliasChoices("input_summary", "summary")
    )
    status: str = Field("pending", max_length=32)
    project_id: str | None = Field(None, max_length=128)
    session_id: str | None = Field(None, max_length=256)
    created_at: datetime | None = None
    expires_at: datetime | None = None


class CoreEventBody(BaseModel):
    """`{"event_id", "event": "approval.pending" | ..., "approval": {...}}` (`type` accepted)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_id: str = Field(min_length=1, max_length=128)
    event: str = Field(min_length=1, max_length=64, validation_alias=AliasChoices("event", "type"))
    approval: CoreApproval


@dataclass(frozen=True)
class EventAnswer:
    """What the webhook route answers: HTTP status, error code (None: accepted), message."""

    status: int
    code: str | None = None
    message: str = ""


def enabled(project: ProjectInfo) -> bool:
    return bool(project.genaug_project_id and project.genaug_admin_key)


class CoreAdmin:
    """The core's approvals admin API (`X-Admin-Key`)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=guarded_connector()
            )
        return self._session

    def _url(self, project: ProjectInfo, suffix: str = "") -> str:
        base = project.core_base_url.rstrip("/")
        return f"{base}/api/v1/admin/projects/{project.genaug_project_id}/approvals{suffix}"

    def _headers(self, project: ProjectInfo) -> dict[str, str]:
        return {"X-Admin-Key": project.genaug_admin_key or ""}

    async def pending(self, project: ProjectInfo) -> list[CoreApproval]:
        """The core's pending approvals; malformed entries are skipped (logged)."""
        async with self._http().get(
            self._url(project), params={"status": "pending"}, headers=self._headers(project)
        ) as resp:
            resp.raise_for_status()
            body = await resp.json(content_type=None)
        found = []
        for item in body.get("approvals", []) if isinstance(body, dict) else []:
            try:
                found.append(CoreApproval.model_validate(item))
            except ValidationError:
                log.warning("core_approvals.malformed", project=project.name)
        return found

    async def get(self, project: ProjectInfo, approval_id: str) -> CoreApproval | None:
        async with self._http().get(
            self._url(project, f"/{approval_id}"), headers=self._headers(project)
        ) as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return CoreApproval.model_validate(await resp.json(content_type=None))

    async def decide(self, project: ProjectInfo, approval_id: str, verdict: str) -> int:
        """POST approve / deny; the HTTP status (raises on connection errors)."""
        action = "approve" if verdict == "approved" else "deny"
        async with self._http().post(
            self._url(project, f"/{approval_id}/{action}"), headers=self._headers(project)
        ) as resp:
            await resp.read()
            return resp.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class CoreApprovals:
    """Brings the core's approvals in (events, poll) and sends chat decisions out (sync)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: ProjectStore,
        directory: AccountDirectory,
        identity: IdentityStore,
        approvals: ApprovalService,
        admin: CoreAdmin | None = None,
    ) -> None:
        self.settings, self.db, self.store = settings, db, store
        self.directory, self.identity, self.approvals = directory, identity, approvals
        self.admin = admin or CoreAdmin()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- events ------------------------------------------------------------------------------
    async def receive_event(self, project_name: str, body: bytes, signature: str) -> EventAnswer:
        """Verify, dedupe by `event_id`, apply. A bad signature writes nothing."""
        try:
            project = await self.store.project_info(project_name)
        except Exception:  # NotFound, or a name the database refuses: the same answer
            return EventAnswer(404, "unknown_project", "no such project")
        secret = project.genaug_webhook_secret
        if not (enabled(project) and secret):
            return EventAnswer(404, "unknown_project", "core approvals are not configured")
        if not signature:
            return EventAnswer(401, "missing_signature", f"{signing.HEADER} is required")
        if not signing.verify(secret, body, signature):
            return EventAnswer(403, "bad_signature", "signature invalid or too old")
        try:
            event = CoreEventBody.model_validate_json(body)  # bounded nesting, unlike json
        except (ValueError, ValidationError, RecursionError) as exc:
            return EventAnswer(400, "invalid_event", str(exc).splitlines()[0][:200])
        pid = event.approval.project_id
        if pid is not None and pid != project.genaug_project_id:
            return EventAnswer(403, "wrong_project", "the event is for another core project")
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    insert(CoreEvent),
                    {
                        "project_id": project.id,
                        "event_id": event.event_id,
                        "event_type": event.event,
                        "received_at": utcnow(),
                    },
                )
        except IntegrityError:
            return EventAnswer(200, None, "duplicate")
        status = event.event.removeprefix("approval.")
        approval = event.approval
        if status in ("pending", *DECIDED):
            approval = approval.model_copy(update={"status": status})
        # Applied after the answer (a new approval may wait for its turn to finish); if this
        # process dies first, the poll brings the approval in.
        task = asyncio.get_running_loop().create_task(self._apply_logged(project, approval))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return EventAnswer(200, None, "accepted")

    async def _apply_logged(self, project: ProjectInfo, approval: CoreApproval) -> None:
        try:
            await self.apply(project, approval, wait=True)
        except Exception:  # the poll reconciles what an event could not apply
            log.exception("core_approvals.event_failed", approval=approval.id)

    # --- applying what the core says ---------------------------------------------------------
    async def apply(
        self, project: ProjectInfo, approval: CoreApproval, *, wait: bool = False
    ) -> None:
        """A pending approval is prompted once (if its user is linked); a decided or expired one
        closes the gateway's row (prompt updated, buttons removed)."""
        if approval.status == PENDING:
            await self._add(project, approval, wait)
            return
        if approval.status not in DECIDED:
            return
        known = await self._known(project.id, approval.id)
        if known is None:
            return
        approval_id, status = known
        if status == PENDING:
            await self.approvals.decide(
                approval_id=approval_id,
                verdict=approval.status,
                actor="core",
                source="core",
                project_id=project.id,
            )

    async def _add(self, project: ProjectInfo, approval: CoreApproval, wait: bool) -> None:
        if await self._known(project.id, approval.id) is not None:
            return
        try:
            reach = await self._reach(project, approval, wait)
            _, adapter = await self.directory.get(reach.route, reach.account)
        except Undeliverable as exc:
            log.info("core_approvals.unreachable", approval=approval.id, reason=exc.code)
            return
        expires = approval.expires_at or utcnow() + timedelta(seconds=project.approval_ttl_seconds)
        expires = _aware(expires)
        destination = Destination.to(reach, adapter)
        await self.approvals.add_core_owned(
            project,
            core_approval_id=approval.id,
            app_user_id=approval.user_id,
            tool=approval.tool_id,
            summary=approval.input_summary,
            expires_at=expires,
            destination=destination,
        )

    async def _reach(self, project: ProjectInfo, approval: CoreApproval, wait: bool) -> Reach:
        """The channel of the conversation the approval was asked in (its `session_id` is the
        gateway's conversation id), else where the user was heard from last."""
        channel = None
        # An event can overtake the turn that caused it (the conversation is written when the
        # turn finishes): a young approval waits a little for its conversation to appear.
        young = approval.created_at is not None and (
            utcnow() - _aware(approval.created_at) < timedelta(seconds=30)
        )
        for _ in range(SESSION_WAIT_STEPS if wait and young else 1):
            if not approval.session_id:
                break
            async with self.db.session() as session:
                channel = await session.scalar(
                    select(Conversation.channel).where(
                        Conversation.project_id == project.id,
                        Conversation.conversation_id == approval.session_id,
                    )
                )
            if channel is not None:
                break
            await asyncio.sleep(SESSION_WAIT_STEP)
        if channel is not None:
            try:
                return await reach_user(
                    self.db, self.identity, project.name, approval.user_id, channel=channel
                )
            except Undeliverable:
                pass
        return await reach_user(self.db, self.identity, project.name, approval.user_id)

    async def _known(self, project_id: int, core_id: str) -> tuple[str, str] | None:
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(Approval.id, Approval.status).where(
                        Approval.project_id == project_id,
                        Approval.core_approval_id == core_id,
                    )
                )
            ).first()
        return (found[0], found[1]) if found else None

    # --- reconciliation ----------------------------------------------------------------------
    async def projects(self) -> list[ProjectInfo]:
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(Project).where(
                        Project.genaug_project_id.is_not(None),
                        Project.genaug_admin_key_encrypted.is_not(None),
                    )
                )
            ).all()
            return [self.store.info(row) for row in rows]

    async def poll(self, project: ProjectInfo) -> None:
        """List the core's pending approvals: add the missing ones; close the gateway's pending
        ones the core no longer lists (asking the core what became of each)."""
        listed = await self.admin.pending(project)
        for approval in listed:
            await self.apply(project, approval)
        ids = {approval.id for approval in listed}
        async with self.db.session() as session:
            ours = (
                await session.scalars(
                    select(Approval.core_approval_id).where(
                        Approval.project_id == project.id,
                        Approval.source == CORE_OWNED,
                        Approval.status == PENDING,
                    )
                )
            ).all()
        for core_id in ours:
            if core_id is None or core_id in ids:
                continue
            current = await self.admin.get(project, core_id)
            if current is None:
                current = CoreApproval(id=core_id, user_id="-", status="expired")
            await self.apply(project, current)

    async def sync_due(self, limit: int = 50) -> int:
        """POST the decisions made here to the core; returns how many were settled."""
        now = utcnow()
        async with self.db.session() as session:
            due = (
                await session.execute(
                    select(Approval.id, Approval.project_id, Approval.core_approval_id)
                    .where(Approval.core_sync == PENDING, Approval.core_sync_next_at <= now)
                    .order_by(Approval.core_sync_next_at)
                    .limit(limit)
                )
            ).all()
        settled = 0
        infos = {info.id: info for info in await self.projects()} if due else {}
        for approval_id, project_id, core_id in due:
            project = infos.get(project_id)
            if project is None or core_id is None:
                await self._set_sync(approval_id, "failed")
                continue
            settled += await self._sync_one(project, approval_id, core_id)
        return settled

    async def _sync_one(self, project: ProjectInfo, approval_id: str, core_id: str) -> int:
        now = utcnow()
        async with self.db.engine.begin() as conn:
            # Claimed for a while, so another worker's loop does not POST it at the same time.
            claimed = await conn.execute(
                update(Approval)
                .where(
                    Approval.id == approval_id,
                    Approval.core_sync == PENDING,
                    Approval.core_sync_next_at <= now,
                )
                .values(core_sync_next_at=now + timedelta(seconds=SYNC_LEASE_SECONDS))
            )
            if claimed.rowcount != 1:
                return 0
            row = (
                await conn.execute(
                    select(Approval.status, Approval.core_sync_attempts).where(
                        Approval.id == approval_id
                    )
                )
            ).one()
            status, attempts = row.status, row.core_sync_attempts or 0
        try:
            answer = await self.admin.decide(project, core_id, status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return await self._retry(approval_id, attempts, str(exc) or type(exc).__name__)
        if 200 <= answer < 300:
            await self._set_sync(approval_id, "done")
            log.info("core_approvals.decided", approval=approval_id, status=status)
            return 1
        if answer in (404, 409):
            await self._decided_elsewhere(project, approval_id, core_id, status)
            return 1
        if answer >= 500 or answer == 429:
            return await self._retry(approval_id, attempts, f"HTTP {answer}")
        log.warning("core_approvals.refused", approval=approval_id, http_status=answer)
        await self._set_sync(approval_id, "failed")
        await self._tell(approval_id, "failed", None)
        return 1

    async def _retry(self, approval_id: str, attempts: int, error: str) -> int:
        attempts += 1
        if attempts >= MAX_SYNC_ATTEMPTS:
            await self._set_sync(approval_id, "failed", attempts)
            await self._tell(approval_id, "failed", None)
            return 1
        delay = min(300.0, 2.0 ** (attempts - 1))
        log.info("core_approvals.retry", approval=approval_id, attempts=attempts, error=error)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(Approval)
                .where(Approval.id == approval_id)
                .values(
                    core_sync_attempts=attempts,
                    core_sync_next_at=utcnow() + timedelta(seconds=delay),
                )
            )
        return 0

    async def _decided_elsewhere(
        self, project: ProjectInfo, approval_id: str, core_id: str, ours: str
    ) -> None:
        """404 / 409: the core decided (or expired) it first. Its outcome is the real one: the
        row is corrected and the user told."""
        try:
            current = await self.admin.get(project, core_id)
        except (aiohttp.ClientError, TimeoutError, ValidationError):
            current = None
        real = current.status if current is not None else "expired"
        if real not in DECIDED:
            real = "expired"
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(Approval)
                .where(Approval.id == approval_id)
                .values(
                    core_sync="conflict",
                    status=real,
                    decided_by="core",
                    decision_source="core",
                )
            )
        log.info("core_approvals.decided_elsewhere", approval=approval_id, ours=ours, real=real)
        await self._tell(approval_id, "conflict", real)

    async def _set_sync(self, approval_id: str, state: str, attempts: int | None = None) -> None:
        values: dict[str, Any] = {"core_sync": state}
        if attempts is not None:
            values["core_sync_attempts"] = attempts
        async with self.db.engine.begin() as conn:
            await conn.execute(update(Approval).where(Approval.id == approval_id).values(**values))

    async def _tell(
        self, approval_id: str, kind: Literal["conflict", "failed"], real: str | None
    ) -> None:
        """A message in the prompt's chat: the real outcome, or that the app was not told."""
        async with self.db.engine.begin() as conn:
            row = (await conn.execute(select(Approval).where(Approval.id == approval_id))).first()
            if row is None or not (row.route and row.account and row.chat):
                return
            if kind == "conflict":
                text = prompts.ELSEWHERE.get(real or "", prompts.ELSEWHERE["expired"]).format(
                    tool=row.tool
                )
            else:
                text = prompts.NOT_DELIVERED.format(tool=row.tool)
            queued = outbox.rows(
                project_id=row.project_id,
                channel=row.route,
                account=row.account,
                chat=row.chat,
                parts=[text],
                dedupe_key=f"approval:{approval_id}:core_{kind}",
                inbox_event_id=None,
                turn_id=None,
            )
            await outbox.insert(self.db, Statements(conn), queued)
        self.approvals.notify("core_" + kind)

    async def close(self) -> None:
        """Events still being applied are dropped (the poll brings them in again)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.admin.close()

    # --- the loop ----------------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Every worker: sync due decisions often; poll each configured project's pending list
        at start (what was missed while no worker ran) and then every
        GATEWAY_CORE_APPROVAL_POLL_SECONDS."""
        last_poll = -math.inf  # not 0: the loop's clock counts from boot, not from here
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.sync_due()
                if loop.time() - last_poll >= self.settings.core_approval_poll_seconds:
                    last_poll = loop.time()
                    for project in await self.projects():
                        try:
                            await self.poll(project)
                        except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
                            log.warning(
                                "core_approvals.poll_failed", project=project.name, error=str(exc)
                            )
            except Exception:  # database hiccup: keep going
                log.exception("core_approvals.loop_failed")
            await asyncio.sleep(min(1.0, self.settings.core_approval_poll_seconds))
