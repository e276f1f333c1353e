"""`/metrics` after a known workload: stable names, low-cardinality labels, exact counts."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gateway.storage.db.models import OutboundMessage
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually


async def _scrape(harness: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_a_known_workload(harness: Harness) -> None:
    first = updates.message("one")
    for update in (first, updates.message("two"), updates.message("three")):
        assert (await harness.post_update(update)).status == 200
    assert (await harness.post_update(first)).status == 200  # a redelivery
    assert (await harness.post_update(updates.message("x"), secret="wrong")).status == 403
    await harness.telegram.wait_for("sendMessage", 3)

    async def all_sent() -> bool:
        return await harness.count(OutboundMessage, OutboundMessage.status == "sent") == 3

    await eventually(all_sent)
    sent = ("gateway_outbox_sends_total", (("channel", "telegram"), ("outcome", "sent")))

    async def scraped_once_counted() -> dict[Any, float] | None:
        # A sender counts its send just after the "sent" mark commits: scrape once it has.
        scraped = await _scrape(harness)
        return scraped if scraped.get(sent, 0.0) >= 3 else None

    metrics = await eventually(scraped_once_counted, message="three sends counted")

    def value(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    webhooks = "gateway_webhooks_total"
    assert value(webhooks, channel="telegram", outcome="accepted") == 3
    assert value(webhooks, channel="telegram", outcome="duplicate") == 1
    assert value(webhooks, channel="telegram", outcome="rejected_signature") == 1
    assert value("gateway_turns_total", channel="telegram", status="completed") == 3
    assert value("gateway_turn_duration_seconds_count", channel="telegram") == 3
    assert value("gateway_core_requests_total", status="200") == 3
    assert value("gateway_outbox_sends_total", channel="telegram", outcome="sent") == 3
    assert value("gateway_outbox_depth") == 0 and value("gateway_inbox_depth") == 0
    assert ("gateway_outbox_oldest_age_seconds", ()) in metrics
    # Low cardinality: no label carries a chat, user or message id.
    # (`gateway_build_info` carries the one version and commit of the process, a constant.)
    for name, labels in metrics:
        allowed = {"version", "commit"} if name == "gateway_build_info" else set()
        for key, _ in labels:
            assert key in {"channel", "outcome", "status", "scope", "le", *allowed}, key


async def test_metrics_count_approvals_and_pending_webhook_events(harness: Harness) -> None:
    # The app's webhook points at a port nothing listens on: events stay pending.
    from tests.auxil.harness import free_port

    status, _ = await harness.admin(
        "PATCH",
        "/api/v1/admin/projects/default",
        json={
            "approval_webhook_url": f"http://127.0.0.1:{free_port()}/hook",
            "approval_webhook_secret": "whsec-metrics",
        },
    )
    assert status == 200
    await harness.post_update(updates.message("#approval=a,b two tools"))
    prompts = await eventually(
        lambda: (
            [c for c in harness.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
            if len(harness.telegram.calls_to("sendMessage")) >= 3
            else None
        )
    )
    import json

    def data(call: object, index: int) -> str:
        markup = call.params["reply_markup"]  # type: ignore[attr-defined]
        markup = json.loads(markup) if isinstance(markup, str) else markup
        return markup["inline_keyboard"][0][index]["callback_data"]

    await harness.post_update(updates.callback(data(prompts[0], 0)))  # approve one
    await harness.post_update(updates.callback(data(prompts[1], 1)))  # deny the other
    await harness.post_update(updates.callback("ap:forged-token-forged-token:y"))
    await eventually(lambda: len(harness.telegram.calls_to("answerCallbackQuery")) == 3)
    retry = ("gateway_approval_webhooks_total", (("outcome", "retry"),))

    async def scraped_after_a_delivery_attempt() -> dict[Any, float] | None:
        # The delivery loop tries the unreachable webhook on its own schedule: scrape once it has.
        assert harness.runtime is not None
        await harness.runtime.refresh_gauges()
        scraped = await _scrape(harness)
        return scraped if scraped.get(retry, 0.0) >= 1 else None

    metrics = await eventually(
        scraped_after_a_delivery_attempt, message="a refused lifecycle webhook delivery"
    )

    def value(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("gateway_approvals_total", outcome="pending") == 2
    assert value("gateway_approvals_total", outcome="approved") == 1
    assert value("gateway_approvals_total", outcome="denied") == 1
    assert value("gateway_approvals_total", outcome="refused") == 1
    assert value("gateway_webhook_deliveries_pending") == 4  # 2 pending + 2 decided events
    assert value("gateway_approval_webhooks_total", outcome="retry") >= 1
    assert value("gateway_turns_total", channel="telegram", status="awaiting_approval") == 1


def test_the_sample_dashboard_only_uses_exported_metrics() -> None:
    import json
    import re
    from pathlib import Path

    from gateway.metrics import Metrics

    exported = {
        sample_name
        for family in Metrics().registry.collect()
        for sample_name in (
            family.name,
            f"{family.name}_total",
            f"{family.name}_bucket",
            f"{family.name}_count",
            f"{family.name}_sum",
        )
    }
    path = Path(__file__).parents[1] / "deploy" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"gateway_[a-z_]+", target["expr"])
    }
    assert used and used <= exported, used - exported
    assert {"gateway_approvals_total", "gateway_webhook_deliveries_pending"} <= used
