"""`gateway projects add/set --core-concurrency N`, shown by `gateway projects show` (the project's
own value, else GATEWAY_CORE_CONCURRENCY, else 2000), and refused when N is not 1 to 100000."""

from __future__ import annotations

import asyncio

from gateway.dev.fake_telegram import FakeTelegram
from tests.auxil.cli import as_json, cli_env, failed, gateway, ok


async def test_set_shown_and_refused(db_url: str, telegram: tuple[FakeTelegram, str]) -> None:
    env = cli_env(db_url, telegram[1], GATEWAY_CORE_CONCURRENCY="50")
    ok(await gateway("projects", "add", "acme", "--core-concurrency", "5", env=env))
    default, acme, table, bad_add, bad_set, too_many, not_a_number = await asyncio.gather(
        gateway("projects", "show", "default", "--json", env=env),
        gateway("projects", "show", "acme", "--json", env=env),
        gateway("projects", "show", "acme", env=env),
        gateway("projects", "add", "acme2", "--core-concurrency", "0", env=env),
        gateway("projects", "set", "acme", "--core-concurrency", "-1", env=env),
        gateway("projects", "set", "acme", "--core-concurrency", "100001", env=env),
        gateway("projects", "set", "acme", "--core-concurrency", "x", env=env),
    )
    assert as_json(default)["core_concurrency"] == 50  # the environment's default
    assert as_json(acme)["core_concurrency"] == 5
    (row,) = [line for line in ok(table).stdout.splitlines() if " core_concurrency " in line]
    assert row.split()[-2] == "5", row  # `│ core_concurrency │ 5 │`
    failed(bad_add, "core_concurrency", "greater than or equal to 1")
    failed(bad_set, "core_concurrency", "greater than or equal to 1")
    failed(too_many, "core_concurrency", "less than or equal to 100000")
    assert not_a_number.returncode == 2, not_a_number  # typer's usage error, before any work
    assert "--core-concurrency" in not_a_number.stderr, not_a_number.stderr
    assert "Traceback" not in not_a_number.stderr, not_a_number.stderr

    ok(await gateway("projects", "set", "acme", "--core-concurrency", "9", env=env))
    shown = as_json(await gateway("projects", "show", "acme", "--json", env=env))
    assert shown["core_concurrency"] == 9
    listed = as_json(await gateway("projects", "list", "--json", env=env))
    assert {p["name"]: p["core_concurrency"] for p in listed} == {"acme": 9, "default": 50}
    # Without the variable every project that set none reads 2000; acme keeps its own.
    plain = cli_env(db_url, telegram[1])
    ok(await gateway("projects", "add", "acme3", env=plain))
    default, acme, acme3 = await asyncio.gather(
        gateway("projects", "show", "default", "--json", env=plain),
        gateway("projects", "show", "acme", "--json", env=plain),
        gateway("projects", "show", "acme3", "--json", env=plain),
    )
    assert as_json(default)["core_concurrency"] == 2000
    assert as_json(acme)["core_concurrency"] == 9
    assert as_json(acme3)["core_concurrency"] == 2000
