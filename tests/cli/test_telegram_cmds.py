"""`gateway telegram set-webhook` without `--url`: the URL from `GATEWAY_PUBLIC_URL`."""

from __future__ import annotations

from gateway.dev.fake_telegram import FakeTelegram
from tests.auxil.cli import cli_env, failed, gateway, ok


async def test_set_webhook_defaults_to_the_public_url(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, tg_url = telegram
    env = cli_env(db_url, tg_url, GATEWAY_PUBLIC_URL="https://gw.example.com/")
    result = ok(await gateway("telegram", "set-webhook", "--account", "default", env=env))
    expected = "https://gw.example.com/webhooks/telegram/default"
    assert fake.webhook["url"] == expected
    assert f"webhook set: {expected}" in result.stdout
    assert "warning" not in result.stderr

    # --url still wins over the public URL.
    other = "https://tunnel.example.net/webhooks/telegram/default"
    ok(await gateway("telegram", "set-webhook", "--url", other, env=env))
    assert fake.webhook["url"] == other


async def test_set_webhook_without_url_or_public_url_is_one_line(
    db_url: str, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, tg_url = telegram
    env = cli_env(db_url, tg_url, GATEWAY_PUBLIC_URL=None)
    result = await gateway("telegram", "set-webhook", env=env)
    failed(result, "--url", "GATEWAY_PUBLIC_URL", "/webhooks/telegram/default")
    assert fake.calls == []
