"""The rig: processes pinned to cores, fresh databases, RSS and CPU sampling, wrk.

Everything the harness starts goes through ``Rig.start`` (its own process group, pinned with
``taskset``), so ``Rig.stop_all`` can end every one of them, also on Ctrl-C or an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

from bench.load import percentile

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
GATEWAY = ROOT / ".venv" / "bin" / "gateway"
BENCH_PYTHON = BENCH / ".venv" / "bin" / "python"
SYSTEMS = BENCH / "systems"
LUA = BENCH / "load"

SERVER_CORE = 0
LOAD_CORE = 1
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the harness dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    core: int

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Rig:
    """Starts and stops every process of the run; nothing outlives ``stop_all``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(
        self, name: str, argv: list[str], *, core: int, env: dict[str, str] | None = None
    ) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                ["taskset", "-c", str(core), *argv],
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.log_dir,
                start_new_session=True,  # own process group: killpg ends it and its children
                preexec_fn=_die_with_parent,
            )
        proc = Proc(name, popen, log_path, core)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 8.0) -> None:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            self.stop(proc, timeout=5.0)


async def wait_ready(
    proc: Proc, url: str, timeout: float = 30.0, *, tcp_only: bool = False
) -> None:
    """Until ``url`` answers (any status below 500), or a TCP connect succeeds with ``tcp_only``."""
    deadline = time.monotonic() + timeout
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            try:
                if tcp_only:
                    _, writer = await asyncio.open_connection(host, int(port))
                    writer.close()
                    return
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except (OSError, aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")


# --- databases ---------------------------------------------------------------------------------


async def _connect(dsn: str, timeout: float = 90.0) -> asyncpg.Connection:
    """Connect, waiting while the server is full: PostgreSQL is shared with whatever else runs
    on this machine, which may hold every connection slot for a while."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncpg.connect(dsn)
        except (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def fresh_database(name: str) -> str:
    """Drop and create ``name``; returns its asyncpg DSN."""
    conn = await _connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(name: str) -> None:
    conn = await _connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def scalar(dsn: str, query: str) -> Any:
    conn = await _connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def free_connection_slots() -> int:
    """Connections PostgreSQL can still accept (other sessions may be using the server too)."""
    conn = await _connect(PG_ADMIN_DSN)
    try:
        limit = int(await conn.fetchval("SHOW max_connections"))
        reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
        used = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
        return limit - reserved - used
    finally:
        await conn.close()


async def postgres_facts() -> dict[str, str]:
    conn = await _connect(PG_ADMIN_DSN)
    try:
        facts = {}
        for setting in ("server_version", "fsync", "synchronous_commit", "max_connections"):
            facts[setting] = str(await conn.fetchval(f"SHOW {setting}"))
        return facts
    finally:
        await conn.close()


# --- sampling ----------------------------------------------------------------------------------


@dataclass
class _Tracked:
    pids: list[int]
    peak: int = 0
    initial: int | None = None


class RssSampler:
    """Every 100 ms: RSS of each tracked group (processes and all their children); keeps peaks."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._groups: dict[str, _Tracked] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._foreign_procs: dict[int, psutil.Process] = {}
        self._foreign_samples: list[float] = []

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def track(self, label: str, pids: list[int]) -> None:
        with self._lock:
            self._groups[label] = _Tracked(list(pids))
            self._sample_locked()

    def initial_mb(self, label: str) -> float | None:
        """RSS at the first sample after ``track`` (the process just became ready)."""
        with self._lock:
            tracked = self._groups.get(label)
            if tracked is None or tracked.initial is None:
                return None
            return round(tracked.initial / 2**20, 1)

    def peak_mb(self, label: str) -> float | None:
        with self._lock:
            self._sample_locked()
            tracked = self._groups.get(label)
            return None if tracked is None else round(tracked.peak / 2**20, 1)

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(self.interval):
            with self._lock:
                self._sample_locked()
            ticks += 1
            if ticks % 10 == 0:
                self._sample_foreign()

    # Noise: CPU used by processes this run did not start (PostgreSQL excluded: it serves us too).

    def foreign_window(self) -> None:
        """Start a new averaging window for ``foreign_cpu_percent``."""
        with self._lock:
            self._foreign_samples = []

    def foreign_cpu_percent(self) -> float | None:
        with self._lock:
            samples = self._foreign_samples
            return round(sum(samples) / len(samples), 1) if samples else None

    def _sample_foreign(self) -> None:
        ours = {os.getpid()}
        with contextlib.suppress(psutil.Error):
            ours.update(p.pid for p in psutil.Process().children(recursive=True))
        total = 0.0
        seen = set()
        for proc in psutil.process_iter(["name", "username"]):
            pid = proc.pid
            if pid in ours or proc.info["username"] == "postgres" or pid <= 2:
                continue
            seen.add(pid)
            cached = self._foreign_procs.setdefault(pid, proc)
            with contextlib.suppress(psutil.Error):
                total += cached.cpu_percent(None)  # since this process' previous sample
        for pid in set(self._foreign_procs) - seen:
            del self._foreign_procs[pid]
        with self._lock:
            self._foreign_samples.append(total)

    def _sample_locked(self) -> None:
        for tracked in self._groups.values():
            total = 0
            for pid in tracked.pids:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    total += proc.memory_info().rss
                    for child in proc.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            total += child.memory_info().rss
            tracked.peak = max(tracked.peak, total)
            if tracked.initial is None:
                tracked.initial = total


@dataclass
class CpuWindow:
    """Average busy % of each core between ``start`` and ``stop`` (whole machine, all processes)."""

    busy: list[float] = field(default_factory=list)

    def start(self) -> CpuWindow:
        psutil.cpu_percent(percpu=True)
        return self

    def stop(self) -> list[float]:
        self.busy = [round(x, 1) for x in psutil.cpu_percent(percpu=True)]
        return self.busy


class CpuMeter:
    """CPU seconds spent by the server processes (and their children) and by the PostgreSQL
    backends serving the system's database, between ``start`` and ``stop``. Unlike rates, these
    hardly change when other work shares the machine: the cost per turn or per update."""

    def __init__(self, pids: list[int], database: str | None) -> None:
        self.pids, self.database = pids, database
        self._server = 0.0
        self._pg: dict[int, float] = {}
        self._commits = 0

    def _server_seconds(self) -> float:
        total = 0.0
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                for p in [proc, *proc.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = p.cpu_times()
                        total += times.user + times.system
        return total

    async def _pg_seconds(self) -> tuple[dict[int, float], int]:
        """CPU seconds of each backend on the database, and its committed transactions so far
        (PostgreSQL publishes the latter about once a second)."""
        if self.database is None:
            return {}, 0
        conn = await _connect(PG_ADMIN_DSN)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
            )
            commits = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", self.database
            )
        finally:
            await conn.close()
        out = {}
        for row in rows:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(row["pid"]).cpu_times()
                out[row["pid"]] = times.user + times.system
        return out, int(commits or 0)

    async def start(self) -> CpuMeter:
        self._server = self._server_seconds()
        self._pg, self._commits = await self._pg_seconds()
        return self

    async def stop(self) -> dict[str, float | None]:
        server = self._server_seconds() - self._server
        pg_now, commits = await self._pg_seconds()
        pg = sum(v - self._pg.get(pid, 0.0) for pid, v in pg_now.items())
        durable = self.database is not None
        return {
            "server_cpu_s": round(server, 3),
            "postgres_cpu_s": round(pg, 3) if durable else None,
            "postgres_commits": commits - self._commits if durable else None,
        }


