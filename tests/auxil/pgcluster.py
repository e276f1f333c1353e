"""A PostgreSQL server of the test's own (initdb + pg_ctl on a temporary data directory).

For tests that stop and start the database under a running gateway: the shared server other tests
use is never touched. The server binaries refuse to run as root, so when the tests run as root
every server command runs as the `postgres` user (`runuser`), which then owns the data directory.
Without the binaries the test is skipped locally and fails under `CI`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.storage.db import Database
from gateway.storage.db.schema import upgrade
from tests.auxil.databases import run_blocking
from tests.auxil.harness import free_port

SERVER_USER = "postgres"


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(versions[0]).parent if versions else None


def unavailable(reason: str) -> None:
    message = f"own PostgreSQL server unavailable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PgCluster:
    """One throwaway server on 127.0.0.1:<free port>; `stop()`/`start()` simulate an outage.

    Its own server also keeps the fault tests (four gateway processes, each with its pool) clear of
    the shared server's `max_connections` and of whatever else runs on it."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gw-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_other_user = os.geteuid() == 0
        self.initialized = False

    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_other_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )

    def _checked(self, *args: str, timeout: float = 60.0) -> None:
        done = self._run(*args, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                f"{self.server_log()}"
            )

    def create(self) -> None:
        """initdb and start; skip (fail under CI) when that is impossible here."""
        if self.bin is None:
            unavailable("no pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
        if self._as_other_user:
            try:
                entry = pwd.getpwnam(SERVER_USER)
            except KeyError:
                unavailable(f"running as root and there is no {SERVER_USER!r} user")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        done = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        if done.returncode != 0:
            unavailable(f"initdb failed: {done.stdout}{done.stderr}")
        self.initialized = True
        self.start()

    def url_of(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """Create and migrate database `name`; its URL."""
        run_blocking(self._admin(f'CREATE DATABASE "{name}"'))
        url = self.url_of(name)
        run_blocking(self._migrate(url))
        return url

    def drop_database(self, name: str) -> None:
        run_blocking(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, sql: str) -> None:
        engine = create_async_engine(self.url_of("postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    @staticmethod
    async def _migrate(url: str) -> None:
        db = Database(url, pool_size=1)
        try:
            await upgrade(db)
        finally:
            await db.close()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=300"
        )
        self._checked(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._checked("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def running(self) -> bool:
        return (
            self.initialized and self._run("pg_ctl", "status", "-D", str(self.data)).returncode == 0
        )

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop (immediately) if running and remove every file; safe to call twice."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
