"""`gateway verify` as a real subprocess against the running gateway and the fake providers:
all PASS with a good configuration; each broken piece turns exactly its own row to FAIL."""

from __future__ import annotations

from typing import Any

from gateway.storage.secrets import generate_key
from tests.auxil.cli import cli_env, gateway
from tests.auxil.harness import PUBLIC_URL, SECRET_KEY, Harness


async def _verify(gw: Harness, **env: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    import json

    overrides = {"GATEWAY_SECRET_KEY": SECRET_KEY, "GATEWAY_PUBLIC_URL": PUBLIC_URL, **env}
    result = await gateway(
        "verify", "--json", "--gateway-url", gw.base_url,
        env=cli_env(gw.db_url, gw.telegram_url, **overrides),
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    rows = {check["name"]: check["status"] for check in report["checks"]}
    reasons = {check["name"]: check["reason"] for check in report["checks"]}
    return result.returncode, rows, reasons


EXPECTED_PASS = {
    "database",
    "secret_key",
    "telegram:default credentials",
    "telegram:default webhook",
    "telegram:default self-test webhook",
    "sms:default credentials",
    "sms:default self-test webhook",
    "whatsapp:default credentials",
    "whatsapp:default self-test webhook",
    "model",
    "core",
    "core usage",
}


async def test_verify_passes_then_each_broken_piece_fails_its_row(gw: Harness) -> None:
    gw.telegram.webhook["url"] = f"{PUBLIC_URL}/webhooks/telegram/default"
    inbox_before = await gw.inbox_rows()
    code, rows, reasons = await _verify(gw)
    assert code == 0, reasons
    assert {name for name, status in rows.items() if status == "PASS"} == EXPECTED_PASS, reasons
    assert rows["approval_webhook"] == "SKIP"  # none configured
    assert "project_key_execution=PASS" in reasons["core"]
    assert "pending_update_count=" in reasons["telegram:default webhook"]
    # The self-tests reached the gateway but no user: nothing was sent anywhere, and the only
    # core call is verify's own.
    assert await gw.inbox_rows() > inbox_before
    assert gw.telegram.sent_texts() == []
    assert gw.twilio is not None and gw.twilio.messages == []
    features = [r["body"]["metadata"]["feature"] for r in gw.core.requests]
    assert features == ["channel_gateway_verify"]

    def only_failure(rows: dict[str, str]) -> list[str]:
        return [name for name, status in rows.items() if status == "FAIL"]

    gw.telegram.webhook["url"] = "https://elsewhere.example/hook"
    code, rows, reasons = await _verify(gw)
    assert code != 0 and only_failure(rows) == ["telegram:default webhook"]
    assert "elsewhere.example" in reasons["telegram:default webhook"]
    gw.telegram.webhook["url"] = f"{PUBLIC_URL}/webhooks/telegram/default"

    gw.core.controls.api_key = "a-different-key"
    code, rows, reasons = await _verify(gw)
    assert code != 0 and only_failure(rows) == ["core"]
    assert "401" in reasons["core"]
    gw.core.controls.api_key = None

    gw.telegram.valid_tokens = {"another-token"}
    code, rows, reasons = await _verify(gw)
    assert code != 0 and only_failure(rows) == ["telegram:default credentials"]
    gw.telegram.valid_tokens = None

    code, rows, reasons = await _verify(gw, GATEWAY_SECRET_KEY=generate_key())
    assert code != 0 and only_failure(rows) == ["secret_key"]
    assert "do not decrypt" in reasons["secret_key"]


async def test_verify_sends_a_signed_test_event_to_the_approval_webhook(gw: Harness) -> None:
    from gateway.dev.fake_app_webhook import AppWebhookReceiver

    gw.telegram.webhook["url"] = f"{PUBLIC_URL}/webhooks/telegram/default"
    receiver = AppWebhookReceiver("whsec-verify")
    await receiver.start()
    stopped_url = receiver.url
    try:
        hook = {"APPROVAL_WEBHOOK_URL": receiver.url, "APPROVAL_WEBHOOK_SECRET": "whsec-verify"}
        code, rows, reasons = await _verify(gw, **hook)
        assert code == 0 and rows["approval_webhook"] == "PASS", reasons
        assert receiver.events[-1]["type"] == "approval.test"
        assert receiver.deliveries[-1].signature_ok
        # A secret the app does not share: the receiver refuses the signature.
        code, rows, reasons = await _verify(gw, **{**hook, "APPROVAL_WEBHOOK_SECRET": "wrong"})
        assert code != 0 and [n for n, s in rows.items() if s == "FAIL"] == ["approval_webhook"]
        assert "401" in reasons["approval_webhook"]
    finally:
        await receiver.stop()
    code, rows, reasons = await _verify(
        gw, APPROVAL_WEBHOOK_URL=stopped_url, APPROVAL_WEBHOOK_SECRET="whsec-verify"
    )
    assert code != 0 and rows["approval_webhook"] == "FAIL"
    assert "unreachable" in reasons["approval_webhook"]


async def test_verify_json_records_the_gateway_version_and_the_core_build(gw: Harness) -> None:
    import json
    from importlib import metadata

    env = cli_env(
        gw.db_url, gw.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY, GATEWAY_COMMIT="feed42"
    )
    gw.core.version, gw.core.build = "2.7.1", "c0ffee"
    result = await gateway("verify", "--json", "--gateway-url", gw.base_url, env=env)
    report = json.loads(result.stdout)
    assert report["gateway"] == {"version": metadata.version("channel-gateway"), "commit": "feed42"}
    assert report["core"]["version"] == "2.7.1" and report["core"]["build"] == "c0ffee"
    table = (await gateway("verify", "--gateway-url", gw.base_url, env=env)).stdout
    assert "(commit feed42); core 2.7.1 (build c0ffee)" in table
    # A core that does not say: verify records "unknown" rather than guessing.
    gw.core.version = gw.core.build = None
    report = json.loads((await gateway("verify", "--json", env=env)).stdout)
    assert report["core"] == "unknown"


async def test_a_model_that_is_not_a_tier_is_refused_unless_asked_and_verify_warns(
    gw: Harness,
) -> None:
    gw.telegram.webhook["url"] = f"{PUBLIC_URL}/webhooks/telegram/default"
    base = "/api/v1/admin/projects"
    for method, path, body in (
        ("PATCH", f"{base}/default", {"model": "gpt-4o"}),
        ("POST", base, {"name": "acme", "model": "gpt-4o"}),
    ):
        status, refused = await gw.admin(method, path, json=body)
        assert status == 422, refused
        said = " ".join(d["message"] for d in refused["error"]["details"])
        assert "simple, balanced, complex" in said and "custom_model" in said, refused
    status, created = await gw.admin(
        "POST", base, json={"name": "acme", "model": "gpt-4o", "custom_model": True}
    )
    assert status == 201 and created["model"] == "gpt-4o", created
    status, changed = await gw.admin(
        "PATCH", f"{base}/default", json={"model": "gpt-4o", "custom_model": True}
    )
    assert status == 200 and changed["model"] == "gpt-4o", changed

    code, rows, reasons = await _verify(gw)
    assert code == 0 and rows["model"] == "WARN", reasons  # a warning, not a failure
    assert "'gpt-4o' is not a tier (simple, balanced, complex)" in reasons["model"]
    assert gw.core.requests[-1]["body"]["model"] == "gpt-4o"  # still sent as given
