"""The CLI refuses the URLs the admin API refuses, with one clear error line."""

from __future__ import annotations

import asyncio

import pytest

from gateway.dev.fake_telegram import FakeTelegram
from tests.auxil.cli import as_json, cli_env, failed, gateway, ok

pytestmark = pytest.mark.asyncio


async def test_cli_refuses_metadata_core_urls_and_private_webhooks(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    _, tg_url = telegram
    env = cli_env(db_url, tg_url, GATEWAY_ALLOW_PRIVATE_WEBHOOKS=None)
    ok(await gateway("migrate", env=env))
    private_core, metadata_core, metadata_api, private_hook, http_hook = await asyncio.gather(
        gateway("projects", "add", "inside", "--core-url", "http://10.20.30.40:8787", env=env),
        gateway("projects", "add", "meta", "--core-url", "http://169.254.169.254", env=env),
        gateway(
            "accounts", "add", "telegram", "--account", "meta",
            "--api-base-url", "http://[fd00:ec2::254]", "--token", "-",
            env=env, input="777777:META-bot-token-abcdefghijklmnopqrstuv\n",
        ),
        gateway(
            "projects", "list",
            env={**env, "APPROVAL_WEBHOOK_URL": "https://10.0.0.8/hooks"},
        ),
        gateway(
            "projects", "list",
            env={**env, "APPROVAL_WEBHOOK_URL": "http://93.184.215.14/hooks"},
        ),
    )  # fmt: skip
    ok(private_core)  # a core inside the cluster is normal
    failed(metadata_core, "core_base_url", "link-local, metadata")
    failed(metadata_api, "api_base_url", "link-local, metadata")
    failed(private_hook, "approval_webhook_url", "GATEWAY_ALLOW_PRIVATE_WEBHOOKS")
    failed(http_hook, "approval_webhook_url", "https://")
    projects = as_json(await gateway("projects", "list", "--json", env=env))
    assert sorted(p["name"] for p in projects) == ["default", "inside"]
    assert all(p["approval_webhook_url"] is None for p in projects)
    # A private deployment says so: then the same webhook is accepted.
    allowed = {**env, "APPROVAL_WEBHOOK_URL": "http://10.0.0.8/hooks"}
    allowed["GATEWAY_ALLOW_PRIVATE_WEBHOOKS"] = "1"
    ok(await gateway("projects", "list", env=allowed))
