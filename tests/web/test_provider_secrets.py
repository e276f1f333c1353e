"""Secrets an operator picks by hand (Telegram's webhook secret, WhatsApp's verify token) are at
least 16 characters: a clear 422 from the admin API, a one-line start-up error from the env."""

from __future__ import annotations

from gateway.dev import fake_whatsapp
from tests.auxil.cli import cli_env, failed, gateway
from tests.auxil.harness import Harness

API = "/api/v1/admin"
SHORT, LONG_ENOUGH = "a" * 15, "a" * 16


def _telegram(gw: Harness, account: str, secret: str) -> dict[str, str]:
    return {
        "channel": "telegram",
        "account": account,
        "token": "666666:weak-secret-bot-token-abcdefghijkl",
        "webhook_secret": secret,
        "api_base_url": gw.telegram_url,
    }


def _whatsapp(gw: Harness, account: str, verify_token: str, number: str) -> dict[str, str]:
    return {
        "channel": "whatsapp",
        "account": account,
        "phone_number_id": number,
        "access_token": fake_whatsapp.DEFAULT_ACCESS_TOKEN,
        "app_secret": fake_whatsapp.DEFAULT_APP_SECRET,
        "verify_token": verify_token,
        "api_base_url": gw.whatsapp_url,
    }


def _names_the_length(body: dict[str, object]) -> bool:
    text = str(body)
    return "16 characters" in text and SHORT not in text


async def test_fifteen_character_secrets_are_refused_sixteen_accepted(gw: Harness) -> None:
    accounts = f"{API}/projects/default/accounts"
    for short in (_telegram(gw, "tg-weak", SHORT), _whatsapp(gw, "wa-weak", SHORT, "555")):
        status, body = await gw.admin("POST", accounts, json=short)
        assert status == 422, body
        assert _names_the_length(body), body
    for fine in (_telegram(gw, "tg-ok", LONG_ENOUGH), _whatsapp(gw, "wa-ok", LONG_ENOUGH, "556")):
        status, body = await gw.admin("POST", accounts, json=fine)
        assert status == 201, body
    for path, field in (("telegram/tg-ok", "webhook_secret"), ("whatsapp/wa-ok", "verify_token")):
        status, body = await gw.admin("PATCH", f"{accounts}/{path}", json={field: SHORT})
        assert status == 422, body
        assert _names_the_length(body), body


async def test_a_short_secret_in_the_environment_stops_the_command(harness: Harness) -> None:
    for name in ("TELEGRAM_WEBHOOK_SECRET", "WHATSAPP_VERIFY_TOKEN"):
        env = cli_env(harness.db_url, harness.telegram_url, **{name: SHORT})
        message = failed(await gateway("projects", "list", env=env), name, "16 characters")
        assert SHORT not in message
