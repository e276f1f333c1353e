"""Run `gateway` as a real subprocess (for crash, restart and signal tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.auxil.harness import (
    AS_THE_IMAGE_RUNS,
    BOT_TOKEN,
    CORE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
)

GATEWAY = str(Path(sys.executable).parent / "gateway")


def gateway_env(db_url: str, telegram_url: str, core_url: str, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "TELEGRAM_"))}
    env.update(
        {
            **AS_THE_IMAGE_RUNS,
            "DATABASE_URL": db_url,
            "GATEWAY_SECRET_KEY": SECRET_KEY,
            "GENAUG_API_BASE_URL": core_url,
            "GENAUG_API_KEY": CORE_KEY,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "GATEWAY_UNLINKED_POLICY": "channel_user",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TELEGRAM_API_BASE_URL": telegram_url,
            "GATEWAY_LEASE_SECONDS": "2",
            "GATEWAY_POLL_INTERVAL_SECONDS": "0.1",
            "GATEWAY_RETRY_BASE_SECONDS": "0.1",
            "GATEWAY_RETRY_CAP_SECONDS": "0.5",
            "GATEWAY_TELEGRAM_RATE_PER_CHAT": "100",
            "GATEWAY_TELEGRAM_CHAT_BURST": "100",
            "GATEWAY_ALLOW_PRIVATE_WEBHOOKS": "1",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class GatewayProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [GATEWAY, *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, port: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gateway not ready after {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._log.close()
