"""Webhook account lookups under a flood of made-up names: no query per name, counted by channel,
and a real account added after a miss answered at once (this process) or within seconds (another
process, like the CLI)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from gateway.schemas import AccountCreate
from gateway.storage.projects import ProjectStore
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

API = "/api/v1/admin"
TOKEN = "555555:acme-bot-token-abcdefghijklmnopqrstu"


@contextmanager
def account_queries(h: Harness) -> Iterator[list[str]]:
    """Every SQL statement that reads the accounts table while the block runs."""
    assert h.runtime is not None
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "channel_accounts" in statement:
            seen.append(statement)

    engine = h.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def metric(h: Harness, name: str, **labels: str) -> float:
    assert h.http is not None
    async with h.http.get(f"{h.base_url}/metrics") as resp:
        text = await resp.text()
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_flood_of_made_up_names_runs_no_query_per_name(harness: Harness) -> None:
    names = [f"made-up-{n}" for n in range(300)]
    with account_queries(harness) as queries:
        flood = asyncio.gather(
            *(harness.post_update(updates.message("hi"), account=name) for name in names)
        )
        real = harness.post_update(updates.message("real one"))
        answers, real_answer = await asyncio.gather(flood, real)
        again = await asyncio.gather(
            *(harness.post_update(updates.message("hi"), account=name) for name in names[:50])
        )
    assert {resp.status for resp in [*answers, *again]} == {404}
    assert real_answer.status == 200  # a real account is served in the middle of the flood
    # One read of the enabled names (maybe two, around the real account's row) for 350 misses.
    assert len(queries) <= 3, queries
    unknown = await metric(
        harness, "gateway_webhooks_total", channel="telegram", outcome="unknown_account"
    )
    assert unknown == 350
    names_read = await metric(harness, "gateway_account_directory_queries_total", scope="names")
    assert 1 <= names_read <= 2
    await harness.telegram.wait_for("sendMessage", 1)


async def test_the_handshake_counts_unknown_accounts_too(gw: Harness) -> None:
    assert gw.http is not None
    async with gw.http.get(f"{gw.base_url}/webhooks/whatsapp/nobody?hub.mode=subscribe") as resp:
        assert resp.status == 404
    counted = await metric(
        gw, "gateway_webhooks_total", channel="whatsapp", outcome="unknown_account"
    )
    assert counted == 1


async def test_an_account_added_through_the_admin_api_after_a_miss_works_at_once(
    harness: Harness,
) -> None:
    assert (await harness.post_update(updates.message("hi"), account="acme-bot")).status == 404
    status, _ = await harness.admin("POST", f"{API}/projects", json={"name": "acme"})
    assert status == 201
    secret = "acme-webhook-secret-0123"
    status, body = await harness.admin(
        "POST",
        f"{API}/projects/acme/accounts",
        json={
            "channel": "telegram",
            "account": "acme-bot",
            "token": TOKEN,
            "webhook_secret": secret,
            "api_base_url": harness.telegram_url,
        },
    )
    assert status == 201, body
    resp = await harness.post_update(updates.message("hi"), account="acme-bot", secret=secret)
    assert resp.status == 200


async def test_an_account_added_by_another_process_works_within_seconds(harness: Harness) -> None:
    runtime = harness.runtime
    assert runtime is not None
    assert (await harness.post_update(updates.message("hi"), account="acme-bot")).status == 404
    # The CLI writes the row from its own process: this process's caches are not told.
    cli = ProjectStore(runtime.db, runtime.box, runtime.settings)
    secret = "acme-webhook-secret-0123"
    data = AccountCreate.model_validate(
        {
            "channel": "telegram",
            "account": "acme-bot",
            "token": TOKEN,
            "webhook_secret": secret,
            "api_base_url": harness.telegram_url,
        }
    )
    await cli.add_account("default", data, actor="cli")
    started = asyncio.get_running_loop().time()

    async def accepted() -> bool:
        resp = await harness.post_update(updates.message("hi"), account="acme-bot", secret=secret)
        return resp.status == 200

    await eventually(accepted, timeout=runtime.directory.known.ttl + 3, interval=0.2)
    assert asyncio.get_running_loop().time() - started <= runtime.directory.known.ttl + 1
