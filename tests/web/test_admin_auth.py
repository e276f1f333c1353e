"""The global admin key over real HTTP: empty is unset, weak keys are never accepted, failures
are logged without key material and throttled per client address; the OpenAPI document says so."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.config import Settings
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.logs import configure_logging
from gateway.web.admin import openapi_document
from gateway.web.admin_auth import admin_key_problem
from tests.auxil.harness import ADMIN_KEY, Harness

API = "/api/v1/admin"
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def started(db_url: str) -> AsyncIterator[list[Harness]]:
    """Start gateways with settings of the test's choosing (`started.append(await ...)`)."""
    gateways: list[Harness] = []
    yield gateways
    for h in gateways:
        await h.stop()


async def _gateway(db_url: str, **overrides: object) -> Harness:
    return await Harness(db_url, FakeTelegram(), MockCore()).start(**overrides)


async def test_an_empty_admin_key_opens_nothing(db_url: str, started: list[Harness]) -> None:
    h = await _gateway(db_url, admin_key="")
    started.append(h)
    for key in (None, "", " ", ADMIN_KEY):
        for method, path in (("GET", f"{API}/projects"), ("GET", f"{API}/projects/default")):
            status, body = await h.admin(method, path, key=key)
            assert status == 401, (key, status, body)
            assert body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("weak", ["change-me", "short-but-not-empty", "x" * 31])
async def test_a_weak_global_key_is_never_accepted(
    db_url: str, started: list[Harness], weak: str
) -> None:
    # `serve` refuses to start with it (tests/cli/test_keys_cmds.py); an app built any other
    # way does not accept it either.
    h = await _gateway(db_url, admin_key=weak)
    started.append(h)
    status, _ = await h.admin("GET", f"{API}/projects", key=weak)
    assert status == 401


def test_weak_and_placeholder_keys_are_named_in_one_line() -> None:
    assert admin_key_problem(Settings(admin_key=None)) is None
    assert admin_key_problem(Settings(admin_key="")) is None  # empty: unset
    assert admin_key_problem(Settings(admin_key=ADMIN_KEY)) is None
    short = admin_key_problem(Settings(admin_key="s3cret"))
    assert short is not None and "6 characters" in short and "32" in short
    assert "s3cret" not in short
    placeholder = admin_key_problem(Settings(admin_key="change-me"))
    assert placeholder is not None and "placeholder" in placeholder


def test_every_example_admin_key_is_refused() -> None:
    """The value an example env file (deploy/, docs/, README) shows must not work if copied."""
    found = []
    for path in [ROOT / "README.md", *(ROOT / "deploy").rglob("*"), *(ROOT / "docs").rglob("*")]:
        if not path.is_file() or path.suffix in (".json", ".png"):
            continue
        for value in re.findall(r"^\s*#?\s*GATEWAY_ADMIN_KEY=(\S+)", path.read_text(), re.M):
            if value.startswith("$"):
                continue
            found.append(value)
            assert admin_key_problem(Settings(admin_key=value)) is not None, (path, value)
    assert found  # deploy/gateway.env.example has one


async def test_failed_keys_are_logged_and_throttled_per_address(
    db_url: str, started: list[Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    h = await _gateway(db_url, admin_auth_failures_per_minute=10)
    started.append(h)
    wrong = "wrong-key-" + "q" * 30
    configure_logging("INFO", "json")
    try:
        for attempt in range(10):
            key = None if attempt == 0 else wrong
            status, body = await h.admin("GET", f"{API}/projects/default", key=key)
            assert status == 401, (attempt, body)
        logs = capsys.readouterr().err
        # From now on every request from this address waits, even one with the right key:
        # a throttled guesser learns nothing.
        for key in (wrong, ADMIN_KEY):
            assert h.http is not None
            async with h.http.get(
                f"{h.base_url}{API}/projects", headers={"X-Admin-Key": key}
            ) as resp:
                assert resp.status == 429
                retry_after = int(resp.headers["Retry-After"])
                assert 1 <= retry_after <= 60
                assert (await resp.json())["error"]["code"] == "too_many_requests"
        logs += capsys.readouterr().err
    finally:
        configure_logging("INFO", "console")
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    refused = [e for e in events if e.get("event") == "admin.unauthorized"]
    assert len(refused) == 10
    assert refused[0]["client"] == "127.0.0.1" and refused[0]["path"] == f"{API}/projects/default"
    assert refused[0]["header_present"] is False and refused[1]["header_present"] is True
    assert any(e.get("event") == "admin.throttled" for e in events)
    assert wrong not in logs and "qqqq" not in logs and ADMIN_KEY not in logs


def test_openapi_documents_403_429_masking_and_project_keys() -> None:
    document = openapi_document()
    scheme = document["components"]["securitySchemes"]["adminKey"]
    assert scheme["name"] == "X-Admin-Key"
    assert (
        "project API key" in scheme["description"]
        and "gateway keys create" in (scheme["description"])
    )
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
            assert "Retry-After" in op["responses"]["429"]["headers"]
    assert "?reveal=true" in scheme["description"]
