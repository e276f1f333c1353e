"""Admin API over real HTTP: auth and check order, projects, accounts, secrets at rest, OpenAPI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from sqlalchemy import text

from gateway.web.admin import ROUTES
from tests.auxil import updates
from tests.auxil.harness import ADMIN_KEY, BOT_TOKEN, CORE_KEY, Harness, eventually

API = "/api/v1/admin"
ACME_TOKEN = "222222:ACME-token-abcdefghijklmnopqrstuvwxyz"
ACME_KEY = "acme-core-key-0123456789"


def assert_error(status: int, body: Any, expected_status: int, code: str | None = None) -> None:
    """The one error shape: {"error": {"code": str, "message": str}}."""
    assert status == expected_status, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    if code is not None:
        assert error["code"] == code, body


def telegram_account(account: str, token: str, harness: Harness, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "telegram",
        "account": account,
        "token": token,
        "api_base_url": harness.telegram_url,
        **extra,
    }


async def test_admin_key_is_checked_first_on_every_kind_of_route(harness: Harness) -> None:
    calls = [
        ("GET", f"{API}/projects", None),
        ("POST", f"{API}/projects", {"name": "acme"}),
        ("GET", f"{API}/projects/default", None),
        ("PATCH", f"{API}/projects/default", {"model": "smart"}),
        ("GET", f"{API}/projects/default/accounts", None),
        ("GET", f"{API}/projects/default/accounts/telegram/default", None),
        ("DELETE", f"{API}/projects/default/accounts/telegram/default", None),
        # An unknown project with a wrong key is still 401: nothing about projects leaks.
        ("GET", f"{API}/projects/nope", None),
        ("GET", f"{API}/projects/nope/accounts", None),
    ]
    for key in (None, "", "wrong-key", ADMIN_KEY + "x", ADMIN_KEY[:-1]):
        for method, path, body in calls:
            status, payload = await harness.admin(method, path, json=body, key=key)
            assert_error(status, payload, 401, "unauthorized")
    # A malformed body with a wrong key is 401 too (key before body).
    status, payload = await harness.admin("POST", f"{API}/projects", data=b"{not json", key="wrong")
    assert_error(status, payload, 401)
    # Nothing was changed by the rejected calls.
    status, body = await harness.admin("GET", f"{API}/projects")
    assert status == 200
    assert [p["name"] for p in body["projects"]] == ["default"]
    assert body["projects"][0]["model"] == "balanced"
    assert [a["account"] for a in body["projects"][0]["accounts"]] == ["default"]


async def test_project_then_body_checks_in_order(harness: Harness) -> None:
    # Unknown project with the right key: 404, even when the body is malformed or invalid.
    for method, path, kwargs in [
        ("GET", f"{API}/projects/nope", {}),
        ("PATCH", f"{API}/projects/nope", {"json": {"model": "x"}}),
        ("PATCH", f"{API}/projects/nope", {"data": b"{not json"}),
        ("PATCH", f"{API}/projects/nope", {"json": {"bogus": 1}}),
        ("GET", f"{API}/projects/nope/accounts", {}),
        ("POST", f"{API}/projects/nope/accounts", {"data": b"["}),
        ("GET", f"{API}/projects/nope/accounts/telegram/default", {}),
        ("DELETE", f"{API}/projects/nope/accounts/telegram/default", {}),
    ]:
        status, body = await harness.admin(method, path, **kwargs)
        assert_error(status, body, 404)

    # Malformed JSON: 400.
    for method, path in [
        ("POST", f"{API}/projects"),
        ("PATCH", f"{API}/projects/default"),
        ("POST", f"{API}/projects/default/accounts"),
        ("PATCH", f"{API}/projects/default/accounts/telegram/default"),
    ]:
        for raw in (
            b"{not json",
            b'{"name": "acme"',
            b"\xff\xfe\x00",
            b"[" * 100_000,  # nesting deeper than the parser's recursion limit
            b'{"model": ' + b"7" * 5000 + b"}",  # an integer literal past Python's digit limit
        ):
            status, body = await harness.admin(method, path, data=raw)
            assert_error(status, body, 400)

    # Well-formed but invalid: 422 with the error shape, and the offending input is not echoed.
    invalid = [
        ("POST", f"{API}/projects", {"name": "Bad Name!"}),
        ("POST", f"{API}/projects", {"name": ""}),
        ("POST", f"{API}/projects", {"name": "ok", "surprise": True}),
        ("POST", f"{API}/projects", {"name": "ok", "core_base_url": "ftp://x"}),
        ("POST", f"{API}/projects", ["name", "ok"]),
        ("POST", f"{API}/projects", {}),
        ("PATCH", f"{API}/projects/default", {"unknown_field": "x"}),
        ("PATCH", f"{API}/projects/default", {"unlinked_policy": "everyone"}),
        ("PATCH", f"{API}/projects/default", {"model": ""}),
        # Longer than the columns: must be a 422, not a database error.
        ("PATCH", f"{API}/projects/default", {"model": "m" * 129}),
        ("POST", f"{API}/projects", {"name": "ok", "core_base_url": "https://" + "h" * 600}),
        ("POST", f"{API}/projects", {"name": "n" * 65}),
        (
            "POST",
            f"{API}/projects/default/accounts",
            {"channel": "carrier-pigeon", "account": "x", "token": "s3cr3t-in-body"},
        ),
        (
            "POST",
            f"{API}/projects/default/accounts",
            {"channel": "telegram", "account": "Not Valid", "token": "s3cr3t-in-body"},
        ),
        ("POST", f"{API}/projects/default/accounts", {"channel": "telegram", "account": "x"}),
        (
            "POST",
            f"{API}/projects/default/accounts",
            {"channel": "telegram", "account": "x", "token": "s3cr3t-in-body", "extra": 1},
        ),
        (
            "POST",
            f"{API}/projects/default/accounts",
            {
                "channel": "telegram",
                "account": "x",
                "token": "s3cr3t-in-body",
                "webhook_secret": "has spaces and !",
            },
        ),
        ("PATCH", f"{API}/projects/default/accounts/telegram/default", {"enabled": "maybe"}),
        ("PATCH", f"{API}/projects/default/accounts/telegram/default", {"token": ""}),
    ]
    for method, path, payload in invalid:
        status, body = await harness.admin(method, path, json=payload)
        assert_error(status, body, 422, "invalid_body")
        assert "s3cr3t-in-body" not in json.dumps(body)
    # None of the invalid calls changed anything.
    status, body = await harness.admin("GET", f"{API}/projects")
    assert [p["name"] for p in body["projects"]] == ["default"]
    assert body["projects"][0]["model"] == "balanced"
    status, body = await harness.admin("GET", f"{API}/projects/default/accounts")
    assert [a["account"] for a in body["accounts"]] == ["default"]


async def test_projects_create_show_patch(harness: Harness) -> None:
    status, body = await harness.admin("GET", f"{API}/projects")
    assert status == 200
    assert set(body) == {"projects"}
    (default,) = body["projects"]
    assert default["name"] == "default"
    assert default["core_api_key_set"] is True
    assert default["model"] == "balanced"
    assert [(a["channel"], a["account"]) for a in default["accounts"]] == [("telegram", "default")]
    assert default["accounts"][0]["enabled"] is True

    status, created = await harness.admin(
        "POST", f"{API}/projects", json={"name": "acme", "model": "simple"}
    )
    assert status == 201
    assert created["name"] == "acme"
    assert created["model"] == "simple"
    assert created["core_api_key_set"] is False
    assert created["core_base_url"] is None
    assert created["accounts"] == []
    assert created["unlinked_policy"] == "channel_user"
    assert created["created_at"] and created["updated_at"]

    status, body = await harness.admin("POST", f"{API}/projects", json={"name": "acme"})
    assert_error(status, body, 409, "conflict")
    status, body = await harness.admin("POST", f"{API}/projects", json={"name": "default"})
    assert_error(status, body, 409)

    status, shown = await harness.admin("GET", f"{API}/projects/acme")
    assert status == 200
    assert shown == created

    status, patched = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"model": "complex"}
    )
    assert status == 200
    assert patched["model"] == "complex"
    assert patched["core_api_key_set"] is False
    status, patched = await harness.admin(
        "PATCH",
        f"{API}/projects/acme",
        json={"core_api_key": ACME_KEY, "core_base_url": "https://core.example.com/"},
    )
    assert status == 200
    assert patched["core_api_key_set"] is True
    assert patched["model"] == "complex"  # untouched fields keep their value
    assert patched["core_base_url"] == "https://core.example.com"
    # An empty PATCH changes nothing.
    status, same = await harness.admin("PATCH", f"{API}/projects/acme", json={})
    assert status == 200
    assert (same["model"], same["core_api_key_set"]) == ("complex", True)

    status, listed = await harness.admin("GET", f"{API}/projects")
    assert [p["name"] for p in listed["projects"]] == ["acme", "default"]
    for response in (created, shown, patched, same, listed):
        dumped = json.dumps(response)
        assert ACME_KEY not in dumped
        assert CORE_KEY not in dumped
        assert "core_api_key" not in [k for p in listed["projects"] for k in p]


async def test_accounts_lifecycle(harness: Harness) -> None:
    token = "333333:SECRET-lifecycle-token-abcdefghijklmnop"
    secret = "lifecycle-secret"
    seen: list[Any] = []

    async def admin(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body = await harness.admin(method, path, **kwargs)
        seen.append(body)
        return status, body

    status, _ = await admin("POST", f"{API}/projects", json={"name": "acme"})
    assert status == 201
    status, added = await admin(
        "POST",
        f"{API}/projects/acme/accounts",
        json=telegram_account("acme-bot", token, harness, webhook_secret=secret),
    )
    assert status == 201, added
    assert added["project"] == "acme"
    assert (added["channel"], added["account"]) == ("telegram", "acme-bot")
    assert added["enabled"] is True
    assert added["secrets_set"] == ["token", "webhook_secret"]
    assert added["webhook_path"] == "/webhooks/telegram/acme-bot"
    assert added["config"] == {"api_base_url": harness.telegram_url}

    status, listed = await admin("GET", f"{API}/projects/acme/accounts")
    assert status == 200
    assert set(listed) == {"accounts"}
    assert listed["accounts"] == [added]
    status, got = await admin("GET", f"{API}/projects/acme/accounts/telegram/acme-bot")
    assert (status, got) == (200, added)
    # The account belongs to acme only.
    status, body = await admin("GET", f"{API}/projects/default/accounts/telegram/acme-bot")
    assert_error(status, body, 404)

    # Channel + account are unique across projects (the webhook URL names only the account).
    for project, account in (("acme", "acme-bot"), ("default", "acme-bot"), ("acme", "default")):
        status, body = await admin(
            "POST",
            f"{API}/projects/{project}/accounts",
            json=telegram_account(account, "444444:other-token", harness),
        )
        assert_error(status, body, 409, "conflict")

    # Works before disabling ...
    resp = await harness.post_update(updates.message("before"), secret=secret, account="acme-bot")
    assert resp.status == 200
    status, disabled = await admin(
        "PATCH", f"{API}/projects/acme/accounts/telegram/acme-bot", json={"enabled": False}
    )
    assert status == 200
    assert disabled["enabled"] is False
    assert disabled["secrets_set"] == ["token", "webhook_secret"]
    # ... answers 404 while disabled ...
    resp = await harness.post_update(
        updates.message("while off"), secret=secret, account="acme-bot"
    )
    assert resp.status == 404
    # ... and works again once re-enabled.
    status, enabled = await admin(
        "PATCH", f"{API}/projects/acme/accounts/telegram/acme-bot", json={"enabled": True}
    )
    assert (status, enabled["enabled"]) == (200, True)
    resp = await harness.post_update(updates.message("back on"), secret=secret, account="acme-bot")
    assert resp.status == 200

    # Rotating the webhook secret through PATCH takes effect at once.
    status, _ = await admin(
        "PATCH",
        f"{API}/projects/acme/accounts/telegram/acme-bot",
        json={"webhook_secret": "rotated-secret-0123"},
    )
    assert status == 200
    resp = await harness.post_update(updates.message("old"), secret=secret, account="acme-bot")
    assert resp.status in (401, 403)
    resp = await harness.post_update(
        updates.message("new"), secret="rotated-secret-0123", account="acme-bot"
    )
    assert resp.status == 200

    status, body = await admin("DELETE", f"{API}/projects/acme/accounts/telegram/acme-bot")
    assert (status, body) == (204, None)
    status, body = await admin("GET", f"{API}/projects/acme/accounts/telegram/acme-bot")
    assert_error(status, body, 404)
    status, body = await admin("DELETE", f"{API}/projects/acme/accounts/telegram/acme-bot")
    assert_error(status, body, 404)
    status, listed = await admin("GET", f"{API}/projects/acme/accounts")
    assert (status, listed) == (200, {"accounts": []})
    resp = await harness.post_update(
        updates.message("gone"), secret="rotated-secret-0123", account="acme-bot"
    )
    assert resp.status == 404
    # Once removed, the id is free again.
    status, _ = await admin(
        "POST",
        f"{API}/projects/default/accounts",
        json=telegram_account("acme-bot", token, harness),
    )
    assert status == 201

    everything = json.dumps(seen)
    for plain in (token, secret, "rotated-secret-0123", BOT_TOKEN, CORE_KEY):
        assert plain not in everything


async def test_secrets_are_encrypted_at_rest(harness: Harness) -> None:
    token = "555555:AT-REST-token-abcdefghijklmnopqrstuvw"
    secret = "at-rest-webhook-secret"
    status, _ = await harness.admin(
        "POST", f"{API}/projects", json={"name": "acme", "core_api_key": ACME_KEY}
    )
    assert status == 201
    status, _ = await harness.admin(
        "POST",
        f"{API}/projects/acme/accounts",
        json=telegram_account("acme-bot", token, harness, webhook_secret=secret),
    )
    assert status == 201
    status, _ = await harness.admin(
        "PATCH", f"{API}/projects/acme/accounts/telegram/acme-bot", json={"enabled": False}
    )
    assert status == 200

    assert harness.runtime is not None
    dumped: list[str] = []
    async with harness.runtime.db.session() as session:
        for table in ("projects", "channel_accounts", "audit_log"):
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            assert rows, table
            dumped.extend(repr(tuple(row)) for row in rows)
    blob = "\n".join(dumped)
    assert "acme-bot" in blob and "acme" in blob  # the rows really were read
    for plain in (BOT_TOKEN, CORE_KEY, token, ACME_KEY, secret, "tg-webhook-secret_42"):
        assert plain not in blob, plain
    # The token halves are not stored in the clear either.
    assert token.split(":")[1] not in blob
    assert BOT_TOKEN.split(":")[1] not in blob

    # The encrypted values still work: the default bot talks to Telegram with its token and the
    # default project's key reaches the core.
    resp = await harness.post_update(updates.message("still works"))
    assert resp.status == 200
    sends = await harness.telegram.wait_for("sendMessage", 1)
    assert sends[0].token == BOT_TOKEN
    assert harness.core.requests[0]["headers"]["authorization"] == f"Bearer {CORE_KEY}"


OPENAPI_JSON = (
    "import json; from gateway.web.admin import openapi_document; "
    "print(json.dumps(openapi_document()))"
)


def test_the_openapi_document_is_the_same_without_docstrings() -> None:
    """The image runs with PYTHONOPTIMIZE=2, which drops docstrings: no description in the
    document may come from one (pydantic takes a model's docstring as its description)."""
    documents = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", OPENAPI_JSON],
                env={**os.environ, "PYTHONOPTIMIZE": level},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for level in ("0", "2")
    ]
    assert documents[0] == documents[1]
    described = documents[1]["components"]["schemas"]["AccountCreate"]["description"]
    assert described == "A channel account; the fields depend on `channel`."


