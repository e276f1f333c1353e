"""The per-project `core_concurrency` setting through the admin API: the default, set when a
project is created, changed, reset to the default with null, refused when it is not a whole number
from 1 to 100000, described by the OpenAPI document, and GATEWAY_CORE_CONCURRENCY as the default
of every project that sets none."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from tests.auxil.harness import Harness

API = "/api/v1/admin"


async def _setting(harness: Harness, project: str) -> tuple[int, int]:
    """(the admin API's value, the turn's value) of `project`'s setting."""
    status, body = await harness.admin("GET", f"{API}/projects/{project}")
    assert status == 200, body
    assert harness.runtime is not None
    info = await harness.runtime.store.project_info(project)
    return body["core_concurrency"], info.core_concurrency


async def test_created_changed_reset_and_refused(harness: Harness) -> None:
    assert await _setting(harness, "default") == (2000, 2000)

    status, body = await harness.admin(
        "POST", f"{API}/projects", json={"name": "acme", "core_concurrency": 8}
    )
    assert status == 201 and body["core_concurrency"] == 8, body
    assert await _setting(harness, "acme") == (8, 8)

    status, body = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"core_concurrency": 100000}
    )
    assert status == 200 and body["core_concurrency"] == 100000, body
    assert await _setting(harness, "acme") == (100000, 100000)

    # Another setting's patch leaves it alone.
    status, body = await harness.admin("PATCH", f"{API}/projects/acme", json={"feature": "acme"})
    assert status == 200 and body["core_concurrency"] == 100000, body

    # null: back to the default
    status, body = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"core_concurrency": None}
    )
    assert status == 200 and body["core_concurrency"] == 2000, body
    assert await _setting(harness, "acme") == (2000, 2000)

    # JSON Schema's integer: 4.0 is one, true and "4" are not
    status, body = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"core_concurrency": 4.0}
    )
    assert status == 200 and body["core_concurrency"] == 4, body
    status, body = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"core_concurrency": 1}
    )
    assert status == 200 and body["core_concurrency"] == 1, body
    for bad in (0, -1, 100001, "x", "4", "", 2.5, 0.0, True, False, [4], {"n": 4}):
        status, body = await harness.admin(
            "PATCH", f"{API}/projects/acme", json={"core_concurrency": bad}
        )
        assert status == 422, (bad, body)
        assert [d["loc"] for d in body["error"]["details"]] == [["core_concurrency"]], body
    for bad in (0, -1, "x"):
        status, body = await harness.admin(
            "POST", f"{API}/projects", json={"name": "acme2", "core_concurrency": bad}
        )
        assert status == 422, (bad, body)
    status, body = await harness.admin("GET", f"{API}/projects/acme2")
    assert status == 404, body
    assert await _setting(harness, "acme") == (1, 1)  # every refusal left it as it was


async def test_the_openapi_document_names_the_range(harness: Harness) -> None:
    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/api/v1/openapi.json") as resp:
        schemas = (await resp.json())["components"]["schemas"]
    for model in ("ProjectCreate", "ProjectPatch"):
        prop = schemas[model]["properties"]["core_concurrency"]
        options = [option for option in prop["anyOf"] if option.get("type") != "null"]
        assert options == [{"type": "integer", "minimum": 1, "maximum": 100000}], prop
    out = schemas["ProjectOut"]["properties"]["core_concurrency"]
    assert out["type"] == "integer" and out["default"] == 2000, out


@pytest_asyncio.fixture
async def tuned(db_url: str) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(core_concurrency=7)
    try:
        yield h
    finally:
        await h.stop()


async def test_the_environment_sets_the_default_of_every_project(tuned: Harness) -> None:
    assert await _setting(tuned, "default") == (7, 7)
    status, body = await tuned.admin("POST", f"{API}/projects", json={"name": "acme"})
    assert status == 201 and body["core_concurrency"] == 7, body
    status, body = await tuned.admin(
        "POST", f"{API}/projects", json={"name": "own", "core_concurrency": 3}
    )
    assert status == 201 and body["core_concurrency"] == 3, body
    assert await _setting(tuned, "own") == (3, 3)
