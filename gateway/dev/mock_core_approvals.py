"""The mock core's own approvals: the admin endpoints a General Augment core exposes for approvals
it owns, their signed lifecycle events, and expiry after the TTL.

A `#core_approval=<tool>` directive in a turn creates one for the turn's user. Tests configure it
in-process (`MockCore.core_approvals`) or through `POST /mock/core-approvals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from approvals.signing import HEADER, sign

_BASE = "/api/v1/admin/projects/{project}/approvals"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class CoreApprovalSettings:
    """Who the mock core is to the gateway's admin client, and where it sends events."""

    project_id: str = "proj_mock"
    admin_key: str = "mock-admin-key"
    events_url: str | None = None
    events_secret: str | None = None
    ttl_seconds: float = 600.0
    fail_decisions: int = 0
    """Answer that many approve / deny calls 503 (not recorded) before deciding again."""


@dataclass
class MockCoreApprovals:
    settings: CoreApprovalSettings = field(default_factory=CoreApprovalSettings)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: list[tuple[str, str]] = field(default_factory=list)
    """Every approve / deny call that reached the admin API: (approval id, verdict)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every lifecycle event sent (or attempted), in order."""
    list_requests: int = 0
    """Pending lists served (the gateway's reconciliation polls)."""
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.approvals.clear()
        self.decisions.clear()
        self.events.clear()
        self.list_requests = 0
        self.settings = CoreApprovalSettings()

    def routes(self, app: web.Application) -> None:
        app.router.add_get(_BASE, self._list)
        app.router.add_get(_BASE + "/{id}", self._get)
        app.router.add_post(_BASE + "/{id}/{verdict:approve|deny}", self._decide)
        app.router.add_post("/mock/core-approvals", self._configure)
        app.router.add_post("/mock/core-approvals/{id}/{status:approved|denied|expired}", self._set)

    # ----------------------------------------------------------------- the core's side

    def create(self, user_id: str, tool: str, summary: str, session_id: str | None) -> str:
        """A pending approval for `user_id`, announced by an `approval.pending` event."""
        now = time.time()
        approval_id = f"capr_{secrets.token_hex(8)}"
        self.approvals[approval_id] = {
            "id": approval_id,
            "project_id": self.settings.project_id,
            "user_id": user_id,
            "session_id": session_id,
            "tool_id": tool,
            "input_summary": summary,
            "status": "pending",
            "created_at": _iso(now),
            "expires_at": _iso(now + self.settings.ttl_seconds),
            "_deadline": now + self.settings.ttl_seconds,
        }
        self._emit(approval_id)
        self._spawn(self._expire_later(approval_id, self.settings.ttl_seconds))
        return approval_id

    def set_status(self, approval_id: str, status: str) -> bool:
        """Decide (or expire) elsewhere, as the app's own UI would; False if not pending."""
        approval = self.approvals.get(approval_id)
        if approval is None or approval["status"] != "pending":
            return False
        approval["status"] = status
        self._emit(approval_id)
        return True

    def public(self, approval_id: str) -> dict[str, Any]:
        self._expire_due()
        return {k: v for k, v in self.approvals[approval_id].items() if not k.startswith("_")}

    def _expire_due(self) -> None:
        now = time.time()
        for approval_id, approval in self.approvals.items():
            if approval["status"] == "pending" and approval["_deadline"] <= now:
                self.set_status(approval_id, "expired")

    async def _expire_later(self, approval_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self._expire_due()

    def _emit(self, approval_id: str) -> None:
        approval = self.approvals[approval_id]
        event = {
            "event_id": f"evt_{secrets.token_hex(8)}",
            "event": f"approval.{approval['status']}",
            "approval": {k: v for k, v in approval.items() if not k.startswith("_")},
        }
        self.events.append(event)
        if self.settings.events_url and self.settings.events_secret:
            self._spawn(self._send(self.settings.events_url, self.settings.events_secret, event))

    async def _send(self, url: str, secret: str, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(secret, body)}
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with aiohttp.ClientSession() as http:
                timeout = aiohttp.ClientTimeout(total=5)
                async with http.post(url, data=body, headers=headers, timeout=timeout) as resp:
                    event.setdefault("_answers", []).append(resp.status)

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- admin API

    def _check(self, request: web.Request) -> None:
        if request.headers.get("X-Admin-Key") != self.settings.admin_key:
            raise web.HTTPUnauthorized(reason="Invalid or missing X-Admin-Key.")
        if request.match_info["project"] != self.settings.project_id:
            raise web.HTTPNotFound(reason="Unknown project.")

    async def _list(self, request: web.Request) -> web.Response:
        self._check(request)
        self.list_requests += 1
        self._expire_due()
        status = request.query.get("status")
        found = [
            self.public(approval_id)
            for approval_id, approval in self.approvals.items()
            if status is None or approval["status"] == status
        ]
        return web.json_response({"approvals": found})

    async def _get(self, request: web.Request) -> web.Response:
        self._check(request)
        approval_id = request.match_info["id"]
        if approval_id not in self.approvals:
            raise web.HTTPNotFound(reason="Unknown approval.")
        return web.json_response(self.public(approval_id))

    async def _decide(self, request: web.Request) -> web.Response:
        self._check(request)
        approval_id = request.match_info["id"]
        verdict = request.match_info["verdict"]
        if approval_id not in self.approvals:
            raise web.HTTPNotFound(reason="Unknown approval.")
        if self.settings.fail_decisions > 0:
            self.settings.fail_decisions -= 1
            raise web.HTTPServiceUnavailable(reason="Mock outage (fail_decisions).")
        self.decisions.append((approval_id, verdict))
        self._expire_due()
        status = "approved" if verdict == "approve" else "denied"
        if not self.set_status(approval_id, status):
            raise web.HTTPConflict(reason="Approval is not pending.")
        return web.json_response(self.public(approval_id))

    # ----------------------------------------------------------------- controls

    async def _configure(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(reason="Body must be a JSON object.")
        for name, value in payload.items():
            if not hasattr(self.settings, name):
                raise web.HTTPBadRequest(reason=f"Unknown setting {name!r}.")
            if name == "ttl_seconds":
                value = float(value)
            setattr(self.settings, name, value)
        return web.json_response({"status": "ok"})

    async def _set(self, request: web.Request) -> web.Response:
        approval_id = request.match_info["id"]
        if approval_id not in self.approvals:
            raise web.HTTPNotFound(reason="Unknown approval.")
        if not self.set_status(approval_id, request.match_info["status"]):
            raise web.HTTPConflict(reason="Approval is not pending.")
        return web.json_response(self.public(approval_id))
