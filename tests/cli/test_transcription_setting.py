"""`gateway projects add/set --transcription auto|on|off`, shown by `gateway projects show`, and
GATEWAY_TRANSCRIPTION for project `default`."""

from __future__ import annotations

import asyncio

from gateway.dev.fake_telegram import FakeTelegram
from tests.auxil.cli import as_json, cli_env, failed, gateway, ok


async def test_set_shown_and_refused(db_url: str, telegram: tuple[FakeTelegram, str]) -> None:
    env = cli_env(db_url, telegram[1], GATEWAY_TRANSCRIPTION="off")
    ok(await gateway("projects", "add", "acme", "--transcription", "on", env=env))
    default, acme, table, bad_add, bad_set = await asyncio.gather(
        gateway("projects", "show", "default", "--json", env=env),
        gateway("projects", "show", "acme", "--json", env=env),
        gateway("projects", "show", "acme", env=env),
        gateway("projects", "add", "acme2", "--transcription", "maybe", env=env),
        gateway("projects", "set", "acme", "--transcription", "never", env=env),
    )
    assert as_json(default)["transcription"] == "off"  # the environment's, for `default`
    assert as_json(acme)["transcription"] == "on"
    (row,) = [line for line in ok(table).stdout.splitlines() if " transcription " in line]
    assert row.split()[-2] == "on", row  # `│ transcription │ on │`
    failed(bad_add, "transcription", "'auto', 'on' or 'off'")
    failed(bad_set, "transcription")

    ok(await gateway("projects", "set", "acme", "--transcription", "off", env=env))
    shown = as_json(await gateway("projects", "show", "acme", "--json", env=env))
    assert shown["transcription"] == "off"
    # Without the variable, `default` keeps what was stored; a new project is `auto`.
    plain = cli_env(db_url, telegram[1])
    ok(await gateway("projects", "add", "acme3", env=plain))
    default, acme3 = await asyncio.gather(
        gateway("projects", "show", "default", "--json", env=plain),
        gateway("projects", "show", "acme3", "--json", env=plain),
    )
    assert as_json(default)["transcription"] == "off"
    assert as_json(acme3)["transcription"] == "auto"
