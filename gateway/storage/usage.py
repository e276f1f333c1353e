"""The core's usage signals (`usage.threshold`: 80 / 100 % of a project's daily turn limit).

The events are unsigned, so the route that accepts them is a per-project path with an
unguessable last segment (`projects.usage_path_token`). Each accepted signal is a row in the
audit log (action `core.usage_threshold`): durable, shared by every process, and read back by
`gateway verify` and `gateway projects show` as the project's latest signal.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.storage.db.models import AuditEntry, Project

ACTION = "core.usage_threshold"
CURRENT_FOR = timedelta(hours=24)
"""How long a signal describes "today": the core's daily window is not the gateway's to know,
and any signal older than a day has surely been reset."""
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def usage_path(project: str, token: str) -> str:
    return f"/webhooks/core/{project}/usage/{token}"


def usage_url(public_url: str | None, project: Project) -> str | None:
    """Where the core posts the project's usage signals (a path when GATEWAY_PUBLIC_URL is not
    set; None for a row that has no token yet)."""
    if not project.usage_path_token:
        return None
    return (public_url or "").rstrip("/") + usage_path(project.name, project.usage_path_token)


@dataclass(frozen=True)
class UsageSignal:
    threshold: int
    """Percent of the daily turn limit reached (the core sends 80 and 100)."""
    used: int | None
    limit: int | None
    day: date
    """The core's day the limit counts (the day it was received, UTC, when the core omits it)."""
    received_at: datetime

    def current(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) - self.received_at < CURRENT_FOR

    def describe(self) -> str:
        counts = (
            f" ({self.used} of {self.limit} turns)"
            if self.used is not None and self.limit is not None
            else ""
        )
        at = self.received_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.threshold}% of the daily limit reached{counts} on {self.day}, signalled {at}"


async def project_for(session: AsyncSession, name: str, token: str) -> Project | None:
    """The project `name` if `token` is its usage path token, else None (whichever was wrong:
    a caller without the path learns nothing, not even that the project exists)."""
    if not _NAME.match(name) or not _TOKEN.match(token):
        return None  # also keeps NUL and overlong strings away from the database
    project = await session.scalar(select(Project).where(Project.name == name))
    if project is None or not project.usage_path_token:
        return None
    if not hmac.compare_digest(project.usage_path_token.encode(), token.encode()):
        return None
    return project


def record(session: AsyncSession, project: Project, signal: UsageSignal) -> None:
    session.add(
        AuditEntry(
            project_id=project.id,
            actor="core",
            action=ACTION,
            subject=f"{signal.threshold}%",
            details={
                "threshold": signal.threshold,
                "used": signal.used,
                "limit": signal.limit,
                "date": signal.day.isoformat(),
            },
            created_at=signal.received_at,
        )
    )


async def latest(session: AsyncSession, project_id: int) -> UsageSignal | None:
    row = await session.scalar(
        select(AuditEntry)
        .where(AuditEntry.project_id == project_id, AuditEntry.action == ACTION)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    details = row.details or {}
    return UsageSignal(
        threshold=int(details.get("threshold", 0)),
        used=details.get("used"),
        limit=details.get("limit"),
        day=date.fromisoformat(details.get("date") or row.created_at.date().isoformat()),
        received_at=row.created_at,
    )
