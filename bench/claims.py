"""How many claims per second one PostgreSQL gives the gateway's work queue (docs/scaling.md).

`.venv/bin/python -m bench.claims` (the project's venv: it runs the gateway's own claim and
settle statements). 20,000 pending inbox events over 2,000 chats; 1, 2 and 4 claimers, each on
its own database pool as a worker process would be, claim batches of up to 100 rows (the
gateway's `CLAIM_BATCH_MAX`) and settle each batch as done in one statement, with no turn work
in between: the queue's own ceiling, which the per-turn work of real workers stays far below.
Per-chat order holds: a chat's next event is claimable only once the previous one is settled.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from gateway.storage.inbox import INBOX
from gateway.storage.queue import claim, settle_many
from gateway.storage.worker import CLAIM_BATCH_MAX

ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "gw_bench_claims"
EVENTS = int(os.environ.get("BENCH_CLAIM_EVENTS", "20000"))
CHATS = EVENTS // 10
CLAIMERS = (1, 2, 4)
ROOT = Path(__file__).resolve().parent.parent


async def _fresh_database() -> str:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()
    return ADMIN_DSN.rsplit("/", 1)[0] + f"/{DB_NAME}"


def _migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "GATEWAY_LOG_LEVEL": "WARNING"}
    gateway = str(Path(sys.executable).parent / "gateway")
    subprocess.run([gateway, "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)


async def _fill(dsn: str) -> None:
    """`EVENTS` pending events, a chat's ten in order (ids ascending)."""
    conn = await asyncpg.connect(dsn)
    try:
        project = await conn.fetchval("SELECT id FROM projects WHERE name = 'claims'")
        if project is None:
            project = await conn.fetchval(
                "INSERT INTO projects (name, model, unlinked_policy, created_at, updated_at) "
                "VALUES ('claims', 'm', 'channel_user', now(), now()) RETURNING id"
            )
        now = datetime.now(UTC).replace(tzinfo=None)
        payload = json.dumps({"channel": "telegram", "kind": "message", "text": "hi"})
        await conn.execute("DELETE FROM inbox_events")
        await conn.executemany(
            "INSERT INTO inbox_events (project_id, channel, account, event_id, chat_key, kind, "
            "payload, status, attempts, next_attempt_at, received_at) "
            "VALUES ($1, 'telegram', 'default', $2, $3, 'message', $4::jsonb, 'pending', 0, "
            "$5, $5)",
            [
                (project, str(n), f"telegram:default:{n % CHATS}", payload, now)
                for n in range(EVENTS)
            ],
        )
        await conn.execute("ANALYZE inbox_events")
    finally:
        await conn.close()


async def _claimer(db: Database, name: str, counts: dict[str, int]) -> None:
    idle_since: float | None = None
    while True:
        rows = await claim(db, INBOX, name, 60.0, CLAIM_BATCH_MAX, include_expired=False)
        if not rows:
            # Another claimer may be about to settle the rows that block the rest.
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 0.5:
                return
            await asyncio.sleep(0.001)
            continue
        idle_since = None
        counts["claims"] += 1
        counts["rows"] += len(rows)
        async with db.statements() as st:
            values = {"status": "done", "processed_at": utcnow(), "last_error": None}
            await settle_many(st, INBOX, [(row.id, name, values) for row in rows])


async def _run(url: str, claimers: int) -> dict[str, float]:
    dbs = [Database(url, pool_size=2) for _ in range(claimers)]
    counts = {"claims": 0, "rows": 0}
    started = time.monotonic()
    try:
        await asyncio.gather(*(_claimer(db, f"c{n}", counts) for n, db in enumerate(dbs)))
    finally:
        for db in dbs:
            await db.close()
    seconds = time.monotonic() - started - 0.5  # the last claimer's idle wait
    return {
        "claimers": claimers,
        "rows": counts["rows"],
        "claims_per_s": round(counts["claims"] / seconds, 1),
        "rows_per_s": round(counts["rows"] / seconds, 1),
        "rows_per_claim": round(counts["rows"] / max(1, counts["claims"]), 1),
    }


async def main() -> None:
    dsn = await _fresh_database()
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    _migrate(url)
    results = []
    try:
        for claimers in CLAIMERS:
            await _fill(dsn)
            result = await _run(url, claimers)
            results.append(result)
            print(
                f"{claimers} claimer(s): {result['claims_per_s']:,.0f} claims/s, "
                f"{result['rows_per_s']:,.0f} rows/s claimed and settled "
                f"({result['rows_per_claim']} rows per claim, {result['rows']:,} rows)",
                flush=True,
            )
            if result["rows"] != EVENTS:
                raise SystemExit(f"only {result['rows']} of {EVENTS} rows were claimed")
    finally:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        finally:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
