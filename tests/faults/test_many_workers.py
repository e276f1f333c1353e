"""Three `gateway worker` processes (and one `serve --no-worker`) on one database, 2,000 turns
over 200 chats: no turn runs twice, every reply goes out once, each chat in order."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.storage.db.models import InboxEvent
from tests.auxil.faultkit import (
    Fleet,
    Poster,
    event_key,
    explain,
    fault_env,
    plan_turns,
    turn_keys,
    wait_for_replies,
)
from tests.auxil.harness import free_port
from tests.faults.conftest import Fakes


async def _claimants(db_url: str) -> Counter[str]:
    """Inbox rows per worker that finished them (`claimed_by` is kept by the final write)."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(InboxEvent.claimed_by, func.count()).group_by(InboxEvent.claimed_by)
            )
            return Counter({str(worker): int(n) for worker, n in rows.all()})
    finally:
        await engine.dispose()


@pytest.mark.faults
async def test_three_workers_run_each_turn_once_in_chat_order(
    pg_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram, core = fakes.telegram, fakes.core
    plan = plan_turns(2000, 200)
    port = free_port()
    core.controls.delay_seconds = 0.02
    fleet = Fleet(tmp_path, fault_env(pg_url, fakes.telegram_url, fakes.core_url))
    try:
        await fleet.serve("web", port, "--no-worker")
        for n in range(3):
            fleet.start(f"worker-{n}", ["worker"])
        async with Poster(port) as poster:
            await asyncio.wait_for(poster.deliver_all(plan, within=120), 150)
        assert poster.unacked(plan) == [] and set(poster.outcomes()) == {200}, poster.outcomes()
        verdict = await wait_for_replies(telegram, plan, timeout=240)
        expected = {event_key(item) for item in plan}
        turns = await turn_keys(pg_url)
        # The mock core records every call's idempotency key: a turn run twice shows there.
        core_keys = Counter(r["headers"].get("x-idempotency-key") for r in core.requests)
        twice = {key: n for key, n in core_keys.items() if n > 1}
        claimants = await _claimants(pg_url)
        problems = []
        if not verdict.ok:
            problems.append(
                f"{verdict.describe()}\n"
                f"{await explain(pg_url, plan, verdict, telegram, fleet.logs())}"
            )
        if set(turns) != expected or max(turns.values()) != 1:
            problems.append(f"turn rows: {len(turns)} keys, at most {max(turns.values())} each")
        if set(core_keys) != expected:
            problems.append(f"the core saw {len(core_keys)} keys for {len(expected)} turns")
        if twice:
            problems.append(
                f"turns run more than once: {len(twice)} keys, e.g. {list(twice.items())[:5]}"
            )
        if len([worker for worker in claimants if worker != "None"]) != 3:
            problems.append(f"not all three workers took part: {claimants}")
        if any(proc.proc.poll() is not None for proc in fleet.procs):
            problems.append("a gateway process exited")
        lost = {
            path.name: path.read_text(errors="replace").count("lease_lost") for path in fleet.logs()
        }
        assert not problems, "\n".join(problems) + f"\nlease_lost per log: {lost}\n{fleet.tail()}"
    finally:
        await fleet.close()
