"""Lifecycle deliveries and the URL guard: no redirect is followed, an address the policy refuses
is refused at connect time too (whatever was saved), and only coarse error classes are stored."""

from __future__ import annotations

import pytest
from aiohttp import web
from sqlalchemy import update

from approvals.webhooks import list_deliveries
from gateway.dev.fake_app_webhook import AppWebhookReceiver
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.dev.server import LocalServer
from gateway.schemas import WebhookDeliveryOut
from gateway.storage.db.models import Project
from tests.auxil import updates
from tests.auxil.harness import HOOK_SECRET, Harness, eventually, free_port

pytestmark = pytest.mark.asyncio

ERROR_CLASSES = {
    "timeout",
    "connect_error",
    "dns_error",
    "tls_error",
    "refused_address",
    "disconnected",
    "invalid_url",
    "request_error",
    "redirect",
    "http_4xx",
    "http_5xx",
    "http_other",
}


class Redirector(LocalServer):
    """An app webhook that answers every POST with `status` to `target`."""

    def __init__(self, status: int, target: str) -> None:
        self.status, self.target = status, target

    def make_app(self) -> web.Application:
        async def redirect(_: web.Request) -> web.Response:
            return web.Response(status=self.status, headers={"Location": self.target})

        app = web.Application()
        app.router.add_post("/hooks/approvals", redirect)
        return app


class Recorder(LocalServer):
    """Where the redirect points: records a request of any method on any path."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    def make_app(self) -> web.Application:
        async def hit(request: web.Request) -> web.Response:
            self.hits.append(f"{request.method} {request.path}")
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hit)
        return app


async def _failed_attempt(h: Harness) -> WebhookDeliveryOut:
    """Ask for an approval, then wait for its `approval.pending` delivery to have failed."""
    assert h.runtime is not None
    db = h.runtime.db
    await h.post_update(updates.message("#approval=nightly_job run"))

    async def failed() -> WebhookDeliveryOut | None:
        rows = await list_deliveries(db)
        return next((r for r in rows if r.attempts >= 1 and r.last_error), None)

    row = await eventually(failed, timeout=20)
    assert row.status != "delivered" and row.last_error in ERROR_CLASSES, row
    return row


@pytest.mark.parametrize("status", [302, 307])
async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(db_url: str, status: int) -> None:
    recorder = Recorder()
    target = f"{await recorder.start()}/internal/admin"
    redirector = Redirector(status, target)
    await redirector.start()
    h = Harness(db_url, FakeTelegram(), MockCore())
    try:
        await h.start(
            approval_webhook_url=f"{redirector.base_url}/hooks/approvals",
            approval_webhook_secret=HOOK_SECRET,
        )
        row = await _failed_attempt(h)
        assert (row.last_error, row.last_status) == ("redirect", status)
        assert recorder.hits == []
    finally:
        await h.stop()
        await redirector.stop()
        await recorder.stop()


async def test_a_name_that_now_resolves_to_loopback_is_refused_at_delivery(
    db_url: str, app_hook: AppWebhookReceiver
) -> None:
    """Saved while it resolved elsewhere (written straight to the row here: the admin API would
    refuse it today); at delivery the connector resolves `localhost` to 127.0.0.1 and refuses."""
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(allow_private_webhooks=False, approval_webhook_secret=HOOK_SECRET)
    try:
        assert h.runtime is not None and app_hook.base_url is not None
        port = app_hook.base_url.rsplit(":", 1)[1]
        async with h.runtime.db.engine.begin() as conn:
            await conn.execute(
                update(Project)
                .where(Project.name == "default")
                .values(approval_webhook_url=f"https://localhost:{port}/hooks/approvals")
            )
        row = await _failed_attempt(h)
        assert (row.last_error, row.last_status) == ("refused_address", None)
        assert app_hook.deliveries == []
    finally:
        await h.stop()


async def test_connection_failures_store_a_class_not_the_exception_text(db_url: str) -> None:
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(
        approval_webhook_url=f"http://127.0.0.1:{free_port()}/hooks/approvals",
        approval_webhook_secret=HOOK_SECRET,
    )
    try:
        row = await _failed_attempt(h)
        assert (row.last_error, row.last_status) == ("connect_error", None)
    finally:
        await h.stop()
