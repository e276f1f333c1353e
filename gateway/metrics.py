"""Prometheus metrics with stable names and low-cardinality labels (channel, outcome, status).

One registry per process runtime (not the global default) so tests can run several apps.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            "gateway_webhooks_total",
            "Webhook requests by channel and outcome (accepted, duplicate, rejected_signature, "
            "malformed, unknown_account, too_large).",
            ["channel", "outcome"],
            registry=r,
        )
        self.account_directory_queries = Counter(
            "gateway_account_directory_queries_total",
            "Database reads behind the webhook's account lookup, by scope: `account` (one "
            "account's row, at most once per cache period) and `names` (the enabled accounts' "
            "names, re-read at most every few seconds while requests name unknown accounts).",
            ["scope"],
            registry=r,
        )
        self.turns = Counter(
            "gateway_turns_total",
            "Turns finished, by channel and status.",
            ["channel", "status"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "gateway_turn_duration_seconds",
            "Time from webhook receipt to the reply being queued.",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.core_requests = Counter(
            "gateway_core_requests_total",
            "Responses core calls by HTTP status (or 'error' for no answer).",
            ["status"],
            registry=r,
        )
        self.core_deferrals = Counter(
            "gateway_core_deferrals_total",
            "Turns put back on the queue to wait out the core's 429, by the limit's scope (user, "
            "project).",
            ["scope"],
            registry=r,
        )
        self.core_usage_signals = Counter(
            "gateway_core_usage_signals_total",
            "The core's usage.threshold signals accepted, by the percent of the daily turn limit "
            "reached (80, 100); which project is in the log line and `gateway verify`.",
            ["threshold"],
            registry=r,
        )
        self.media_downloads = Counter(
            "gateway_media_downloads_total",
            "Inbound media items the worker fetched, by channel and outcome (fetched, "
            "too_large, failed).",
            ["channel", "outcome"],
            registry=r,
        )
        self.media_bytes = Counter(
            "gateway_media_download_bytes_total",
            "Bytes of inbound media fetched, by channel.",
            ["channel"],
            registry=r,
        )
        self.sends = Counter(
            "gateway_outbox_sends_total",
            "Provider send attempts by channel and outcome (sent, retry, rate_limited, failed, "
            "dead).",
            ["channel", "outcome"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "gateway_outbox_depth", "Outbound messages waiting to be sent.", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "gateway_outbox_oldest_age_seconds",
            "Age of the oldest queued outbound message.",
            registry=r,
        )
        self.inbox_depth = Gauge(
            "gateway_inbox_depth", "Inbound events waiting for the worker.", registry=r
        )

        self.approvals = Counter(
            "gateway_approvals_total",
            "Approval transitions by outcome (pending = asked; approved, denied, expired) and "
            "refused decisions (not the approval's user, unknown or forged token).",
            ["outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "gateway_approval_webhooks_total",
            "Approval lifecycle webhook attempts by outcome (delivered, retry, dead).",
            ["outcome"],
            registry=r,
        )
        self.webhook_pending = Gauge(
            "gateway_webhook_deliveries_pending",
            "Approval lifecycle events not yet accepted by the app's webhook.",
            registry=r,
        )
        self.build_info = Gauge(
            "gateway_build_info",
            "Always 1; the labels name the running build (commit empty when unknown).",
            ["version", "commit"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
