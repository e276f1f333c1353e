"""`gateway identity | allowlist | audit | send` as real subprocesses against SQLite and
PostgreSQL, and their effect on a gateway that is already running."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_telegram import FakeTelegram
from gateway.storage.db import Database
from gateway.storage.secrets import SecretBox
from identity.store import IdentityStore
from tests.auxil import updates
from tests.auxil.cli import SECRET_KEY, as_json, cli_env, failed, gateway, ok, rows
from tests.auxil.harness import SECRET_KEY as HARNESS_SECRET_KEY
from tests.auxil.harness import TWILIO_NUMBER, Harness, eventually

CODE = re.compile(r"[A-Z0-9]{4}-[A-Z0-9]{4}")


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    url = await fake.start()
    try:
        yield fake, url
    finally:
        await fake.stop()


def _env(db_url: str, telegram_url: str) -> dict[str, str]:
    """Every channel configured (so `code` has instructions for each), and tables wide enough
    that no cell is cut short."""
    return cli_env(
        db_url,
        telegram_url,
        TWILIO_ACCOUNT_SID=fake_twilio.DEFAULT_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=fake_twilio.DEFAULT_AUTH_TOKEN,
        TWILIO_FROM_NUMBER=TWILIO_NUMBER,
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
        WHATSAPP_PHONE_NUMBER_ID=fake_whatsapp.DEFAULT_PHONE_NUMBER_ID,
        WHATSAPP_ACCESS_TOKEN=fake_whatsapp.DEFAULT_ACCESS_TOKEN,
        WHATSAPP_APP_SECRET=fake_whatsapp.DEFAULT_APP_SECRET,
        WHATSAPP_VERIFY_TOKEN="wa-verify-token-0123",
        WHATSAPP_API_BASE_URL="http://127.0.0.1:9",
        COLUMNS="200",
    )


def _brief(link: dict[str, Any]) -> tuple[str, str, str, str]:
    return link["channel"], link["sender"], link["app_user_id"], link["created_by"]


async def test_a_whatsapp_user_known_by_a_username_only_links_by_their_bsuid(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    _, tg_url = telegram
    env = _env(db_url, tg_url)
    # A WhatsApp user known by a username only: their business-scoped user id.
    bsuid = as_json(
        await gateway(
            "identity", "link", "whatsapp:US.13491208655302741918", "user-c", "--json", env=env
        )
    )
    assert _brief(bsuid) == ("whatsapp", "US.13491208655302741918", "user-c", "cli")
    failed(
        await gateway("identity", "link", "whatsapp:us.1349", "user-c", env=env),
        "whatsapp senders are a phone number",
    )


async def test_link_show_list_unlink_and_the_audit_trail(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    _, tg_url = telegram
    env = _env(db_url, tg_url)

    linked = as_json(await gateway("identity", "link", "telegram:111", "user-a", "--json", env=env))
    assert _brief(linked) == ("telegram", "111", "user-a", "cli")
    assert datetime.fromisoformat(linked["created_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    ok(await gateway("identity", "link", "sms:+15551230001", "user-a", env=env))
    # WhatsApp senders are known by digits alone: a leading + is dropped.
    ok(await gateway("identity", "link", "whatsapp:+15551230002", "user-b", env=env))

    (
        shown,
        everyone,
        of_a,
        on_sms,
        table,
        missing,
        bad_channel,
        bad_sms,
        no_colon,
    ) = await asyncio.gather(
        gateway("identity", "show", "telegram:111", "--json", env=env),
        gateway("identity", "list", "--json", env=env),
        gateway("identity", "list", "--app-user", "user-a", "--json", env=env),
        gateway("identity", "list", "--channel", "sms", "--json", env=env),
        gateway("identity", "list", env=env),
        gateway("identity", "show", "telegram:999", env=env),
        gateway("identity", "link", "fax:1", "user-a", env=env),
        gateway("identity", "link", "sms:5551230001", "user-a", env=env),
        gateway("identity", "show", "111", env=env),
    )
    assert _brief(as_json(shown)) == ("telegram", "111", "user-a", "cli")
    assert [_brief(x) for x in as_json(everyone)] == [
        ("sms", "+15551230001", "user-a", "cli"),
        ("telegram", "111", "user-a", "cli"),
        ("whatsapp", "15551230002", "user-b", "cli"),
    ]
    assert [(x["channel"], x["sender"]) for x in as_json(of_a)] == [
        ("sms", "+15551230001"),
        ("telegram", "111"),
    ]
    assert [(x["channel"], x["sender"]) for x in as_json(on_sms)] == [("sms", "+15551230001")]
    lines = ok(table).stdout.splitlines()
    assert any("whatsapp" in line and "15551230002" in line and "user-b" in line for line in lines)
    failed(missing, "telegram:999 is not linked", "'default'")
    failed(bad_channel, "unknown channel 'fax'")
    failed(bad_sms, "E.164", "'5551230001'")
    failed(no_colon, "'111' is not <channel>:<sender>")

    # Moving an identity to another app user needs --force.
    failed(
        await gateway("identity", "link", "telegram:111", "user-b", env=env),
        "telegram:111 is already linked to app user 'user-a'",
        "--force",
    )
    assert await rows(db_url, "SELECT app_user_id FROM identity_links WHERE sender = '111'") == [
        ("user-a",)
    ]
    moved = ok(await gateway("identity", "link", "telegram:111", "user-b", "--force", env=env))
    assert "user-b" in moved.stdout
    assert "moved telegram:111 from app user 'user-a'" in moved.stderr
    assert await rows(
        db_url, "SELECT app_user_id, created_by FROM identity_links WHERE sender = '111'"
    ) == [("user-b", "cli")]

    unlinked = as_json(await gateway("identity", "unlink", "telegram:111", "--json", env=env))
    assert unlinked == {"channel": "telegram", "sender": "111", "app_user_id": "user-b"}
    again, audit, newest_link = await asyncio.gather(
        gateway("identity", "unlink", "telegram:111", env=env),
        gateway("audit", "list", "--actor", "cli", "--json", env=env),
        gateway("audit", "list", "--action", "link.create", "--limit", "1", env=env),
    )
    failed(again, "telegram:111 is not linked")
    assert await rows(db_url, "SELECT sender FROM identity_links ORDER BY sender") == [
        ("+15551230001",),
        ("15551230002",),
    ]
    entries = as_json(audit)
    assert {e["actor"] for e in entries} == {"cli"}
    # Newest first; the refused link and the refused unlink wrote nothing.
    assert [(e["action"], e["subject"], e["details"]) for e in entries] == [
        ("link.remove", "telegram:111", {"app_user_id": "user-b"}),
        (
            "link.create",
            "telegram:111",
            {"app_user_id": "user-b", "previous_app_user_id": "user-a"},
        ),
        ("link.create", "whatsapp:15551230002", {"app_user_id": "user-b"}),
        ("link.create", "sms:+15551230001", {"app_user_id": "user-a"}),
        ("link.create", "telegram:111", {"app_user_id": "user-a"}),
    ]
    (row,) = [line for line in ok(newest_link).stdout.splitlines() if "link.create" in line]
    assert "cli" in row and "telegram:111" in row and "previous_app_user_id=user-a" in row


async def test_code_prints_instructions_and_is_stored_only_hashed(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, tg_url = telegram
    env = _env(db_url, tg_url)

    minted = as_json(await gateway("identity", "code", "user-a", "--json", env=env))
    code = minted["code"]
    assert CODE.fullmatch(code), code
    assert minted["app_user_id"] == "user-a"
    assert minted["instructions"] == {
        "telegram": f"https://t.me/{fake.bot_username}?start={code}",
        "sms": f"Text LINK {code} to {TWILIO_NUMBER}",
        "whatsapp": f"Send LINK {code} to the business number on WhatsApp",
    }
    left = datetime.fromisoformat(minted["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)
    assert fake.calls_to("getMe")

    table, unknown = await asyncio.gather(
        gateway("identity", "code", "user-b", "--ttl-minutes", "30", env=env),
        gateway("identity", "code", "user-b", "--project", "nope", env=env),
    )
    failed(unknown, "no project named 'nope'")
    second = CODE.search(ok(table).stdout)
    assert second is not None and second[0] != code
    for text in (f"https://t.me/{fake.bot_username}?start={second[0]}", f"LINK {second[0]}"):
        assert text in table.stdout
    assert "in 30 minutes" in table.stdout

    stored = await rows(db_url, "SELECT app_user_id, code_hash, created_by FROM link_codes")
    assert sorted((r[0], r[2]) for r in stored) == [("user-a", "cli"), ("user-b", "cli")]
    everything = repr(await rows(db_url, "SELECT * FROM link_codes"))
    for plain in (code, second[0]):
        assert plain not in everything and plain.replace("-", "") not in everything
    expected_hash = SecretBox([SECRET_KEY]).keyed_hashes("link-code", code.replace("-", ""))[0]
    assert expected_hash in {r[1] for r in stored}

    # The printed code is the real one: typed loosely, it links its app user.
    ((project_id,),) = await rows(db_url, "SELECT id FROM projects WHERE name = 'default'")
    db = Database(db_url, pool_size=1)
    identity = IdentityStore(db, SecretBox([SECRET_KEY]))
    try:
        redeemed = await identity.redeem((project_id, "telegram", "555"), code.lower(), None)
    finally:
        await identity.close()
        await db.close()
    assert redeemed.app_user_id == "user-a"


async def test_allowlist_add_list_remove(db_url: str, telegram: tuple[FakeTelegram, str]) -> None:
    _, tg_url = telegram
    env = _env(db_url, tg_url)

    assert (
        "added sms:+15551230001"
        in ok(await gateway("allowlist", "add", "sms:+15551230001", env=env)).stdout
    )
    again, added = await asyncio.gather(
        gateway("allowlist", "add", "sms:+15551230001", env=env),
        gateway("allowlist", "add", "telegram:42", "--json", env=env),
    )
    assert "already on the allowlist" in ok(again).stdout
    assert as_json(added) == {"channel": "telegram", "sender": "42", "added": True}
    listed = as_json(await gateway("allowlist", "list", "--json", env=env))
    assert [(e["channel"], e["sender"]) for e in listed] == [
        ("sms", "+15551230001"),
        ("telegram", "42"),
    ]

    assert (
        "removed sms:+15551230001"
        in ok(await gateway("allowlist", "remove", "sms:+15551230001", env=env)).stdout
    )
    gone, listed, audit, bad = await asyncio.gather(
        gateway("allowlist", "remove", "sms:+15551230001", env=env),
        gateway("allowlist", "list", env=env),
        gateway("audit", "list", "--json", env=env),
        gateway("allowlist", "add", "telegram:@someone", env=env),
    )
    failed(gone, "sms:+15551230001 is not on the allowlist")
    failed(bad, "telegram senders are a Telegram user id")
    assert "42" in ok(listed).stdout and "+15551230001" not in listed.stdout
    assert await rows(db_url, "SELECT channel, sender FROM allowlist") == [("telegram", "42")]
    assert [
        (e["actor"], e["action"], e["subject"])
        for e in as_json(audit)
        if e["action"].startswith("allowlist.")
    ] == [
        ("cli", "allowlist.remove", "sms:+15551230001"),
        ("cli", "allowlist.add", "telegram:42"),
        ("cli", "allowlist.add", "sms:+15551230001"),
    ]


async def test_send_needs_a_linked_channel_and_queues_to_it(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    _, tg_url = telegram
    env = _env(db_url, tg_url)

    failed(
        await gateway("send", "user-a", "hello", env=env),
        "'user-a' has no linked identity",
        "no_linked_channel",
    )
    ok(await gateway("identity", "link", "telegram:777", "user-a", env=env))
    queued = as_json(await gateway("send", "user-a", "Your report is ready", "--json", env=env))
    assert queued["id"].startswith("msg_")
    assert (queued["app_user_id"], queued["channel"], queued["sender"], queued["parts"]) == (
        "user-a",
        "telegram",
        "777",
        1,
    )

    on_sms, bad_channel, empty, unknown = await asyncio.gather(
        gateway("send", "user-a", "hi", "--channel", "sms", env=env),
        gateway("send", "user-a", "hi", "--channel", "fax", env=env),
        gateway("send", "user-a", "", env=env),
        gateway("send", "user-a", "hi", "--project", "nope", env=env),
    )
    failed(on_sms, "no linked identity on sms", "no_linked_channel")
    failed(bad_channel, "unknown channel 'fax'")
    failed(empty, "text")
    failed(unknown, "no project named 'nope'")
    assert await rows(
        db_url, "SELECT channel, account, chat, text, status FROM outbound_messages"
    ) == [("telegram", "default", "777", "Your report is ready", "queued")]


async def test_a_link_made_by_the_cli_applies_to_the_running_gateway(harness: Harness) -> None:
    status, _ = await harness.admin(
        "PATCH", "/api/v1/admin/projects/default", json={"unlinked_policy": "link_required"}
    )
    assert status == 200
    user_id = 123456789

    await harness.post_update(updates.message("hello?"))
    (reply,) = await harness.telegram.wait_for("sendMessage", 1)
    assert "link your account" in reply.params["text"]
    assert harness.core.requests == []

    env = cli_env(harness.db_url, harness.telegram_url, GATEWAY_SECRET_KEY=HARNESS_SECRET_KEY)
    ok(await gateway("identity", "link", f"telegram:{user_id}", "user-42", env=env))

    await harness.post_update(updates.message("what's new?"))
    await eventually(lambda: len(harness.core.requests) == 1, message="the turn reached the core")
    body = harness.core.requests[0]["body"]
    assert (body["user"], body["input"]) == ("user-42", "what's new?")
    assert body["metadata"]["identity_linked"] == "true"
    await harness.telegram.wait_for("sendMessage", 2)