# --- wrk ---------------------------------------------------------------------------------------


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    return found


async def run_wrk(
    url: str, script: str, args: list[str], *, connections: int, seconds: float, threads: int = 1
) -> dict[str, Any]:
    """Run wrk on the load core; returns the numbers its Lua ``done`` hook printed."""
    argv = [
        "taskset",
        "-c",
        str(LOAD_CORE),
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
        "--",
        *args,
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 30)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            seconds_run = data["duration_us"] / 1e6
            ok = data["requests"] - data["status_errors"]
            data["seconds"] = round(seconds_run, 3)
            data["ok"] = ok
            data["ok_per_second"] = round(ok / seconds_run, 1) if seconds_run else 0.0
            data["errors"] = sum(
                data[k]
                for k in (
                    "connect_errors",
                    "read_errors",
                    "write_errors",
                    "status_errors",
                    "timeout_errors",
                )
            )
            return data
    raise RuntimeError(f"wrk printed no result:\n{text}")


class CommitProbe:
    """Tiny durable commits at a fixed rate on a connection of its own, beside a measurement.

    A webhook is acknowledged only after its row is committed, so an acknowledgement can never
    be faster than a commit. This shows what the disk itself did meanwhile: when the probe's own
    one-row commits stall (fsync waits of tens of ms happen on this VM even when it is idle),
    every durable system's acknowledgements stall with them."""

    TABLE = "bench_commit_probe"

    def __init__(self, rate: float = 50.0) -> None:
        self.rate = rate
        self.latencies_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CommitProbe:
        self._conn = await _connect(PG_ADMIN_DSN)
        await self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.TABLE} (id bigserial, at timestamptz)"
        )
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await self._conn.execute(f"INSERT INTO {self.TABLE} (at) VALUES (now())")
            spent = time.perf_counter() - start
            self.latencies_ms.append(spent * 1000)
            await asyncio.sleep(max(0.0, 1 / self.rate - spent))

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await self._conn.execute(f"DROP TABLE IF EXISTS {self.TABLE}")
        await self._conn.close()

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        if not lat:
            return {"commits": 0}
        return {
            "commits": len(lat),
            "p50_ms": round(percentile(lat, 50), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(lat[-1], 2),
            "over_10ms": sum(1 for x in lat if x > 10),
        }
