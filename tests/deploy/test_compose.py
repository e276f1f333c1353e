"""compose.yaml: PostgreSQL, a one-shot migrate that web and worker wait for, the mock core behind
a profile; real commands, real settings, ports that agree, and the worker's healthcheck run for
real against the worker it starts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.auxil.deployment import (
    DEFAULT_PORT,
    DEFAULTS,
    ROOT,
    gateway_command,
    gateway_variables,
    health_routes,
    image_healthcheck,
    listening_on_all_interfaces,
    yaml_documents,
)
from tests.auxil.harness import free_port
from tests.auxil.process import GatewayProcess, gateway_env

(COMPOSE,) = yaml_documents(ROOT / "compose.yaml")
SERVICES: dict[str, Any] = COMPOSE["services"]
GATEWAYS = ("migrate", "web", "worker", "mock-core")
WORKER_PORT = "9100"


def test_the_services_start_in_order() -> None:
    assert set(SERVICES) == {"postgres", *GATEWAYS}
    postgres = SERVICES["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    assert SERVICES["mock-core"]["profiles"] == ["mock"]
    assert "profiles" not in SERVICES["web"] and "profiles" not in SERVICES["worker"]


def test_every_gateway_service_runs_a_real_command_from_the_image() -> None:
    commands = {}
    for name in GATEWAYS:
        service = SERVICES[name]
        assert service["build"]["context"] == "."
        assert (ROOT / service["build"]["context"] / "Dockerfile").exists()
        commands[name] = gateway_command(service["command"])
    assert commands["migrate"][0] == ["migrate"]
    assert commands["web"][0] == ["serve"]
    worker_path, worker = commands["worker"]
    assert worker_path == ["worker"] and worker["metrics_host"] == "0.0.0.0"
    mock_path, mock = commands["mock-core"]
    assert mock_path == ["mock-core"] and mock["host"] == "0.0.0.0"


def test_settings_come_from_gateway_env_and_name_real_variables() -> None:
    known = gateway_variables()
    for name in ("migrate", "web", "worker"):
        service = SERVICES[name]
        assert service["env_file"] == "gateway.env"
        assert set(service["environment"]) <= known, set(service["environment"]) - known
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
    assert set(SERVICES["mock-core"]["environment"]) <= known
    assert set(SERVICES["postgres"]["environment"]) == {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
    }
    # gateway.env is the operator's copy of the example; it stays out of git and the image.
    example = (ROOT / "deploy" / "gateway.env.example").read_text()
    for line in example.splitlines():
        name = line.lstrip("# ").split("=", 1)[0]
        if "=" in line and name.isupper():
            assert name in known, name
    assert "gateway.env" in (ROOT / ".gitignore").read_text().split()
    assert "gateway.env" in (ROOT / ".dockerignore").read_text().split()


def test_ports_agree_with_the_settings_and_the_commands() -> None:
    assert SERVICES["web"]["ports"] == [f"{DEFAULT_PORT}:{DEFAULT_PORT}"]
    assert "ports" not in SERVICES["worker"] and "ports" not in SERVICES["postgres"]
    _, worker = gateway_command(SERVICES["worker"]["command"])
    assert str(worker["metrics_port"]) == WORKER_PORT
    assert f"127.0.0.1:{WORKER_PORT}/health/live" in _worker_check()
    assert "/health/live" in health_routes()
    _, mock = gateway_command(SERVICES["mock-core"]["command"])
    assert SERVICES["mock-core"]["environment"]["PORT"] == str(mock["port"])
    assert str(mock["port"]) in DEFAULTS["core_base_url"].default  # the gateway's default core URL


def _worker_check() -> str:
    test = SERVICES["worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return str(test[3])


def _run_worker_check(port: int) -> int:
    code = _worker_check().replace(f":{WORKER_PORT}/", f":{port}/")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode


async def test_the_worker_healthcheck_passes_on_the_worker_compose_starts(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    args = [str(port) if a == WORKER_PORT else a for a in SERVICES["worker"]["command"]]
    env = gateway_env(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9")
    worker = GatewayProcess(args, env, tmp_path / "worker.log")
    try:
        await asyncio.to_thread(worker.wait_ready, port)
        assert listening_on_all_interfaces(port), "other containers must reach it"
        assert await asyncio.to_thread(_run_worker_check, port) == 0
        assert worker.terminate() == 0
        assert await asyncio.to_thread(_run_worker_check, port) != 0
    finally:
        worker.close()


async def test_the_mock_core_listens_everywhere_and_passes_the_image_healthcheck(
    tmp_path: Path,
) -> None:
    service = SERVICES["mock-core"]
    declared, port = service["environment"]["PORT"], free_port()
    args = [str(port) if a == declared else a for a in service["command"]]
    env = gateway_env("sqlite+aiosqlite://", "http://127.0.0.1:9", "http://127.0.0.1:9")
    core = GatewayProcess(args, env, tmp_path / "mock-core.log")
    try:
        await asyncio.to_thread(core.wait_ready, port)
        assert listening_on_all_interfaces(port), "web and worker reach it by service name"
        assert await asyncio.to_thread(image_healthcheck, port) == 0
    finally:
        core.close()
