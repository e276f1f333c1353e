"""The core's `usage.threshold` signals over HTTP to the running gateway: accepted on the
project's unguessable path, counted in /metrics, logged, kept in the audit log and shown by
`gateway verify` and `gateway projects show`; a wrong path is a 404 that writes nothing, another
core project's signal a 403, a malformed body a 400."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select, update

from gateway.storage.db.models import AuditEntry, Project
from gateway.storage.usage import ACTION
from tests.auxil.cli import as_json, cli_env, gateway
from tests.auxil.harness import PUBLIC_URL, SECRET_KEY, Harness

CORE_PROJECT = "proj_core_123"


class _Tap(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            self.events.append(dict(record.msg))


async def _token(gw: Harness, project: str = "default") -> str:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session, session.begin():
        await session.execute(
            update(Project).where(Project.name == project).values(genaug_project_id=CORE_PROJECT)
        )
        token = await session.scalar(
            select(Project.usage_path_token).where(Project.name == project)
        )
    assert token and len(token) >= 32
    return token


async def _post(gw: Harness, path: str, body: Any) -> tuple[int, Any]:
    assert gw.http is not None
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with gw.http.post(
        gw.base_url + path, data=data, headers={"Content-Type": "application/json"}
    ) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def _signals(gw: Harness) -> int:
    return await gw.count(AuditEntry, AuditEntry.action == ACTION)


async def _metric(gw: Harness, threshold: str) -> float:
    assert gw.http is not None
    async with gw.http.get(gw.base_url + "/metrics") as resp:
        text = await resp.text()
    line = f'gateway_core_usage_signals_total{{threshold="{threshold}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "event": "usage.threshold",
        "project_id": CORE_PROJECT,
        "threshold": 80,
        "used": 800,
        "limit": 1000,
        "date": "2026-12-03",
        **fields,
    }


async def _verify_row(gw: Harness) -> tuple[int, str, str]:
    env = cli_env(
        gw.db_url, gw.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY, GATEWAY_PUBLIC_URL=PUBLIC_URL,
        GENAUG_API_BASE_URL=gw.core_url,
    )  # fmt: skip
    result = await gateway("verify", "--json", "--gateway-url", gw.base_url, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    return result.returncode, checks["core usage"]["status"], checks["core usage"]["reason"]


async def test_signal_on_the_projects_path_is_counted_logged_and_shown(harness: Harness) -> None:
    gw = harness
    token = await _token(gw)
    path = f"/webhooks/core/default/usage/{token}"
    _, status, reason = await _verify_row(gw)
    assert status == "PASS", reason

    tap = _Tap()
    logger = logging.getLogger("gateway.usage")
    logger.addHandler(tap)
    try:
        status_code, _ = await _post(gw, path, _event())
    finally:
        logger.removeHandler(tap)
    assert status_code == 204
    assert await _signals(gw) == 1
    assert await _metric(gw, "80") == 1.0
    logged = [e for e in tap.events if e.get("event") == "core.usage_threshold"]
    assert len(logged) == 1
    assert {k: logged[0][k] for k in ("project", "threshold", "used", "limit")} == {
        "project": "default", "threshold": 80, "used": 800, "limit": 1000,
    }  # fmt: skip

    _, status, reason = await _verify_row(gw)
    assert status == "WARN", reason
    assert "80% of the daily limit" in reason and "800 of 1000" in reason

    env = cli_env(gw.db_url, gw.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    shown = as_json(await gateway("projects", "show", "default", "--json", env=env))
    assert shown["usage_webhook"] == path  # no GATEWAY_PUBLIC_URL in this environment
    assert shown["core_usage"].startswith("80% of the daily limit")
    env = cli_env(
        gw.db_url, gw.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY, GATEWAY_PUBLIC_URL=PUBLIC_URL
    )
    shown = as_json(await gateway("projects", "show", "default", "--json", env=env))
    assert shown["usage_webhook"] == PUBLIC_URL + path
    status_code, out = await gw.admin("GET", "/api/v1/admin/projects/default")
    assert status_code == 200 and out["usage_webhook"] == PUBLIC_URL + path
    assert out["core_usage"] == shown["core_usage"]

    # `type` names the event as well; 100 % turns verify's row to FAIL (users are refused now).
    body = _event(threshold=100, used=1000)
    body["type"] = body.pop("event")
    assert (await _post(gw, path, body))[0] == 204
    assert await _metric(gw, "100") == 1.0
    code, status, reason = await _verify_row(gw)
    assert (code, status) == (1, "FAIL"), reason
    assert "100% of the daily limit" in reason


async def test_wrong_path_wrong_project_and_bad_bodies_write_nothing(harness: Harness) -> None:
    gw = harness
    token = await _token(gw)
    other_last = "y" if token.endswith("x") else "x"  # a random token may end in "x" itself
    wrong = [
        f"/webhooks/core/default/usage/{token[:-1]}{other_last}",
        f"/webhooks/core/nosuchproject/usage/{token}",
        "/webhooks/core/default/usage/short",
        "/webhooks/core/default/usage/%00" + token,
        "/webhooks/core/DEFAULT%2F/usage/" + token,
    ]
    for path in wrong:
        status, body = await _post(gw, path, _event())
        assert status == 404, (path, body)
        assert body["error"]["code"] == "not_found"
    path = f"/webhooks/core/default/usage/{token}"
    status, body = await _post(gw, path, _event(project_id="proj_someone_else"))
    assert status == 403 and body["error"]["code"] == "wrong_project"
    malformed: list[Any] = [
        b"not json",
        b"\xff\xfe",
        b"[" * 50_000,
        [],
        {},
        _event(event="usage.other"),
        _event(threshold=0),
        _event(threshold="eighty"),
        _event(threshold=True),
        _event(threshold="80"),
        _event(used=-1),
        _event(date="yesterday"),
        {k: v for k, v in _event().items() if k != "project_id"},
    ]
    for bad in malformed:
        status, body = await _post(gw, path, bad)
        assert status == 400, (bad if not isinstance(bad, bytes) else bad[:20], body)
        assert body["error"]["code"] == "malformed"
    assert await _signals(gw) == 0
    assert await _metric(gw, "80") == 0.0


async def test_genaug_project_id_checks_the_default_project_and_new_projects_get_a_token(
    harness: Harness,
) -> None:
    """GENAUG_PROJECT_ID is the default project's core project id; a project made through the
    admin API has a path of its own, and one project's token does not open another's path."""
    gw = harness
    await gw.stop_gateway()
    await gw.start(genaug_project_id="proj_from_env")
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        token = await session.scalar(
            select(Project.usage_path_token).where(Project.name == "default")
        )
    path = f"/webhooks/core/default/usage/{token}"
    assert (await _post(gw, path, _event()))[0] == 403
    assert (await _post(gw, path, _event(project_id="proj_from_env")))[0] == 204

    status, made = await gw.admin("POST", "/api/v1/admin/projects", json={"name": "acme"})
    assert status == 201, made
    acme_path = made["usage_webhook"].removeprefix(PUBLIC_URL)
    acme_token = acme_path.rsplit("/", 1)[-1]
    assert acme_path == f"/webhooks/core/acme/usage/{acme_token}" and acme_token != token
    assert made["core_usage"] is None
    # No core project id set for acme: the path is the only check.
    assert (await _post(gw, acme_path, _event(project_id="anything")))[0] == 204
    assert (await _post(gw, f"/webhooks/core/acme/usage/{token}", _event()))[0] == 404
    assert await _signals(gw) == 2
