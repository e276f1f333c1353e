"""Batch worker for the bare receiver (end-to-end baseline): claim, call the core, reply, done.

One process, one loop: claim up to BATCH rows that are the oldest unfinished row of their chat
(so a chat's turns run one at a time, in arrival order), run them concurrently (POST
``/v1/responses``, then ``sendMessage``), mark the batch done in one statement, repeat. Nothing
else: no retries, no outbox, no turn rows, no leases. It is the simplest honest way to drain the
bare inbox in order, and a ceiling, not a product.

Environment: BENCH_DSN, BENCH_CORE_URL, BENCH_TELEGRAM_URL, BENCH_TOKEN.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from typing import Any

import aiohttp
import asyncpg

DSN = os.environ.get("BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CORE = os.environ.get("BENCH_CORE_URL", "http://127.0.0.1:8787").rstrip("/")
TELEGRAM = os.environ.get("BENCH_TELEGRAM_URL", "http://127.0.0.1:8081").rstrip("/")
TOKEN = os.environ.get("BENCH_TOKEN", "123:bench")
BATCH = int(os.environ.get("BENCH_BATCH", "256"))
IDLE_SLEEP = 0.005

PREPARE = """
ALTER TABLE bare_inbox ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT 'pending';
CREATE INDEX IF NOT EXISTS bare_inbox_open ON bare_inbox (chat_id, id) WHERE status <> 'done';
"""

# The head of each chat's queue (its oldest row not done), if it is still pending.
CLAIM = """
UPDATE bare_inbox SET status = 'processing'
WHERE id IN (
    SELECT id FROM (
        SELECT DISTINCT ON (chat_id) id, status FROM bare_inbox
        WHERE status <> 'done' ORDER BY chat_id, id
    ) AS heads
    WHERE status = 'pending' ORDER BY id LIMIT $1
)
RETURNING id, chat_id, payload
"""

DONE = "UPDATE bare_inbox SET status = 'done' WHERE id = ANY($1::bigint[])"
RETRY = "UPDATE bare_inbox SET status = 'pending' WHERE id = ANY($1::bigint[])"


def output_text(body: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in body.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


async def turn(http: aiohttp.ClientSession, chat_id: int, payload: str) -> None:
    message = json.loads(payload).get("message") or {}
    async with http.post(
        f"{CORE}/v1/responses",
        json={"model": "balanced", "input": message.get("text", ""), "user": f"tg:{chat_id}"},
    ) as resp:
        body = await resp.json()
    async with http.post(
        f"{TELEGRAM}/bot{TOKEN}/sendMessage", json={"chat_id": chat_id, "text": output_text(body)}
    ) as resp:
        await resp.read()


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    conn = await asyncpg.connect(DSN)
    await conn.execute(PREPARE)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=BATCH)) as http:
        while not stop.is_set():
            rows = await conn.fetch(CLAIM, BATCH)
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), IDLE_SLEEP)
                continue
            results = await asyncio.gather(
                *(turn(http, r["chat_id"], r["payload"]) for r in rows), return_exceptions=True
            )
            done = [r["id"] for r, res in zip(rows, results, strict=True) if res is None]
            failed = [r["id"] for r, res in zip(rows, results, strict=True) if res is not None]
            await conn.execute(DONE, done)
            if failed:  # back to the head of their chat's queue, tried again next round
                await conn.execute(RETRY, failed)
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