async def test_openapi_document(harness: Harness) -> None:
    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/api/v1/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    schemas = doc["components"]["schemas"]
    assert {"ProjectOut", "AccountOut", "ErrorOut"} <= set(schemas)

    expected: dict[str, set[str]] = {}
    for r in ROUTES:
        expected.setdefault(r.path, set()).add(r.method.lower())
    assert {"/api/v1/admin/projects", "/api/v1/admin/projects/{project}"} <= set(expected)
    for path, methods in expected.items():
        assert path in doc["paths"], path
        assert methods <= set(doc["paths"][path]), (path, methods)
        for method in methods:
            op = doc["paths"][path][method]
            assert "401" in op["responses"]
            assert op["security"] == [{"adminKey": []}]
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}
    assert doc["paths"]["/api/v1/admin/projects"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/ProjectCreate"}
    assert set(doc["paths"]["/api/v1/admin/projects"]["post"]["responses"]) >= {
        "201",
        "400",
        "422",
    }
    scheme = doc["components"]["securitySchemes"]["adminKey"]
    assert {k: scheme[k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Admin-Key",
    }

    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert len(refs) > 10
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(target, dict) and part in target, f"dangling $ref {ref}"
            target = target[part]
        assert isinstance(target, dict) and target, ref

    # The described error shape is what the API answers.
    error_schema = schemas[schemas["ErrorOut"]["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert {"code", "message"} <= set(error_schema["required"])
    status, body = await harness.admin("GET", f"{API}/projects", key=None)
    assert status == 401 and set(body["error"]) <= set(error_schema["properties"])
    # A ProjectOut from the API carries exactly the documented properties.
    status, body = await harness.admin("GET", f"{API}/projects/default")
    assert set(body) == set(schemas["ProjectOut"]["properties"])
    assert set(body["accounts"][0]) == set(schemas["AccountOut"]["properties"])


async def test_second_project_account_works_end_to_end(harness: Harness) -> None:
    status, created = await harness.admin(
        "POST", f"{API}/projects", json={"name": "acme", "core_api_key": ACME_KEY}
    )
    assert status == 201 and created["core_api_key_set"] is True
    status, added = await harness.admin(
        "POST",
        f"{API}/projects/acme/accounts",
        json=telegram_account("acme-bot", ACME_TOKEN, harness, webhook_secret="acme-secret-0123"),
    )
    assert status == 201, added

    # The default secret does not open acme's webhook.
    resp = await harness.post_update(updates.message("wrong secret"), account="acme-bot")
    assert resp.status in (401, 403)

    update = updates.message("Hello acme")
    resp = await harness.post_update(update, secret="acme-secret-0123", account="acme-bot")
    assert resp.status == 200

    sends = await harness.telegram.wait_for("sendMessage", 1)
    assert [c.params["text"] for c in sends] == ["Echo: Hello acme"]
    assert sends[0].token == ACME_TOKEN
    assert sends[0].params["chat_id"] == updates.USER["id"]

    assert len(harness.core.requests) == 1
    call = harness.core.requests[0]
    assert call["headers"]["authorization"] == f"Bearer {ACME_KEY}"
    assert call["headers"]["x-idempotency-key"] == (
        f"gw:acme:telegram:acme-bot:{update['update_id']}"
    )
    assert call["body"]["metadata"]["channel_account"] == "acme-bot"
    turns = await eventually(harness.turns)
    assert turns[0].account == "acme-bot"

    # A key change through PATCH is used for the next turn.
    status, _ = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"core_api_key": "acme-key-2"}
    )
    assert status == 200
    await harness.post_update(
        updates.message("again"), secret="acme-secret-0123", account="acme-bot"
    )
    await harness.telegram.wait_for("sendMessage", 2)
    assert harness.core.requests[1]["headers"]["authorization"] == "Bearer acme-key-2"
    # The default project is untouched and still uses its own key and bot.
    await harness.post_update(updates.message("default here"))
    sends = await harness.telegram.wait_for("sendMessage", 3)
    assert sends[2].token == BOT_TOKEN
    assert harness.core.requests[2]["headers"]["authorization"] == f"Bearer {CORE_KEY}"


async def test_operator_changes_survive_a_restart(harness: Harness) -> None:
    """The environment re-applies only what it sets: a disabled default bot stays disabled."""
    status, _ = await harness.admin("PATCH", f"{API}/projects/default", json={"model": "complex"})
    assert status == 200
    status, body = await harness.admin(
        "PATCH", f"{API}/projects/default/accounts/telegram/default", json={"enabled": False}
    )
    assert (status, body["enabled"]) == (200, False)

    await harness.stop_gateway()
    await harness.start()

    status, project = await harness.admin("GET", f"{API}/projects/default")
    assert status == 200
    assert project["model"] == "complex"
    assert project["core_api_key_set"] is True
    assert [(a["account"], a["enabled"]) for a in project["accounts"]] == [("default", False)]
    resp = await harness.post_update(updates.message("still off"))
    assert resp.status == 404

    status, _ = await harness.admin(
        "PATCH", f"{API}/projects/default/accounts/telegram/default", json={"enabled": True}
    )
    assert status == 200
    resp = await harness.post_update(updates.message("on again"))
    assert resp.status == 200
    await harness.telegram.wait_for("sendMessage", 1)
    assert harness.core.requests[0]["body"]["model"] == "complex"


async def test_concurrent_duplicates_are_conflicts_not_errors(harness: Harness) -> None:
    """Two operators creating the same thing at once: one 201, the others 409, never a 500."""
    for i in range(3):
        results = await asyncio.gather(
            *[harness.admin("POST", f"{API}/projects", json={"name": f"race{i}"}) for _ in range(6)]
        )
        assert sorted(status for status, _ in results) == [201] + [409] * 5, results
        for status, body in results:
            if status == 409:
                assert_error(status, body, 409, "conflict")
        results = await asyncio.gather(
            *[
                harness.admin(
                    "POST",
                    f"{API}/projects/race{i}/accounts",
                    json=telegram_account(f"race-bot{i}", f"{i}:race-token", harness),
                )
                for _ in range(6)
            ]
        )
        assert sorted(status for status, _ in results) == [201] + [409] * 5, results
    status, body = await harness.admin("GET", f"{API}/projects")
    assert [p["name"] for p in body["projects"]] == ["default", "race0", "race1", "race2"]
    assert all(len(p["accounts"]) == 1 for p in body["projects"])
