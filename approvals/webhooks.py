"""Lifecycle webhook deliveries: one queued row per event, POSTed signed until the app accepts it.

The rows form a database queue (the same claim mechanism as the inbox and outbox) keyed per
approval, so one approval's events arrive in order and a failing receiver holds back only that
approval's later events. Failures back off exponentially (capped) for at least
`webhook_retry_hours` before a row is dead; `gateway webhooks retry` sends it again.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from sqlalchemy import func, select, update

from approvals.signing import HEADER, sign
from gateway.config import Settings
from gateway.netguard import RefusedAddress, failure_class, guarded_connector, status_class
from gateway.schemas import WebhookDeliveryOut
from gateway.storage.db import Database
from gateway.storage.db.models import Project, WebhookDelivery, utcnow
from gateway.storage.queue import QueueSpec, settle
from gateway.storage.secrets import SecretBox
from gateway.storage.urls import webhook_policy

WEBHOOKS = QueueSpec(model=WebhookDelivery, ready="pending", active="delivering")
MIN_ATTEMPTS = 10
"""A row is dead only after this many attempts *and* the retry window: a receiver that was down
for the whole window still gets several tries at its end."""

log = structlog.get_logger("approvals.webhooks")


class WebhookSender:
    def __init__(self, settings: Settings, db: Database, box: SecretBox, metrics: Any) -> None:
        self.settings, self.db, self.box, self.metrics = settings, db, box, metrics
        self._session: aiohttp.ClientSession | None = None
        self.policy = webhook_policy(settings)

    def _http(self) -> aiohttp.ClientSession:
        """Every connection is checked against the webhook policy (`gateway.netguard`), so a
        name that resolves to a private address after it was saved is refused too."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds)
            self._session = aiohttp.ClientSession(
                timeout=timeout, connector=guarded_connector(self.policy)
            )
        return self._session

    async def deliver(self, row: Any, worker_id: str) -> None:
        """Handle one claimed delivery row."""
        bound = log.bind(delivery_id=row.id, event_id=row.event_id, event_type=row.event_type)
        url, secret = await self._target(row.project_id)
        if not url or not secret:
            missing = "APPROVAL_WEBHOOK_URL" if not url else "APPROVAL_WEBHOOK_SECRET"
            await self._finish(row, worker_id, "dead", None, f"no {missing} for the project")
            bound.error("webhook.dead", reason=f"{missing} not set")
            return
        body = row.body.encode()
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(secret, body),
            "X-General-Augment-Event-Id": row.event_id,
            "User-Agent": "channel-gateway-webhooks/1",
        }
        status: int | None = None
        error: str | None = None
        try:
            self.policy.check_url(url)  # the scheme, and an address written in the URL
            post = self._http().post(url, data=body, headers=headers, allow_redirects=False)
            async with post as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError, RefusedAddress) as exc:
            # A class, never the text: the URL's owner reads `last_error` (admin API, CLI).
            error = failure_class(exc)
        if status is not None and 200 <= status < 300:
            await self._finish(row, worker_id, "delivered", status, None)
            self.metrics.webhook_deliveries.labels("delivered").inc()
            bound.info("webhook.delivered", status=status, attempt=row.attempts)
            return
        error = error or status_class(status or 0)
        age = utcnow() - row.created_at
        window = timedelta(hours=self.settings.webhook_retry_hours)
        if age >= window and row.attempts >= MIN_ATTEMPTS:
            await self._finish(row, worker_id, "dead", status, error)
            self.metrics.webhook_deliveries.labels("dead").inc()
            bound.error("webhook.dead", attempts=row.attempts, error=error)
            return
        base = self.settings.retry_base_seconds
        cap = self.settings.webhook_retry_cap_seconds
        delay = random.uniform(0.5, 1.0) * min(cap, base * 2 ** min(row.attempts - 1, 20))
        async with self.db.control_statement() as conn:
            await settle(
                conn,
                WEBHOOKS,
                row.id,
                worker_id,
                status="pending",
                claimed_by=None,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                last_status=status,
                last_error=error,
            )
        self.metrics.webhook_deliveries.labels("retry").inc()
        bound.warning("webhook.retry", attempt=row.attempts, delay=round(delay, 2), error=error)

    async def _target(self, project_id: int) -> tuple[str | None, str | None]:
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(
                        Project.approval_webhook_url, Project.approval_webhook_secret_encrypted
                    ).where(Project.id == project_id)
                )
            ).first()
        if found is None:
            return None, None
        secret = self.box.decrypt(found[1]).get("webhook_secret")
        return found[0], secret

    async def _finish(
        self, row: Any, worker_id: str, status: str, code: int | None, error: str | None
    ) -> None:
        values: dict[str, Any] = {"status": status, "last_status": code, "last_error": error}
        if status == "delivered":
            values["delivered_at"] = utcnow()
        async with self.db.control_statement() as conn:
            await settle(conn, WEBHOOKS, row.id, worker_id, **values)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def list_deliveries(
    db: Database,
    *,
    project_id: int | None = None,
    status: str | None = None,
    approval_id: str | None = None,
    limit: int = 200,
) -> list[WebhookDeliveryOut]:
    query = select(WebhookDelivery)
    if project_id is not None:
        query = query.where(WebhookDelivery.project_id == project_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if approval_id is not None:
        query = query.where(WebhookDelivery.approval_id == approval_id)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit)
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
    return [WebhookDeliveryOut.model_validate(row, from_attributes=True) for row in rows]


async def retry_deliveries(db: Database, ids: list[int] | None) -> int:
    """Queue deliveries again now: the given ids, or (None) every dead one. A delivered event
    can be re-sent too (same `event_id`: receivers deduplicate on it)."""
    query = update(WebhookDelivery).values(
        status="pending", next_attempt_at=utcnow(), claimed_by=None, lease_until=None, attempts=0
    )
    if ids is None:
        query = query.where(WebhookDelivery.status == "dead")
    else:
        query = query.where(WebhookDelivery.id.in_(ids), WebhookDelivery.status != "delivering")
    async with db.engine.begin() as conn:
        return (await conn.execute(query)).rowcount


async def pending_count(db: Database) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count(WebhookDelivery.id)).where(
                WebhookDelivery.status.in_(("pending", "delivering"))
            )
        )
    return int(count or 0)
