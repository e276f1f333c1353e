"""Approval operations shared by the admin API and the CLI (same checks, same answers)."""

from __future__ import annotations

from typing import Literal

from approvals.service import ApprovalService, Destination
from gateway.errors import Conflict, Invalid, NotFound
from gateway.schemas import ApprovalCreate, ApprovalOut
from gateway.storage.projects import AccountDirectory, ProjectStore
from identity.reach import reach_user
from identity.store import IdentityStore

STATUSES = ("pending", "approved", "denied", "expired")


class AlreadyDecided(Conflict):
    """The approval was decided before this call (409 `already_decided`)."""


async def request_approval(
    store: ProjectStore,
    directory: AccountDirectory,
    identity: IdentityStore,
    approvals: ApprovalService,
    project: str,
    body: ApprovalCreate,
    *,
    actor: str,
) -> ApprovalOut:
    """Prompt the app user on their linked channel (the most recent, unless `channel`)."""
    info = await store.project_info(project)
    reach = await reach_user(store.db, identity, project, body.app_user_id, channel=body.channel)
    _, adapter = await directory.get(reach.route, reach.account)
    destination = Destination.to(reach, adapter)
    return await approvals.request(
        info,
        app_user_id=body.app_user_id,
        tool=body.tool,
        summary=body.summary,
        ttl_seconds=body.ttl_seconds,
        destination=destination,
        actor=actor,
    )


async def decide(
    store: ProjectStore,
    approvals: ApprovalService,
    project: str,
    approval_id: str,
    verdict: Literal["approved", "denied"],
    *,
    actor: str,
    source: str,
) -> ApprovalOut:
    info = await store.project_info(project)
    decision = await approvals.decide(
        approval_id=approval_id, verdict=verdict, actor=actor, source=source, project_id=info.id
    )
    if decision.reason == "not_found" or decision.approval is None:
        raise NotFound(f"no approval {approval_id!r} in project {project!r}")
    if not decision.won:
        raise AlreadyDecided(f"approval {approval_id} is already {decision.approval.status}")
    if decision.approval.status != verdict:
        raise AlreadyDecided(f"approval {approval_id} expired before the decision")
    return decision.approval


async def show(
    store: ProjectStore, approvals: ApprovalService, project: str, approval_id: str
) -> ApprovalOut:
    info = await store.project_info(project)
    found = await approvals.get(approval_id, info.id)
    if found is None:
        raise NotFound(f"no approval {approval_id!r} in project {project!r}")
    return found


async def listing(
    store: ProjectStore,
    approvals: ApprovalService,
    project: str,
    *,
    status: str | None = None,
    app_user_id: str | None = None,
) -> list[ApprovalOut]:
    if status is not None and status not in STATUSES:
        raise Invalid(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    info = await store.project_info(project)
    return await approvals.list(info.id, status=status, app_user_id=app_user_id)
