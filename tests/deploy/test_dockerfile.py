"""The Dockerfile (not built here: no registry): two stages, the lock installed with hashes, a
non-root user, `gateway serve` by default, a HEALTHCHECK that really probes a running gateway,
and a build context that holds what it copies."""

from __future__ import annotations

import asyncio
import fnmatch
from pathlib import Path

from tests.auxil.deployment import (
    ROOT,
    dockerfile,
    gateway_command,
    gateway_variables,
    image_healthcheck,
)
from tests.auxil.harness import AS_THE_IMAGE_RUNS, free_port
from tests.auxil.process import GatewayProcess, gateway_env

STEPS = dockerfile()
PYTHON_AND_PIP = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONOPTIMIZE"}


def _final(keyword: str) -> list[str]:
    found = [i for i in STEPS if i.keyword == keyword and i.stage == 2]
    assert len(found) == 1, f"one {keyword} in the final stage"
    return found[0].exec_form()


def test_two_stages_from_the_slim_python_the_lock_is_for() -> None:
    froms = [i.value for i in STEPS if i.keyword == "FROM"]
    assert froms == ["python:${PYTHON_VERSION}-slim AS builder", "python:${PYTHON_VERSION}-slim"]
    assert "PYTHON_VERSION=3.11" in [i.value for i in STEPS if i.keyword == "ARG"]
    runs = [i.value for i in STEPS if i.keyword == "RUN" and i.stage == 1]
    assert any("pip install --require-hashes -r requirements.lock" in r for r in runs)
    assert any("pip install --no-deps ." in r for r in runs)
    copied = [i.exec_form() for i in STEPS if i.keyword == "COPY" and i.stage == 2]
    assert copied == [["--from=builder", "/opt/gateway", "/opt/gateway"]], "only the venv"


def test_the_image_runs_gateway_serve_as_an_unprivileged_user() -> None:
    user = _final("USER")[0]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "numeric, so runAsNonRoot can verify it"
    assert _final("ENTRYPOINT") == ["gateway"]
    command = _final("CMD")
    assert command == ["serve"]
    gateway_command(command)
    assert _final("EXPOSE") == ["8080"]


def test_the_commit_is_a_build_argument_the_gateway_reads() -> None:
    assert 'GATEWAY_COMMIT=""' in [i.value for i in STEPS if i.keyword == "ARG" and i.stage == 2]
    env = " ".join(i.value for i in STEPS if i.keyword == "ENV" and i.stage == 2)
    assert "GATEWAY_COMMIT=${GATEWAY_COMMIT}" in env
    names = {pair.split("=")[0] for pair in env.split()}
    assert names <= gateway_variables() | PYTHON_AND_PIP, names - gateway_variables()


def test_the_tests_run_gateway_processes_with_the_images_python_settings() -> None:
    env = " ".join(i.value for i in STEPS if i.keyword == "ENV" and i.stage == 2).split()
    for name, value in AS_THE_IMAGE_RUNS.items():
        assert f"{name}={value}" in env


def test_what_it_copies_exists_and_the_context_keeps_it() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for step in STEPS:
        if step.keyword != "COPY" or step.value.startswith("--from"):
            continue
        for source in step.exec_form()[:-1]:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, p) for p in ignored), source
    for secret in (".venv", ".git", "gateway.env", "**/.gateway-secret.key", "**/*.db"):
        assert secret in ignored, secret


async def test_the_healthcheck_passes_on_a_serving_gateway_and_fails_without_one(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = gateway_env(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9", PORT=port)
    serving = GatewayProcess(_final("CMD"), env, tmp_path / "serve.log")
    try:
        await asyncio.to_thread(serving.wait_ready, port)
        assert await asyncio.to_thread(image_healthcheck, port) == 0
        assert serving.terminate() == 0
        assert await asyncio.to_thread(image_healthcheck, port) != 0
    finally:
        serving.close()
