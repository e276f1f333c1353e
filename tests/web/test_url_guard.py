"""Save-time URL checks through the admin API: the app's webhook must be https:// to a public
address; operator URLs (core, provider API bases) may be private, never link-local or metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from tests.auxil.harness import Harness

pytestmark = pytest.mark.asyncio

PROJECTS = "/api/v1/admin/projects"
HOOK = {"approval_webhook_secret": "whsec-url-guard-tests"}
PUBLIC_HOOK = "https://93.184.215.14/hooks/approvals"
REFUSED_HOOKS = [
    ("http://93.184.215.14/hooks", "https://"),
    ("https://127.0.0.1/hooks", "private or loopback"),
    ("https://10.1.2.3:8443/hooks", "private or loopback"),
    ("https://localhost/hooks", "private or loopback"),
    ("https://[::1]/hooks", "private or loopback"),
    ("https://100.64.0.9/hooks", "private or loopback"),
    ("https://169.254.169.254/latest/meta-data", "never called"),
    ("https://[::ffff:a9fe:a9fe]/", "never called"),
]


def _reason(answer: dict[str, Any]) -> str:
    """The refusal: the store's message (`field: why`), or the schema's (`field` in details)."""
    error = answer["error"]
    details = error.get("details") or []
    return "; ".join([error["message"], *(f"{d['loc'][-1]}: {d['message']}" for d in details)])


async def _strict(db_url: str, **overrides: object) -> Harness:
    h = Harness(db_url, FakeTelegram(), MockCore())
    return await h.start(allow_private_webhooks=False, **overrides)


@pytest_asyncio.fixture
async def strict(db_url: str) -> AsyncIterator[Harness]:
    """No GATEWAY_ALLOW_PRIVATE_WEBHOOKS: what a production gateway enforces."""
    h = await _strict(db_url)
    try:
        yield h
    finally:
        await h.stop()


async def test_webhook_urls_must_be_https_to_a_public_address(strict: Harness) -> None:
    for url, reason in REFUSED_HOOKS:
        body = {"approval_webhook_url": url, **HOOK}
        status, answer = await strict.admin("PATCH", f"{PROJECTS}/default", json=body)
        assert status == 422, (url, answer)
        message = _reason(answer)
        assert "approval_webhook_url: " in message and reason in message, (url, message)
        status, answer = await strict.admin("POST", PROJECTS, json={"name": "acme", **body})
        assert status == 422, (url, answer)
    # Nothing was saved: no project, and default still has no webhook.
    status, projects = await strict.admin("GET", PROJECTS)
    assert [p["name"] for p in projects["projects"]] == ["default"]
    assert projects["projects"][0]["approval_webhook_url"] is None
    assert not projects["projects"][0]["approval_webhook_secret_set"]

    body = {"approval_webhook_url": PUBLIC_HOOK, **HOOK}
    status, saved = await strict.admin("PATCH", f"{PROJECTS}/default", json=body)
    assert status == 200 and saved["approval_webhook_url"] == PUBLIC_HOOK


async def test_allowed_hosts_let_a_named_host_through(db_url: str) -> None:
    h = await _strict(db_url, webhook_allowed_hosts="localhost, hooks.internal")
    try:
        body = {"approval_webhook_url": "https://localhost:8443/hooks", **HOOK}
        status, saved = await h.admin("PATCH", f"{PROJECTS}/default", json=body)
        assert status == 200 and saved["approval_webhook_url"] == "https://localhost:8443/hooks"
        # Named, but still https:// only; and the loopback address itself is not the name.
        for url in ("http://localhost:8443/hooks", "https://127.0.0.1:8443/hooks"):
            body = {"approval_webhook_url": url, **HOOK}
            status, _ = await h.admin("PATCH", f"{PROJECTS}/default", json=body)
            assert status == 422, url
    finally:
        await h.stop()


async def test_allow_private_webhooks_never_allows_metadata(harness: Harness) -> None:
    """The test harness sets GATEWAY_ALLOW_PRIVATE_WEBHOOKS: http:// and loopback are fine."""
    body = {"approval_webhook_url": "http://127.0.0.1:9/hooks", **HOOK}
    assert (await harness.admin("PATCH", f"{PROJECTS}/default", json=body))[0] == 200
    body = {"approval_webhook_url": "http://169.254.169.254/latest", **HOOK}
    status, answer = await harness.admin("PATCH", f"{PROJECTS}/default", json=body)
    assert status == 422 and "never called" in _reason(answer)


async def test_operator_urls_may_be_private_but_never_metadata(strict: Harness) -> None:
    core = {"core_base_url": "http://10.20.30.40:8787", "core_api_key": "core-key-1"}
    status, created = await strict.admin("POST", PROJECTS, json={"name": "inside", **core})
    assert status == 201 and created["core_base_url"] == "http://10.20.30.40:8787"
    for url in (
        "http://169.254.169.254",
        "http://[fd00:ec2::254]",
        "http://100.100.100.200",
        "http://168.63.129.16",
        "http://0.0.0.0:8787",
    ):
        body = {"core_base_url": url, "core_api_key": "core-key-2"}
        status, answer = await strict.admin("PATCH", f"{PROJECTS}/inside", json=body)
        assert status == 422 and "core_base_url: " in _reason(answer), (url, answer)
        status, _ = await strict.admin("POST", PROJECTS, json={"name": "meta", **body})
        assert status == 422, url
        account = {
            "channel": "telegram",
            "account": "meta",
            "token": "777777:META-bot-token-abcdefghijklmnopqrstuv",
            "api_base_url": url,
        }
        status, answer = await strict.admin("POST", f"{PROJECTS}/inside/accounts", json=account)
        assert status == 422 and "api_base_url: " in _reason(answer), (url, answer)
        status, answer = await strict.admin(
            "PATCH",
            f"{PROJECTS}/default/accounts/telegram/default",
            json={"api_base_url": url, "token": "777777:META-bot-token-abcdefghijklmnopqrstuv"},
        )
        assert status == 422, (url, answer)
    status, project = await strict.admin("GET", f"{PROJECTS}/inside")
    assert project["core_base_url"] == "http://10.20.30.40:8787" and project["accounts"] == []
    status, account = await strict.admin("GET", f"{PROJECTS}/default/accounts/telegram/default")
    assert account["config"]["api_base_url"] == strict.telegram_url
