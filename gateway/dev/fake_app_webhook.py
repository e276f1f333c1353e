"""A fake app endpoint for lifecycle webhooks (approval and identity events): verifies signatures
like a real receiver would, answers with a status the test chooses, and deduplicates on
`event_id`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from approvals.signing import HEADER, verify
from gateway.dev.server import LocalServer


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class AppWebhookReceiver(LocalServer):
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.status = 200
        """What the next requests are answered (set 500 to play a receiver that is down)."""
        self.deliveries: list[Delivery] = []
        self.events: list[dict[str, Any]] = []
        """Accepted events, each `event_id` once, in arrival order (the idempotent receiver)."""
        self._seen: set[str] = set()

    @property
    def url(self) -> str:
        assert self.base_url is not None
        return f"{self.base_url}/hooks/approvals"

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hooks/approvals", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify(self.secret, body, request.headers.get(HEADER, ""))
        status = self.status if ok else 401
        self.deliveries.append(Delivery(dict(request.headers), body, ok, status))
        if status == 200:
            event = json.loads(body)
            if event["event_id"] not in self._seen:
                self._seen.add(event["event_id"])
                self.events.append(event)
        return web.json_response({"ok": status == 200}, status=status)

    def types(self, approval_id: str | None = None) -> list[str]:
        return [
            e["type"]
            for e in self.events
            if approval_id is None or e.get("approval", {}).get("id") == approval_id
        ]

    def reset(self) -> None:
        """Forget what was received (a test's setup made events the test is not about)."""
        self.deliveries.clear()
        self.events.clear()
        self._seen.clear()

    def of_type(self, prefix: str) -> list[dict[str, Any]]:
        """Accepted events whose type starts with `prefix` (`identity.`, `approval.`)."""
        return [e for e in self.events if e["type"].startswith(prefix)]
