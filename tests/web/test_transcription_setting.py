"""The per-project `transcription` setting through the admin API: created, changed, reset to the
default, refused when it is not `auto` / `on` / `off`, described by the OpenAPI document, and
GATEWAY_TRANSCRIPTION for project `default`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from tests.auxil.harness import Harness

API = "/api/v1/admin"


async def _setting(harness: Harness, project: str) -> tuple[str, str]:
    """(the admin API's value, the turn's value) of `project`'s setting."""
    status, body = await harness.admin("GET", f"{API}/projects/{project}")
    assert status == 200, body
    assert harness.runtime is not None
    info = await harness.runtime.store.project_info(project)
    return body["transcription"], info.transcription


async def test_created_changed_and_reset(harness: Harness) -> None:
    assert await _setting(harness, "default") == ("auto", "auto")

    status, body = await harness.admin(
        "POST", f"{API}/projects", json={"name": "acme", "transcription": "off"}
    )
    assert status == 201 and body["transcription"] == "off", body
    assert await _setting(harness, "acme") == ("off", "off")

    status, body = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"transcription": "on"}
    )
    assert status == 200 and body["transcription"] == "on", body
    assert await _setting(harness, "acme") == ("on", "on")

    # null: back to the default
    status, body = await harness.admin(
        "PATCH", f"{API}/projects/acme", json={"transcription": None}
    )
    assert status == 200 and body["transcription"] == "auto", body

    for bad in ("sometimes", "", 1, True):
        status, body = await harness.admin(
            "PATCH", f"{API}/projects/acme", json={"transcription": bad}
        )
        assert status == 422, (bad, body)
        assert [d["loc"] for d in body["error"]["details"]] == [["transcription"]], body
    status, body = await harness.admin(
        "POST", f"{API}/projects", json={"name": "acme2", "transcription": "ON"}
    )
    assert status == 422, body
    assert await _setting(harness, "acme") == ("auto", "auto")


async def test_the_openapi_document_names_the_values(harness: Harness) -> None:
    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/api/v1/openapi.json") as resp:
        schemas = (await resp.json())["components"]["schemas"]
    for model in ("ProjectCreate", "ProjectPatch"):
        prop = schemas[model]["properties"]["transcription"]
        options = [option for option in prop["anyOf"] if option.get("type") != "null"]
        assert options == [{"enum": ["auto", "on", "off"], "type": "string"}], prop
    assert schemas["ProjectOut"]["properties"]["transcription"]["default"] == "auto"


@pytest_asyncio.fixture
async def gateway_off(db_url: str) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(transcription="off")
    try:
        yield h
    finally:
        await h.stop()


async def test_the_environment_sets_the_default_project(gateway_off: Harness) -> None:
    assert await _setting(gateway_off, "default") == ("off", "off")
