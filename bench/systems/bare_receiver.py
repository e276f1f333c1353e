"""Baseline: the durable-ingest ceiling in Python.

A bare aiohttp + asyncpg receiver that checks the secret, parses the update and inserts it with
ON CONFLICT DO NOTHING, then answers 200. No framework, no ORM, nothing else.
"""

from __future__ import annotations

import hmac
import json
import os
import sys

import asyncpg
from aiohttp import web

SECRET = os.environ.get("BENCH_SECRET", "bench-secret").encode()
DSN = os.environ.get("BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
POOL_MAX = int(os.environ.get("BENCH_POOL_MAX", "64"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS bare_inbox (
    id BIGSERIAL PRIMARY KEY,
    update_id BIGINT NOT NULL UNIQUE,
    chat_id BIGINT,
    payload JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


async def init(app: web.Application) -> None:
    pool = await asyncpg.create_pool(DSN, min_size=16, max_size=POOL_MAX)
    async with pool.acquire() as conn:
        await conn.execute(SCHEMA)
    app["pool"] = pool


async def receive(request: web.Request) -> web.Response:
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
    if not hmac.compare_digest(given, SECRET):
        return web.Response(status=403)
    raw = await request.read()
    try:
        update = json.loads(raw)
        update_id = int(update["update_id"])
    except (ValueError, KeyError, TypeError):
        return web.Response(status=400)
    message = update.get("message") or {}
    chat_id = (message.get("chat") or {}).get("id")
    async with request.app["pool"].acquire() as conn:
        await conn.execute(
            "INSERT INTO bare_inbox (update_id, chat_id, payload) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            update_id,
            chat_id,
            raw.decode(),
        )
    return web.Response(status=200)


def main() -> None:
    app = web.Application()
    app.on_startup.append(init)
    app.router.add_post("/webhooks/telegram/{account}", receive)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
