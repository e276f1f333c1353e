"""Every start-up failure of `serve`, `worker` and `migrate`, run as the real process: one line on
stderr naming the cause and the fix, exit code 2, no traceback (unless GATEWAY_LOG_LEVEL=DEBUG);
`serve` announces itself only once it answers."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.auxil.cli import GATEWAY, ROOT, cli_env, failed, gateway
from tests.auxil.databases import sqlite_copy
from tests.auxil.harness import free_port

NO_TELEGRAM = "http://127.0.0.1:9"
COMMANDS = [("serve",), ("serve", "--no-worker"), ("worker",), ("migrate",)]


def _closed_port() -> int:
    """A port nobody listens on: from this worker's block (`free_port`), since one the kernel
    picks for port 0 can be taken meanwhile (once another test's HTTP server answered the
    gateway's PostgreSQL handshake there)."""
    return free_port()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    return sqlite_copy(_sqlite_template, tmp_path)


def _env(db_url: str, **overrides: str | None) -> dict[str, str]:
    return cli_env(db_url, NO_TELEGRAM, TELEGRAM_BOT_TOKEN=None, **overrides)


@pytest.mark.parametrize("command", COMMANDS)
async def test_database_unreachable(command: tuple[str, ...]) -> None:
    url = f"postgres://postgres:hunter2pw@127.0.0.1:{_closed_port()}/gateway"
    result = await gateway(*command, env=_env(url, PORT="1"))
    line = failed(result, "cannot connect to the database", "127.0.0.1", "check DATABASE_URL")
    assert "hunter2pw" not in result.stderr + result.stdout
    assert "serving" not in line
    assert result.returncode == 2


@pytest.mark.parametrize("command", [("serve",), ("worker",)])
async def test_schema_out_of_date(command: tuple[str, ...], sqlite_url: str) -> None:
    with sqlite3.connect(sqlite_url.split("///", 1)[1]) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0007'")
    result = await gateway(*command, env=_env(sqlite_url, PORT="1"))
    failed(result, "schema is at 0007", "gateway migrate")
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("command", "variable", "value", "named"),
    [
        *[(c, "PORT", "abc", "PORT: Input should be a valid integer") for c in COMMANDS],
        (("worker",), "GATEWAY_WORKER_CONCURRENCY", "many", "GATEWAY_WORKER_CONCURRENCY"),
        (("serve",), "GATEWAY_UNLINKED_POLICY", "everyone", "GATEWAY_UNLINKED_POLICY"),
    ],
)
async def test_malformed_variable(
    command: tuple[str, ...], variable: str, value: str, named: str, sqlite_url: str
) -> None:
    result = await gateway(*command, env=_env(sqlite_url, **{variable: value}))
    line = failed(result, "invalid configuration", named, "docs/operations.md")
    assert result.returncode == 2
    assert value not in line  # values are never echoed: the same path carries secrets


async def test_missing_secret_key_on_postgresql() -> None:
    url = f"postgres://postgres@127.0.0.1:{_closed_port()}/gateway"
    result = await gateway("serve", env=_env(url, GATEWAY_SECRET_KEY=None, PORT="1"))
    failed(result, "GATEWAY_SECRET_KEY is required", "gateway secrets generate-key")
    assert result.returncode == 2


@pytest.mark.parametrize("command", [("serve",), ("worker",)])
async def test_bad_secret_key(command: tuple[str, ...], sqlite_url: str) -> None:
    result = await gateway(*command, env=_env(sqlite_url, GATEWAY_SECRET_KEY="not-a-key", PORT="1"))
    line = failed(result, "GATEWAY_SECRET_KEY", "gateway secrets generate-key")
    assert "not-a-key" not in line
    assert result.returncode == 2


async def test_port_taken(sqlite_url: str, taken_port: int) -> None:
    env = _env(sqlite_url, PORT=str(taken_port), GATEWAY_HOST="127.0.0.1")
    result = await gateway("serve", env=env)
    failed(result, f"127.0.0.1:{taken_port}", "already in use", "PORT or --port")
    assert result.returncode == 2


async def test_worker_metrics_port_taken(sqlite_url: str, taken_port: int) -> None:
    env = _env(sqlite_url, GATEWAY_METRICS_PORT=str(taken_port))
    result = await gateway("worker", env=env)
    failed(result, f"127.0.0.1:{taken_port}", "already in use", "GATEWAY_METRICS_PORT")
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgres://postgres@127.0.0.1:5432/postgres?sslmode=require", "rejected SSL upgrade"),
        ("postgres://postgres@127.0.0.1:5432/postgres?keepalives=1", "'keepalives'"),
        ("mysql://root@127.0.0.1/gateway", "'mysql'"),
    ],
)
async def test_database_url_that_cannot_be_used(url: str, named: str) -> None:
    result = await gateway("migrate", env=_env(url))
    failed(result, named)
    assert result.returncode == 2


async def test_debug_shows_the_traceback() -> None:
    url = f"postgres://postgres@127.0.0.1:{_closed_port()}/gateway"
    result = await gateway("migrate", env=_env(url, GATEWAY_LOG_LEVEL="DEBUG"))
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConnectionRefusedError" in result.stderr  # the cause, chained
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot connect to the database")


async def test_serve_announces_itself_only_once_it_answers(sqlite_url: str) -> None:
    port = _closed_port()
    env = _env(sqlite_url, PORT=str(port), GATEWAY_HOST="127.0.0.1")
    process = await asyncio.create_subprocess_exec(
        GATEWAY, "serve", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        assert line.strip() == f"gateway serving on http://127.0.0.1:{port} (web + worker)"
        url = f"http://127.0.0.1:{port}/health/ready"
        async with aiohttp.ClientSession() as http, http.get(url) as response:  # at once
            assert response.status == 200
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
