"""`gateway --version` as a real subprocess: the installed version, and the commit when known."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from tests.auxil.cli import cli_env, gateway, ok

VERSION = metadata.version("channel-gateway")
NO_DATABASE = "sqlite+aiosqlite:///does-not-exist.db"  # --version needs no configuration


async def test_version_prints_the_installed_version_and_the_commit() -> None:
    env = cli_env(NO_DATABASE, "http://127.0.0.1:9", GATEWAY_COMMIT="0a1b2c3")
    result = ok(await gateway("--version", env=env))
    assert result.stdout == f"gateway {VERSION} (commit 0a1b2c3)\n"
    # Eager: it wins over a command and its missing arguments.
    assert ok(await gateway("--version", "projects", "show", env=env)).stdout == result.stdout


async def test_version_without_a_commit_given_still_prints_the_version(tmp_path: Path) -> None:
    env = cli_env(NO_DATABASE, "http://127.0.0.1:9", GATEWAY_COMMIT=None)
    line = ok(await gateway("--version", env=env)).stdout.strip()
    assert line.startswith(f"gateway {VERSION}")  # plus the checkout's commit, when in one
    # No git on the PATH (a slim image): the version alone, no error.
    no_git = cli_env(NO_DATABASE, "http://127.0.0.1:9", GATEWAY_COMMIT=None, PATH=str(tmp_path))
    assert ok(await gateway("--version", env=no_git)).stdout == f"gateway {VERSION}\n"
