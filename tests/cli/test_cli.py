"""The real `gateway` command in subprocesses, against a migrated database and a fake Telegram.

The fake Bot API runs in the test's event loop, so every invocation runs in a thread
(`asyncio.to_thread`) to let the fake answer while the command waits.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway.dev import fake_twilio
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.storage.secrets import SecretBox, SecretKeyError, generate_key
from tests.auxil.cli import (
    ACME2_TOKEN,
    ACME_TOKEN,
    CORE_KEY,
    as_json,
    cli_env,
    failed,
    gateway,
    ok,
    rows,
    run_gateway,
)
from tests.auxil.harness import BOT_TOKEN, WEBHOOK_SECRET

HELP = {
    (): [
        "serve",
        "worker",
        "migrate",
        "mock-core",
        "demo",
        "projects",
        "accounts",
        "telegram",
        "twilio",
        "identity",
        "allowlist",
        "audit",
        "send",
    ],
    ("serve",): ["--port", "--host", "--no-worker"],
    ("worker",): ["background loops", "SIGTERM", "--metrics-port"],
    ("migrate",): ["migrations"],
    ("mock-core",): ["--port", "--host", "--delay", "--fail-status", "--api-key"],
    ("demo",): ["Telegram", "SMS", "WhatsApp"],
    ("projects",): ["add", "list", "show", "set"],
    ("projects", "add"): [
        "name <str>",
        "--model",
        "--custom-model",
        "--threading",
        "--feature",
        "--transcription",
        "--core-concurrency",
        "--core-url",
        "--core-key",
        "--json",
    ],
    ("projects", "list"): ["--json"],
    ("projects", "show"): ["name <str>", "--json"],
    ("projects", "set"): [
        "name <str>",
        "--model",
        "--custom-model",
        "--threading",
        "--feature",
        "--transcription",
        "--core-concurrency",
        "--core-url",
        "--core-key",
        "--unlinked-policy",
    ],
    ("accounts",): ["add", "list", "remove"],
    ("accounts", "add"): [
        "channel <str>",
        "--project",
        "--account",
        "--token",
        "--webhook-secret",
        "--api-base-url",
        "--account-sid",
        "--auth-token",
        "--from-number",
        "--messaging-service-sid",
        "--phone-number-id",
        "--access-token",
        "--app-secret",
        "--verify-token",
    ],
    ("twilio",): ["set-webhook"],
    ("twilio", "set-webhook"): ["--number", "--project", "--account", "--public-url", "--json"],
    ("accounts", "list"): ["--project", "--json"],
    ("accounts", "remove"): ["channel <str>", "--project", "--account", "--yes"],
    ("telegram",): ["set-webhook", "delete-webhook", "webhook-info", "poll"],
    ("telegram", "poll"): ["--project", "--account", "--no-worker", "--timeout", "getUpdates"],
    ("telegram", "set-webhook"): [
        "--url",
        "--project",
        "--account",
        "--drop-pending-updates",
        "--max-connections",
    ],
    ("telegram", "delete-webhook"): ["--project", "--account", "--drop-pending-updates"],
    ("telegram", "webhook-info"): ["--project", "--account", "--json"],
    ("secrets",): ["generate-key", "rotate"],
    ("keys",): ["create", "list", "revoke"],
    ("keys", "create"): ["--project", "--name", "--json"],
    ("keys", "list"): ["--project", "--json"],
    ("keys", "revoke"): ["ID"],
    ("verify",): ["--project", "--gateway-url", "--json"],
    ("trace",): ["--project", "--json"],
    ("support-bundle",): ["--output", "--project"],
    ("outbox",): ["list", "retry"],
    ("outbox", "list"): ["--status", "--project", "--limit", "--json"],
    ("outbox", "retry"): ["--all"],
    ("inbox",): ["list", "replay"],
    ("inbox", "list"): ["--status", "--json"],
    ("inbox", "replay"): ["--all"],
    ("secrets", "rotate"): ["GATEWAY_SECRET_KEY"],
    ("identity",): ["link", "unlink", "list", "show", "code"],
    ("identity", "link"): ["CHANNEL:SENDER", "APP_USER", "--force", "--project", "-p", "--json"],
    ("identity", "unlink"): ["CHANNEL:SENDER", "--project", "--json"],
    ("identity", "list"): ["--app-user", "--channel", "--project", "--json"],
    ("identity", "show"): ["CHANNEL:SENDER", "--project", "--json"],
    ("identity", "code"): ["APP_USER", "--ttl-minutes", "--project", "--json", "deep link"],
    ("allowlist",): ["add", "remove", "list"],
    ("allowlist", "add"): ["CHANNEL:SENDER", "--project", "--json"],
    ("allowlist", "remove"): ["CHANNEL:SENDER", "--project", "--json"],
    ("allowlist", "list"): ["--project", "--json"],
    ("audit",): ["list"],
    ("audit", "list"): ["--action", "--actor", "--limit", "--project", "--json", "newest first"],
    ("send",): ["APP_USER", "TEXT", "--channel", "--project", "--json", "outbox"],
}


def test_help_of_every_command(tmp_path: Path) -> None:
    # No database needed: --help must not touch one (it would be created here if it did).
    env = cli_env(f"sqlite+aiosqlite:///{tmp_path}/never.db", "http://127.0.0.1:9")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(
            zip(HELP, pool.map(lambda a: run_gateway((*a, "--help"), env, None), HELP), strict=True)
        )
    for command, expected in HELP.items():
        result = ok(results[command])
        assert result.stdout.startswith("Usage: gateway"), (command, result.stdout)
        for word in expected:
            assert word in result.stdout, (command, word, result.stdout)
    assert not (tmp_path / "never.db").exists()


COMMAND_SUMMARIES = """
import json, typer
from gateway.cli.main import app
def walk(command, path):
    yield path, (command.help or command.short_help or "").strip()
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))
print(json.dumps(list(walk(typer.main.get_command(app), ()))))
"""


@pytest.mark.parametrize("optimize", ["0", "2"])
def test_every_command_describes_itself_even_without_docstrings(optimize: str) -> None:
    """The image runs with PYTHONOPTIMIZE=2, which drops docstrings: a command's help text is
    given to typer, not taken from its function's docstring."""
    env = {
        **cli_env("sqlite+aiosqlite:///unused.db", "http://127.0.0.1:9"),
        "PYTHONOPTIMIZE": optimize,
    }
    done = subprocess.run(
        [sys.executable, "-c", COMMAND_SUMMARIES],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = json.loads(done.stdout)
    assert len(commands) > 50
    assert [path for path, summary in commands if not summary] == []
    summaries = {tuple(path): summary for path, summary in commands}
    assert summaries[("serve",)].startswith("Serve webhooks, health, metrics")
    assert summaries[("approvals", "deny")].startswith("Deny a pending approval")


async def test_projects_and_accounts(db_url: str, telegram: tuple[FakeTelegram, str]) -> None:
    fake, tg_url = telegram
    env = cli_env(db_url, tg_url)

    result = ok(await gateway("migrate", env=env))
    assert "already current" in result.stdout

    ok(await gateway("projects", "add", "acme", "--model", "simple", env=env))
    # Read-only commands and refused changes run side by side (fewer seconds of start-up).
    bad_name, duplicate, unknown, listing, not_a_tier, not_a_tier_set = await asyncio.gather(
        gateway("projects", "add", "Bad Name", env=env),
        gateway("projects", "add", "acme", env=env),
        gateway("projects", "show", "nope", env=env),
        gateway("projects", "list", "--json", env=env),
        gateway("projects", "add", "acme2", "--model", "gpt-4o", env=env),
        gateway("projects", "set", "acme", "--model", "fast", env=env),
    )
    failed(bad_name, "name", "[a-z0-9]")  # the pattern is printed as is, not eaten as markup
    failed(duplicate, "already exists")
    failed(unknown, "no project named 'nope'")
    failed(not_a_tier, "simple, balanced, complex", "'gpt-4o'", "--custom-model")
    failed(not_a_tier_set, "simple, balanced, complex", "'fast'")

    listed = as_json(listing)
    assert isinstance(listed, list)
    by_name = {p["name"]: p for p in listed}
    assert set(by_name) == {"acme", "default"}
    assert by_name["acme"]["model"] == "simple"
    assert by_name["acme"]["threading"] == "conversation"
    assert by_name["acme"]["feature"] == "channel_gateway"
    assert [a["account"] for a in by_name["default"]["accounts"]] == ["default"]

    ok(await gateway(
        "projects", "set", "acme", "--model", "smart", "--custom-model",
        "--threading", "previous_response", "--feature", "acme_chat", env=env,
    ))  # fmt: skip
    shown = as_json(await gateway("projects", "show", "acme", "--json", env=env))
    assert (shown["name"], shown["model"], shown["accounts"]) == ("acme", "smart", [])
    assert (shown["threading"], shown["feature"]) == ("previous_response", "acme_chat")

    # Token from stdin (not a tty, no --token) and with `--token -`.
    added = await gateway(
        "accounts",
        "add",
        "telegram",
        "--project",
        "acme",
        "--account",
        "acme-bot",
        "--webhook-secret",
        "acme-webhook-secret",
        "--api-base-url",
        tg_url,
        env=env,
        input=ACME_TOKEN + "\n",
    )
    ok(added)
    assert "acme-bot" in added.stdout
    added2 = await gateway(
        "accounts",
        "add",
        "telegram",
        "--project",
        "acme",
        "--account",
        "acme-bot2",
        "--token",
        "-",
        "--json",
        env=env,
        input=ACME2_TOKEN + "\n",
    )
    assert json.loads(ok(added2).stdout)["secrets_set"] == ["token", "webhook_secret"]
    for result in (added, added2):
        for token in (ACME_TOKEN, ACME2_TOKEN, ACME_TOKEN.split(":")[1], ACME2_TOKEN.split(":")[1]):
            assert token not in result.stdout + result.stderr
        assert "acme-webhook-secret" not in result.stdout + result.stderr

    accounts = as_json(await gateway("accounts", "list", "--project", "acme", "--json", env=env))
    assert [(a["channel"], a["account"], a["project"]) for a in accounts] == [
        ("telegram", "acme-bot", "acme"),
        ("telegram", "acme-bot2", "acme"),
    ]
    assert all(a["secrets_set"] == ["token", "webhook_secret"] for a in accounts)
    assert accounts[0]["config"] == {"api_base_url": tg_url}
    assert ACME_TOKEN not in json.dumps(accounts)

    # The stored token and secret are the ones given: Telegram sees them on set-webhook.
    ok(
        await gateway(
            "telegram",
            "set-webhook",
            "--project",
            "acme",
            "--account",
            "acme-bot",
            "--url",
            "https://gw.example.com/webhooks/telegram/acme-bot",
            env=env,
        )
    )
    (call,) = fake.calls_to("setWebhook")
    assert call.token == ACME_TOKEN
    assert fake.webhook["secret_token"] == "acme-webhook-secret"

    ok(
        await gateway(
            "accounts",
            "remove",
            "telegram",
            "--project",
            "acme",
            "--account",
            "acme-bot",
            "--yes",
            env=env,
        )
    )
    remaining = await rows(db_url, "SELECT channel, account FROM channel_accounts ORDER BY account")
    assert remaining == [("telegram", "acme-bot2"), ("telegram", "default")]
    # Secrets are stored encrypted.
    stored = " ".join(map(repr, await rows(db_url, "SELECT * FROM channel_accounts")))
    assert ACME2_TOKEN not in stored and BOT_TOKEN not in stored


async def test_telegram_webhook_commands(db_url: str, telegram: tuple[FakeTelegram, str]) -> None:
    fake, tg_url = telegram
    env = cli_env(db_url, tg_url)
    url = "https://gw.example.com/webhooks/telegram/default"

    result = ok(await gateway("telegram", "set-webhook", "--url", url, env=env))
    assert url in result.stdout
    assert fake.webhook["url"] == url
    assert fake.webhook["secret_token"] == WEBHOOK_SECRET
    assert {"message", "callback_query"} <= set(fake.webhook["allowed_updates"])
    assert fake.webhook["drop_pending_updates_seen"] is False
    (call,) = fake.calls_to("setWebhook")
    assert call.token == BOT_TOKEN
    assert str(call.params.get("drop_pending_updates", False)).lower() in ("false", "none")

    fake.webhook["pending_update_count"] = 7
    info = as_json(await gateway("telegram", "webhook-info", "--json", env=env))
    assert info["url"] == url
    assert info["pending_update_count"] == 7
    assert {"message", "callback_query"} <= set(info["allowed_updates"])

    ok(await gateway("telegram", "set-webhook", "--url", url, "--drop-pending-updates", env=env))
    assert fake.webhook["drop_pending_updates_seen"] is True
    assert fake.webhook["pending_update_count"] == 0

    result = ok(await gateway("telegram", "delete-webhook", env=env))
    assert "deleted" in result.stdout
    assert fake.webhook["url"] == ""
    assert [c.method for c in fake.calls if c.status == 200] == [
        "setWebhook",
        "getWebhookInfo",
        "setWebhook",
        "deleteWebhook",
    ]

    # A token Telegram does not know: a clear error, no traceback, the token not printed.
    other = FakeTelegram(valid_tokens={"other"})
    other_url = await other.start()
    try:
        result = await gateway(
            "telegram", "set-webhook", "--url", url, env=cli_env(db_url, other_url)
        )
        failed(result, "Telegram rejected the bot token", "'default'")
        assert BOT_TOKEN not in result.stdout + result.stderr
        assert [c.method for c in other.calls] == ["setWebhook"]
        assert other.webhook["url"] == ""
    finally:
        await other.stop()


OLD_KEY, NEW_KEY = generate_key(), generate_key()


async def test_secrets_rotate(db_url: str, telegram: tuple[FakeTelegram, str]) -> None:
    fake, tg_url = telegram
    # No TELEGRAM_WEBHOOK_SECRET: the default account's secret is derived (from the newest key).
    old = cli_env(
        db_url,
        tg_url,
        GATEWAY_SECRET_KEY=OLD_KEY,
        TELEGRAM_WEBHOOK_SECRET=None,
        GENAUG_API_KEY=CORE_KEY,
    )
    both = {**old, "GATEWAY_SECRET_KEY": f"{NEW_KEY},{OLD_KEY}"}
    new = {**old, "GATEWAY_SECRET_KEY": NEW_KEY}
    url = "https://gw.example.com/webhooks/telegram/default"

    ok(
        await gateway(
            "accounts",
            "add",
            "telegram",
            "--account",
            "second",
            "--token",
            "-",
            env=old,
            input=ACME_TOKEN + "\n",
        )
    )
    ok(await gateway("telegram", "set-webhook", "--url", url, env=old))
    registered = fake.webhook["secret_token"]
    assert registered

    # Before rotation, the new key alone cannot read what the old key wrote.
    failed(await gateway("accounts", "list", "--json", env=new), "GATEWAY_SECRET_KEY")

    result = ok(await gateway("secrets", "rotate", env=both))
    assert "re-encrypted 3" in result.stdout  # two accounts and the default project's core key

    # Every stored secret now decrypts with the new key alone, and not with the old one.
    secret_rows = await rows(db_url, "SELECT secrets_encrypted FROM channel_accounts")
    key_rows = await rows(db_url, "SELECT core_key_encrypted FROM projects")
    stored = [r[0] for r in secret_rows + key_rows if r[0]]
    assert len(stored) == 3
    decrypted = [SecretBox([NEW_KEY]).decrypt(token) for token in stored]
    assert sorted(d["token"] for d in decrypted if "token" in d) == sorted([ACME_TOKEN, BOT_TOKEN])
    assert {"core_api_key": CORE_KEY} in decrypted
    for token in stored:
        with pytest.raises(SecretKeyError):
            SecretBox([OLD_KEY]).decrypt(token)

    accounts = as_json(await gateway("accounts", "list", "--json", env=new))
    assert [a["account"] for a in accounts] == ["default", "second"]
    # The derived webhook secret did not change with the key: Telegram keeps sending the one it
    # was given, so the webhook must keep accepting it.
    ok(await gateway("telegram", "set-webhook", "--url", url, env=new))
    assert fake.webhook["secret_token"] == registered

    wrong = generate_key()
    line = failed(
        await gateway("secrets", "rotate", env={**old, "GATEWAY_SECRET_KEY": wrong}),
        "GATEWAY_SECRET_KEY",
    )
    assert wrong not in line
    # The failed rotation changed nothing: the new key still reads everything.
    assert [r[0] for r in await rows(db_url, "SELECT secrets_encrypted FROM channel_accounts")] == [
        r[0] for r in secret_rows
    ]


async def test_sms_and_whatsapp_accounts_and_twilio_set_webhook(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    _, tg_url = telegram
    twilio = FakeTwilio(phone_numbers=("+15005550006",))
    twilio_url = await twilio.start()
    env = cli_env(db_url, tg_url, GATEWAY_PUBLIC_URL="https://gw.example.com")
    try:
        ok(await gateway("migrate", env=env))
        # Secrets from stdin, never on the command line; the auth token is never printed.
        result = await gateway(
            "accounts", "add", "sms", "--account-sid", fake_twilio.DEFAULT_ACCOUNT_SID,
            "--from-number", "+15005550006", "--api-base-url", twilio_url, "--json",
            env=env, input=fake_twilio.DEFAULT_AUTH_TOKEN + "\n",
        )  # fmt: skip
        added = as_json(result)
        assert added["webhook_path"] == "/webhooks/twilio/default"
        assert added["secrets_set"] == ["auth_token"]
        assert added["config"]["from_number"] == "+15005550006"
        assert fake_twilio.DEFAULT_AUTH_TOKEN not in result.stdout + result.stderr

        result = await gateway(
            "accounts", "add", "whatsapp", "--phone-number-id", "106540352242922", "--json",
            env=env, input="wa-access-token\nwa-app-secret\nwa-verify-token-0123\n",
        )  # fmt: skip
        added = as_json(result)
        assert added["secrets_set"] == ["access_token", "app_secret", "verify_token"]
        stored = await rows(db_url, "SELECT secrets_encrypted FROM channel_accounts")
        assert all("wa-app-secret" not in str(row) for row in stored)

        # What does not belong to the channel is refused with a clear line.
        result = await gateway(
            "accounts", "add", "sms", "--account", "other", "--phone-number-id", "1",
            "--account-sid", fake_twilio.DEFAULT_ACCOUNT_SID, "--from-number", "+15005550006",
            env=env, input="token\n",
        )  # fmt: skip
        failed(result, "phone_number_id")

        result = ok(await gateway("twilio", "set-webhook", "--number", "+15005550006", env=env))
        number = twilio.numbers["+15005550006"]
        assert number.sms_url == "https://gw.example.com/webhooks/twilio/default"
        assert number.status_callback == "https://gw.example.com/webhooks/twilio/default/status"
        failed(
            await gateway("twilio", "set-webhook", "--number", "+15551234567", env=env),
            "+15551234567",
        )
    finally:
        await twilio.stop()


def test_demo_plays_every_channel_and_exits_zero() -> None:
    result = ok(
        run_gateway(("demo",), cli_env("sqlite+aiosqlite:///unused.db", "http://127.0.0.1:9"), None)
    )
    for heading in ("-- telegram --", "-- sms --", "-- whatsapp --"):
        assert heading in result.stdout
    assert "every step behaved as expected" in result.stdout
    assert "told how to link" in result.stdout  # it starts with an unlinked user refused
    assert "user app-user-ana" in result.stdout  # then linked with a code
