"""Per-project API keys over real HTTP: their reach, revocation, base URLs (which move the
secrets sent there), and who the audit log says acted."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from gateway.storage.api_keys import ApiKeyStore
from gateway.storage.db.models import ApiKey, AuditEntry
from gateway.web.admin_auth import KEY_CACHE_SECONDS
from tests.auxil import updates
from tests.auxil.harness import BOT_TOKEN, CORE_KEY, Harness, eventually

API = "/api/v1/admin"
DEFAULT = f"{API}/projects/default"
ACME = f"{API}/projects/acme"


async def _key(h: Harness, project: str = "default", name: str = "ops-bot") -> tuple[str, str]:
    assert h.runtime is not None
    listed, key = await ApiKeyStore(h.runtime.db).create(project, name, actor="test")
    return listed.id, key


async def _actors(h: Harness, action: str) -> list[str]:
    assert h.runtime is not None
    async with h.runtime.db.session() as session:
        rows = await session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(rows.all())


async def test_a_project_key_works_only_under_its_project(harness: Harness) -> None:
    status, _ = await harness.admin("POST", f"{API}/projects", json={"name": "acme"})
    assert status == 201
    key_id, key = await _key(harness)

    status, project = await harness.admin("GET", DEFAULT, key=key)
    assert status == 200 and project["name"] == "default"
    status, _ = await harness.admin("GET", f"{DEFAULT}/accounts", key=key)
    assert status == 200
    status, _ = await harness.admin("PATCH", DEFAULT, json={"model": "complex"}, key=key)
    assert status == 200

    forbidden: list[tuple[str, str, Any]] = [
        ("GET", ACME, None),
        ("PATCH", ACME, {"model": "simple"}),
        ("GET", f"{ACME}/accounts", None),
        ("GET", f"{API}/projects/nope", None),  # another project's name leaks nothing either
        ("GET", f"{API}/projects", None),
        ("POST", f"{API}/projects", {"name": "evil"}),
    ]
    for method, path, body in forbidden:
        status, answer = await harness.admin(method, path, json=body, key=key)
        assert status == 403, (method, path, answer)
        assert answer["error"]["code"] == "forbidden"
        assert "/api/v1/admin/projects/default/" in answer["error"]["message"]
    status, acme = await harness.admin("GET", ACME)
    assert status == 200 and acme["model"] == "balanced"  # the refused PATCH changed nothing
    assert harness.runtime is not None
    async with harness.runtime.db.session() as session:
        row = await session.get(ApiKey, key_id)
        assert row is not None and row.last_used_at is not None
        assert key not in (row.key_hash, row.prefix) and key.startswith(row.prefix)

    # Unknown keys (even well-formed ones) are 401.
    status, _ = await harness.admin("GET", DEFAULT, key="gwk_" + "A" * 43)
    assert status == 401


@pytest.mark.timing  # a wall-clock bound: run alone, not beside three other test workers
async def test_a_revoked_key_stops_working_within_the_cache_bound(harness: Harness) -> None:
    assert harness.runtime is not None
    key_id, key = await _key(harness)
    status, _ = await harness.admin("GET", DEFAULT, key=key)
    assert status == 200  # found, and now cached
    await ApiKeyStore(harness.runtime.db).revoke(key_id, actor="test")
    revoked_at = time.monotonic()

    async def refused() -> bool:
        return (await harness.admin("GET", DEFAULT, key=key))[0] == 401

    await eventually(refused, timeout=KEY_CACHE_SECONDS + 2, interval=0.2)
    assert time.monotonic() - revoked_at <= KEY_CACHE_SECONDS + 1


async def test_a_project_key_cannot_move_base_urls(harness: Harness) -> None:
    _, key = await _key(harness)
    status, project = await harness.admin("GET", DEFAULT)
    current = project["core_base_url"]
    account = f"{DEFAULT}/accounts/telegram/default"
    refused = [
        ("PATCH", DEFAULT, {"core_base_url": "https://evil.example", "core_api_key": "k" * 20}),
        ("PATCH", DEFAULT, {"core_base_url": "https://evil.example"}),  # 403 before 422
        ("PATCH", account, {"api_base_url": "https://evil.example", "token": BOT_TOKEN}),
        (
            "POST",
            f"{DEFAULT}/accounts",
            {
                "channel": "telegram",
                "account": "evil",
                "token": "1:x" * 10,
                "api_base_url": "https://evil.example",
            },
        ),
    ]
    for method, path, body in refused:
        status, answer = await harness.admin(method, path, json=body, key=key)
        assert status == 403, (path, body, answer)
        assert answer["error"]["code"] == "forbidden"
    # The URL it already has is no change.
    status, _ = await harness.admin("PATCH", DEFAULT, json={"core_base_url": current}, key=key)
    assert status == 200
    status, project = await harness.admin("GET", DEFAULT)
    assert project["core_base_url"] == current
    status, account_now = await harness.admin("GET", account)
    assert account_now["config"]["api_base_url"] == harness.telegram_url


async def test_moving_a_base_url_needs_the_secrets_sent_there(harness: Harness) -> None:
    """With the global key too: a stolen admin credential cannot send stored secrets away."""
    status, project = await harness.admin("GET", DEFAULT)
    assert project["core_api_key_set"]
    moved = harness.core_url + "/"  # the same core: the turn below still gets its answer
    other = "http://127.0.0.1:9"
    status, answer = await harness.admin("PATCH", DEFAULT, json={"core_base_url": other})
    assert status == 422, answer
    assert "core_api_key" in answer["error"]["message"]
    # Unchanged (a trailing slash is the same URL): no secret needed.
    status, _ = await harness.admin("PATCH", DEFAULT, json={"core_base_url": moved})
    assert status == 200
    status, _ = await harness.admin(
        "PATCH", DEFAULT, json={"core_base_url": other, "core_api_key": CORE_KEY}
    )
    assert status == 200
    status, _ = await harness.admin(
        "PATCH", DEFAULT, json={"core_base_url": harness.core_url, "core_api_key": CORE_KEY}
    )
    assert status == 200

    account = f"{DEFAULT}/accounts/telegram/default"
    status, answer = await harness.admin("PATCH", account, json={"api_base_url": other})
    assert status == 422 and "token" in answer["error"]["message"], answer
    status, answer = await harness.admin(
        "PATCH", account, json={"api_base_url": harness.telegram_url, "enabled": True}
    )
    assert status == 200, answer
    status, answer = await harness.admin(
        "PATCH", account, json={"api_base_url": other, "token": BOT_TOKEN}
    )
    assert status == 200 and answer["config"]["api_base_url"] == other
    status, answer = await harness.admin(
        "PATCH", account, json={"api_base_url": harness.telegram_url, "token": BOT_TOKEN}
    )
    assert status == 200
    # Everything still works end to end.
    await harness.post_update(updates.message("still here?"))
    await eventually(lambda: harness.telegram.sent_texts())


async def test_the_audit_log_names_the_key_that_acted(harness: Harness) -> None:
    key_id, key = await _key(harness, name="ops-bot")
    link = {"channel": "telegram", "sender": "4242", "app_user_id": "u-1"}
    status, _ = await harness.admin("PUT", f"{DEFAULT}/identity-links", json=link, key=key)
    assert status == 200
    status, _ = await harness.admin("PATCH", DEFAULT, json={"model": "simple"})
    assert status == 200
    assert await _actors(harness, "link.create") == [f"admin-api:key:ops-bot({key_id})"]
    assert await _actors(harness, "project.update") == ["admin-api:global"]
    status, answer = await harness.admin("GET", f"{DEFAULT}/identity-links", key=key)
    assert answer["links"][0]["created_by"] == f"admin-api:key:ops-bot({key_id})"


async def test_a_decision_keeps_the_callers_actor_and_names_the_key(harness: Harness) -> None:
    key_id, key = await _key(harness, name="ops-bot")
    link = {"channel": "telegram", "sender": str(updates.USER["id"]), "app_user_id": "alice"}
    status, _ = await harness.admin("PUT", f"{DEFAULT}/identity-links", json=link)
    assert status == 200
    ask = {"app_user_id": "alice", "tool": "refund", "summary": "Refund #42", "channel": "telegram"}
    decided = []
    for body, key_used in (({"actor": "alice"}, key), (None, key), ({"actor": "bob"}, None)):
        status, approval = await harness.admin("POST", f"{DEFAULT}/approvals", json=ask)
        assert status == 201, approval
        path = f"{DEFAULT}/approvals/{approval['id']}/approve"
        kwargs: dict[str, Any] = {} if key_used is None else {"key": key_used}
        status, answer = await harness.admin("POST", path, json=body, **kwargs)
        assert status == 200, answer
        decided.append(answer["decided_by"])
    assert decided == [
        "alice via key:ops-bot",
        f"admin-api:key:ops-bot({key_id})",
        "bob via global",
    ]
    assert await _actors(harness, "approval.approved") == decided
