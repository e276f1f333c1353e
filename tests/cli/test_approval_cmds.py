"""`gateway approvals ...` and `gateway webhooks ...` as real subprocesses beside a running
gateway: the CLI decides through the same atomic transition, the worker does the rest."""

from __future__ import annotations

import pytest

from gateway.dev.fake_app_webhook import AppWebhookReceiver
from gateway.storage.db.models import WebhookDelivery
from tests.auxil import updates
from tests.auxil.cli import as_json, cli_env, failed, gateway, ok
from tests.auxil.harness import SECRET_KEY, Harness, eventually

pytestmark = pytest.mark.asyncio
HOOK_SECRET = "whsec-cli-test"


async def test_cli_lists_decides_and_resends_lifecycle_events(gw: Harness) -> None:
    receiver = AppWebhookReceiver(HOOK_SECRET)
    await receiver.start()
    try:
        status, _ = await gw.admin(
            "PATCH",
            "/api/v1/admin/projects/default",
            json={"approval_webhook_url": receiver.url, "approval_webhook_secret": HOOK_SECRET},
        )
        assert status == 200
        env = cli_env(gw.db_url, gw.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
        await gw.post_update(updates.message("#approval=deploy_prod ship it"))
        pending = await eventually(lambda: _pending(env))
        approval = pending[0]
        assert approval["tool"] == "deploy_prod" and approval["status"] == "pending"
        table = ok(await gateway("approvals", "list", env=env)).stdout
        assert "deploy_prod" in table and "pending" in table
        shown = as_json(await gateway("approvals", "show", approval["id"], "--json", env=env))
        assert shown["app_user_id"] == approval["app_user_id"]

        approve = ("approvals", "approve", approval["id"], "--actor", "ops:kim", "--json")
        decided = as_json(await gateway(*approve, env=env))
        assert decided["status"] == "approved" and decided["decided_by"] == "ops:kim"
        await eventually(
            lambda: any("Approved: deploy_prod" in t for t in gw.telegram.sent_texts())
        )
        again = await gateway("approvals", "deny", approval["id"], env=env)
        assert again.returncode == 2
        failed(again, "already approved")
        failed(await gateway("approvals", "show", "apr_missing", env=env), "apr_missing")

        await eventually(lambda: len(receiver.events) == 2)
        # Marked delivered once the receiver's 200 is back, which can lag its count.
        delivered = WebhookDelivery.status == "delivered"
        await eventually(lambda: gw.count_is(2, WebhookDelivery, delivered))
        deliveries = as_json(await gateway("webhooks", "list", "--json", env=env))
        assert sorted(d["event_type"] for d in deliveries) == [
            "approval.approved",
            "approval.pending",
        ]
        assert all(d["status"] == "delivered" for d in deliveries)
        target = next(d for d in deliveries if d["event_type"] == "approval.approved")
        ok(await gateway("webhooks", "retry", str(target["id"]), env=env))
        await eventually(lambda: len(receiver.deliveries) == 3)
        assert receiver.deliveries[-1].event["event_id"] == target["event_id"]
        assert len(receiver.events) == 2  # the idempotent receiver saw nothing new
        failed(await gateway("webhooks", "retry", env=env), "--all")
    finally:
        await receiver.stop()


async def _pending(env: dict[str, str]) -> list[dict]:
    return as_json(await gateway("approvals", "list", "--status", "pending", "--json", env=env))
