"""PostgreSQL stopped and started again in the middle of a burst (a server of the test's own):
the gateway answers 503 while the database is away, recovers by itself, and every acknowledged
update is answered exactly once (non-200 ones are redelivered after recovery, as Telegram does)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.auxil.faultkit import (
    Fleet,
    Poster,
    explain,
    fault_env,
    plan_turns,
    stored_event_ids,
    wait_for_replies,
)
from tests.auxil.harness import eventually, free_port
from tests.auxil.pgcluster import PgCluster
from tests.faults.conftest import Fakes

OUTAGE_SECONDS = 5.0


@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.create()
        cluster.new_database("gateway")
        yield cluster
    finally:
        cluster.destroy()


async def _ready_status(http: aiohttp.ClientSession, port: int) -> int | str:
    try:
        async with http.get(f"http://127.0.0.1:{port}/health/ready") as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def _wait_ready_200(
    http: aiohttp.ClientSession, port: int, timeout: float = 30.0
) -> int | str:
    """Poll /health/ready until it answers 200 (bounded); the last answer."""
    deadline = time.monotonic() + timeout
    status = await _ready_status(http, port)
    while status != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        status = await _ready_status(http, port)
    return status


@pytest.mark.faults
async def test_postgres_restart_mid_burst_gives_503_then_recovers_and_answers_once(
    own_postgres: PgCluster, fakes: Fakes, tmp_path: Path
) -> None:
    telegram, db_url = fakes.telegram, own_postgres.url_of("gateway")
    plan = plan_turns(400, 40)
    port = free_port()
    fakes.core.controls.delay_seconds = 0.05
    fleet = Fleet(tmp_path, fault_env(db_url, fakes.telegram_url, fakes.core_url))
    problems: list[str] = []
    ready_during: Counter[int | str] = Counter()
    try:
        proc = await fleet.serve("serve", port)
        async with (
            Poster(port) as poster,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        ):
            # 40 chats, 10 updates each, 0.4 s apart: the burst runs before, through and after
            # the outage; each chat redelivers a refused update until it is acknowledged.
            posting = asyncio.create_task(poster.deliver_all(plan, within=120, gap=0.4))
            await eventually(lambda: len(poster.acked) >= len(plan) // 4, timeout=30)
            stopping_at = time.monotonic()
            await asyncio.to_thread(own_postgres.stop, "fast")
            down_at = time.monotonic()
            while time.monotonic() < down_at + OUTAGE_SECONDS:
                ready_during[await _ready_status(http, port)] += 1
                await asyncio.sleep(0.25)
            up_at = time.monotonic()
            await asyncio.to_thread(own_postgres.start)
            ready_after = await _wait_ready_200(http, port)
            await asyncio.wait_for(posting, 150)

        during = Counter(a.outcome for a in poster.attempts if down_at <= a.at <= up_at)
        everything = poster.outcomes()
        # (A 200 that arrives during the outage was stored before it: checked below, with the
        # inbox rows of every acknowledged update.)
        if not during[503]:
            problems.append(f"no webhook request was refused during the outage: {during}")
        if set(during) - {200, 503}:
            problems.append(
                f"webhook answers while the database was down: {dict(during)}; "
                f"e.g. {poster.samples()}"
            )
        if set(everything) - {200, 503}:
            problems.append(f"webhook answers over the whole run: {dict(everything)}")
        if set(ready_during) != {503}:
            problems.append(f"/health/ready during the outage: {dict(ready_during)}")
        if ready_after != 200:
            problems.append(f"/health/ready after the restart: {ready_after}")
        if proc.proc.poll() is not None or len(fleet.procs) != 1:
            problems.append("the gateway process did not survive the outage by itself")
        if poster.unacked(plan):
            problems.append(f"never acknowledged: {len(poster.unacked(plan))}")
        stored = await stored_event_ids(db_url)
        acked_ids = {str(item.update_id) for item in plan if item.seq in poster.acked}
        if acked_ids - stored:
            problems.append(f"acknowledged (200) but not stored: {sorted(acked_ids - stored)[:10]}")
        verdict = await wait_for_replies(telegram, plan, timeout=120)
        if not verdict.ok:
            problems.append(
                f"{verdict.describe()}\n(monotonic) stop began {stopping_at:.3f}, database down "
                f"{down_at:.3f}, start began {up_at:.3f}\n"
                f"{await explain(db_url, plan, verdict, telegram, fleet.logs())}"
            )
        assert not problems, "\n".join(problems) + f"\n{fleet.tail()}"
    finally:
        await fleet.close()
