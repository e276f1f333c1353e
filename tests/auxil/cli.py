"""Running the real `gateway` command in a subprocess: its environment, the run, and what a clean
success or failure looks like."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import text

from gateway.storage.db import Database
from tests.auxil.harness import AS_THE_IMAGE_RUNS, BOT_TOKEN, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(ROOT / ".venv" / "bin" / "gateway")
SECRET_KEY = "bkAxC9a2xPTMU9QZuXW0Jr80RnUEwj4OjTTTnwjPRnc="
ACME_TOKEN = "222222:ACME-cli-token-abcdefghijklmnopqrstuvwxyz"
ACME2_TOKEN = "333333:ACME2-cli-token-abcdefghijklmnopqrstuvw"
CORE_KEY = "cli-core-key-for-tests"
_OWN_PREFIXES = ("GATEWAY_", "TELEGRAM_", "GENAUG_", "TWILIO_", "WHATSAPP_", "APPROVAL_")


def cli_env(db_url: str, telegram_url: str, **overrides: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_OWN_PREFIXES) and k not in ("DATABASE_URL", "PORT")
    }
    env.update(
        **AS_THE_IMAGE_RUNS,  # help without docstrings, too
        DATABASE_URL=db_url,
        GATEWAY_SECRET_KEY=SECRET_KEY,
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TELEGRAM_API_BASE_URL=telegram_url,
        GATEWAY_LOG_LEVEL="WARNING",
        GATEWAY_ALLOW_PRIVATE_WEBHOOKS="1",  # fakes on http://127.0.0.1; URL guard tests unset it
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_gateway(
    args: tuple[str, ...], env: dict[str, str], input: str | None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args],
        cwd=cwd,
        env=env,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def gateway(
    *args: str, env: dict[str, str], input: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_gateway, args, env, input, cwd)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def failed(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """A clean failure: non-zero exit, one `error:` line on stderr naming the problem."""
    assert result.returncode != 0, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for fragment in expected:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


async def rows(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as session:
            return [tuple(r) for r in (await session.execute(text(sql))).all()]
    finally:
        await db.close()
