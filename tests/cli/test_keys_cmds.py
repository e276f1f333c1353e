"""`gateway keys create|list|revoke` as real subprocesses beside a running gateway, moving a
project's core URL from the CLI, and `serve` refusing a weak admin key."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.web.admin_auth import KEY_CACHE_SECONDS
from tests.auxil.cli import as_json, cli_env, failed, gateway, ok
from tests.auxil.harness import CORE_KEY, SECRET_KEY, Harness, eventually

pytestmark = pytest.mark.asyncio
DEFAULT = "/api/v1/admin/projects/default"


async def test_keys_create_list_revoke(harness: Harness) -> None:
    env = cli_env(harness.db_url, harness.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    create = ("keys", "create", "--project", "default", "--name", "ops", "--json")
    created = await gateway(*create, env=env)
    made = json.loads(ok(created).stdout)
    assert set(made) == {"id", "key"} and made["id"].startswith("key_")
    key = made["key"]
    status, _ = await harness.admin("GET", DEFAULT, key=key)
    assert status == 200
    status, _ = await harness.admin("GET", "/api/v1/admin/projects", key=key)
    assert status == 403

    plain = ok(await gateway("keys", "create", "-p", "default", env=env))
    second = plain.stdout.strip()
    assert second.startswith("gwk_") and second != key and "shown only now" in plain.stderr

    listing, table_run = await asyncio.gather(
        gateway("keys", "list", "--project", "default", "--json", env=env),
        gateway("keys", "list", env=env),
    )
    listed = as_json(listing)
    assert listed[0]["id"] == made["id"]
    assert [k["name"] for k in listed] == ["ops", "default"]
    assert all(key.startswith(k["prefix"]) or second.startswith(k["prefix"]) for k in listed)
    assert listed[0]["last_used_at"] is not None and listed[0]["created_by"] == "cli"
    table = ok(table_run).stdout
    assert made["id"] in table
    for shown in (table, json.dumps(listed)):
        assert key not in shown and second not in shown

    revoked = ok(await gateway("keys", "revoke", made["id"], env=env))
    assert f"revoked {made['id']}" in revoked.stdout

    async def refused() -> bool:
        return (await harness.admin("GET", DEFAULT, key=key))[0] == 401

    await eventually(refused, timeout=KEY_CACHE_SECONDS + 2, interval=0.2)
    status, _ = await harness.admin("GET", DEFAULT, key=second)
    assert status == 200
    again, unknown, no_project, no_listing, bad_name, audit_run = await asyncio.gather(
        gateway("keys", "revoke", made["id"], env=env),
        gateway("keys", "revoke", "key_nope", env=env),
        gateway("keys", "create", "-p", "nope", env=env),
        gateway("keys", "list", "-p", "nope", env=env),
        gateway("keys", "create", "-p", "default", "--name", "Bad Name", env=env),
        gateway("audit", "list", "--actor", "cli", "--json", env=env),
    )
    failed(again, "already revoked")
    failed(unknown, "key_nope")
    failed(no_project, "nope")
    failed(no_listing, "nope")
    failed(bad_name, "name")
    audit = as_json(audit_run)
    actions = [(entry["action"], entry["subject"]) for entry in audit]
    assert ("api_key.create", made["id"]) in actions and ("api_key.revoke", made["id"]) in actions


async def test_projects_set_core_url_needs_the_core_key_again(harness: Harness) -> None:
    env = cli_env(harness.db_url, harness.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    other = "http://127.0.0.1:9"
    failed(
        await gateway("projects", "set", "default", "--core-url", other, env=env),
        "core_api_key",
        "--core-key",
    )
    shown = as_json(await gateway("projects", "show", "default", "--json", env=env))
    assert shown["core_base_url"] != other
    args = ("projects", "set", "default", "--core-url", other, "--core-key", "--json")
    moved = as_json(await gateway(*args, env=env, input=CORE_KEY + "\n"))
    assert moved["core_base_url"] == other


@pytest.mark.parametrize(
    ("key", "expected"),
    [("change-me", "placeholder"), ("short-admin-key", "15 characters")],
)
async def test_serve_refuses_a_weak_admin_key(
    db_url: str, telegram: tuple[object, str], key: str, expected: str
) -> None:
    env = cli_env(db_url, telegram[1], GATEWAY_ADMIN_KEY=key, PORT="1")
    result = await gateway("serve", env=env)
    assert result.returncode == 2
    line = failed(result, "GATEWAY_ADMIN_KEY", expected)
    assert key not in line
