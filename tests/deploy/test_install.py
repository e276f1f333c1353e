"""The installs the deployment files run, for real, in clean virtual environments: the Dockerfile's
builder stage (the lock with hashes, then the gateway alone) and the buildpack's
`pip install -r requirements.txt`; then what the image and the Procfile run first."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.auxil.deployment import ROOT, dockerfile, own_environment
from tests.auxil.harness import AS_THE_IMAGE_RUNS

pytestmark = pytest.mark.install  # minutes (PyPI): `make test-install`, CI

VENV_IN_IMAGE = "/opt/gateway"


def _run(
    command: list[str] | str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def lock_text() -> str:
    return (ROOT / "requirements.lock").read_text()


def _environment(tmp_path: Path) -> dict[str, str]:
    """No gateway settings, no virtualenv of ours: `python` is a plain interpreter."""
    env = own_environment()
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    return env


def _copy(source: str, target: Path) -> None:
    origin = ROOT / source
    if origin.is_dir():
        shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)


def _migrate_twice(gateway: str, cwd: Path, env: dict[str, str]) -> None:
    first = _run([gateway, "migrate"], cwd, env)
    assert "schema empty ->" in first.stdout
    again = _run([gateway, "migrate"], cwd, env)
    assert "schema already current" in again.stdout


def test_the_dockerfile_builder_stage_installs_a_gateway_that_migrates(tmp_path: Path) -> None:
    venv, workdir = tmp_path / "opt-gateway", tmp_path / "src"
    env = _environment(tmp_path)
    workdir.mkdir()
    builder = [i for i in dockerfile() if i.stage == 1]
    assert any("--require-hashes -r requirements.lock" in i.value for i in builder)
    for step in builder:
        if step.keyword == "COPY":
            *sources, target = step.exec_form()
            for source in sources:
                where = workdir / source if target.endswith("/") else workdir / target
                _copy(source, where)
        elif step.keyword == "RUN":
            _run(step.value.replace(VENV_IN_IMAGE, str(venv)), workdir, env)

    entrypoint = next(i for i in dockerfile() if i.keyword == "ENTRYPOINT").exec_form()
    gateway = str(venv / "bin" / entrypoint[0])
    # The image's processes run without docstrings, from bytecode the builder compiled that way.
    env.update(AS_THE_IMAGE_RUNS)  # the final stage's ENV (tests/deploy/test_dockerfile.py)
    for module in ("gateway/runtime", "telegram/_bot", "sqlalchemy/orm/session"):
        package, name = module.rsplit("/", 1)
        compiled = next(venv.glob(f"lib/python3*/site-packages/{package}/__pycache__"))
        assert list(compiled.glob(f"{name}.cpython-*.opt-2.pyc")), module
    version = _run([gateway, "--version"], tmp_path, {**env, "GATEWAY_COMMIT": "abc1234"})
    assert version.stdout.strip() == "gateway 0.1.0 (commit abc1234)"
    _migrate_twice(gateway, tmp_path, env)
    # Only the lock's packages and the gateway: nothing resolved on the side.
    installed = _run([str(venv / "bin" / "python"), "-m", "pip", "freeze"], tmp_path, env)
    locked = {canonicalize_name(n) for n in re.findall(r"^([\w.-]+)==", lock_text(), re.M)}
    for line in installed.stdout.splitlines():
        name = canonicalize_name(re.split(r"==| @ ", line)[0])
        assert name == "channel-gateway" or name in locked, line


def test_the_buildpack_install_puts_gateway_on_path_for_the_procfile(tmp_path: Path) -> None:
    venv, app = tmp_path / "venv", tmp_path / "app"
    env = _environment(tmp_path)
    for source in ("requirements.txt", "pyproject.toml", "README.md", "Procfile"):
        _copy(source, app / source)
    for package in ("gateway", "channels", "identity", "approvals"):
        _copy(package, app / package)
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    _run([str(venv / "bin" / "pip"), "install", "-q", "-r", "requirements.txt"], app, env)
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    assert shutil.which("gateway", path=env["PATH"]) == str(venv / "bin" / "gateway")
    release = next(
        line.split(":", 1)[1]
        for line in (app / "Procfile").read_text().splitlines()
        if line.startswith("release:")
    )
    assert release.split() == ["gateway", "migrate"]
    _migrate_twice("gateway", app, env)
    assert os.path.exists(tmp_path / "gateway.db")
