"""deploy/README.md quotes sizing defaults; each number must be the code's own (`gateway/config.py`
and the database's reserved pools), so the production recipe cannot drift from what runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.storage.db import Database

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_README = ROOT / "deploy" / "README.md"
# `NAME` or `NAME` / `NAME`, then a parenthesis that starts with its default(s).
_QUOTED = re.compile(r"((?:`[A-Z0-9_]+`\s*/?\s*)+)\(([^)]*)\)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def text() -> str:
    return " ".join(DEPLOY_README.read_text().split())  # one line: phrases wrap anywhere


def defaults() -> dict[str, Any]:
    """Each environment variable's default, from the field that reads it."""
    found: dict[str, Any] = {}
    for info in Settings.model_fields.values():
        for choice in getattr(info.validation_alias, "choices", []):
            if isinstance(choice, str) and choice.isupper():
                found[choice] = info.default
    return found


def quoted_defaults() -> list[tuple[str, float]]:
    """Every `SETTING` (N) the README states, as (name, N); `A` / `B` (N each) gives both N."""
    stated = []
    for names_part, inside in _QUOTED.findall(text()):
        names = re.findall(r"`([A-Z0-9_]+)`", names_part)
        numbers = _NUMBER.findall(inside.split(":")[0])
        if not numbers or not inside.lstrip().startswith(numbers[0]):
            continue  # not a default in parentheses
        values = numbers[: len(names)] if len(numbers) >= len(names) else numbers * len(names)
        stated += [(name, float(value)) for name, value in zip(names, values, strict=True)]
    return stated


def test_every_setting_the_recipe_quotes_has_its_default() -> None:
    stated = quoted_defaults()
    names = {name for name, _ in stated}
    assert {
        "GATEWAY_DB_POOL_SIZE",
        "GATEWAY_WORKER_CONCURRENCY",
        "GATEWAY_SENDER_CONCURRENCY",
    } <= names, stated
    known = defaults()
    for name, value in stated:
        assert name in known, f"deploy/README.md names {name}, which is not a setting"
        assert value == float(known[name]), (
            f"deploy/README.md: {name} ({value}), code: {known[name]}"
        )


async def test_connections_per_process_are_the_pools_the_database_opens() -> None:
    """The pool plus the reserved pools (and the webhooks' own in a web process): what
    `processes x N` keeps under `max_connections`."""
    stated = re.search(
        r"`GATEWAY_DB_POOL_SIZE` \((\d+)\) \+ (\d+) connections \((\d+) reserved for [^,]*, "
        r"(\d+) for claims\), and a process that serves webhooks (\d+) more for their inbox\s+"
        r"inserts: keep `processes \u00d7 (\d+)` \(`\u00d7 (\d+)` for web processes\)",
        text(),
    )
    assert stated is not None, "deploy/README.md no longer states the connections per process"
    pool, reserved, control, claims, ingest, per_process, per_web = (
        int(n) for n in stated.groups()
    )
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_size=pool)  # no connection
    try:
        assert control == db.control.pool.size()  # type: ignore[attr-defined]
        assert claims == db.claims.pool.size()  # type: ignore[attr-defined]
        assert ingest == db.ingest.pool.size()  # type: ignore[attr-defined]
        assert reserved == control + claims
        assert per_process == db.engine.pool.size() + reserved  # type: ignore[attr-defined]
        assert per_web == per_process + ingest
    finally:
        await db.close()


def test_lease_and_telegram_pacing_are_the_defaults() -> None:
    fields = Settings.model_fields
    lease = re.search(r"lease \((\d+) s\)", text())
    assert lease is not None and float(lease.group(1)) == fields["lease_seconds"].default
    pacing = re.search(
        r"Telegram pacing \((\d+) msg/s per bot, (\d+)/s per chat, (\d+)/min per group\)", text()
    )
    assert pacing is not None, "deploy/README.md no longer states Telegram's pacing"
    assert [float(n) for n in pacing.groups()] == [
        fields["telegram_rate_per_bot"].default,
        fields["telegram_rate_per_chat"].default,
        fields["telegram_group_per_minute"].default,
    ]
