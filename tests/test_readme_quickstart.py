"""The README's quickstart, run as written: every fenced command of the section, with the real
CLI, in a fresh directory on the default SQLite database and generated key file, against the fake
Bot API, Twilio and WhatsApp and the mock core started by the quickstart's own `gateway mock-core`.

A message sent to the fake bot must come back with the mock core's answer, over long polling (with
the default `link_required` policy and `gateway identity code`) and over a webhook (with the
quickstart's `channel_user`). A command that does not exist or an option that is wrong fails here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from inspect import signature
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest_asyncio

from gateway.cli.main import mock_core
from gateway.config import Settings
from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from tests.auxil import updates
from tests.auxil.harness import BOT_TOKEN, free_port
from tests.auxil.quickstart import (
    Background,
    Shell,
    clean_env,
    http_ok,
    quickstart_blocks,
    wait_until,
)

SMS_NUMBER = "+15551234567"  # the number the quickstart's SMS paragraph uses
CODE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}\b")
ME: dict[str, Any] = {"id": 424242, "is_bot": False, "first_name": "Newcomer"}
FRIEND: dict[str, Any] = {"id": 434343, "is_bot": False, "first_name": "Friend"}


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeTwilio, FakeWhatsApp]]:
    telegram, twilio, whatsapp = (
        FakeTelegram(),
        FakeTwilio(phone_numbers=[SMS_NUMBER]),
        FakeWhatsApp(),
    )
    for fake in (telegram, twilio, whatsapp):
        await fake.start()
    try:
        yield telegram, twilio, whatsapp
    finally:
        for fake in (telegram, twilio, whatsapp):
            await fake.stop()


def block(blocks: list[list[str]], needle: str) -> list[str]:
    """The one block with a line containing `needle`; taken out of `blocks`."""
    found = [b for b in blocks if any(needle in line for line in b)]
    assert len(found) == 1, f"expected one quickstart block with {needle!r}, got {found}"
    blocks.remove(found[0])
    return found[0]


async def answered(telegram: FakeTelegram, chat: int, seen: int, pattern: str) -> str:
    """Wait for the bot's next message to `chat` (after `seen` of them); it must match."""
    texts: list[str] = []

    def arrived() -> bool:
        texts[:] = telegram.sent_texts(chat)
        return len(texts) > seen

    await wait_until(arrived, f"a reply to chat {chat}")
    assert re.search(pattern, texts[seen]), texts
    return texts[seen]


async def test_every_quickstart_command_runs_against_the_fakes(
    tmp_path: Path, fakes: tuple[FakeTelegram, FakeTwilio, FakeWhatsApp]
) -> None:
    telegram, twilio, whatsapp = fakes
    blocks = quickstart_blocks()
    core_port, web_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    env = clean_env() | {
        # Where the fakes are, and a quiet log; everything else is what the quickstart sets.
        "TELEGRAM_API_BASE_URL": str(telegram.base_url),
        "TWILIO_API_BASE_URL": str(twilio.base_url),
        "WHATSAPP_API_BASE_URL": str(whatsapp.base_url),
        "GENAUG_API_BASE_URL": f"http://127.0.0.1:{core_port}",
        "PORT": str(web_port),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    shell = Shell(
        cwd=tmp_path,
        env=env,
        values={
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "GATEWAY_PUBLIC_URL": public_url,
            "TWILIO_ACCOUNT_SID": fake_twilio.DEFAULT_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": fake_twilio.DEFAULT_AUTH_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": fake_whatsapp.DEFAULT_PHONE_NUMBER_ID,
            "WHATSAPP_ACCESS_TOKEN": fake_whatsapp.DEFAULT_ACCESS_TOKEN,
            "WHATSAPP_APP_SECRET": fake_whatsapp.DEFAULT_APP_SECRET,
        },
        extra_args={("mock-core",): ["--port", str(core_port), "--quiet"]},
    )

    async def core_ready(proc: Background) -> None:
        await wait_until(http_ok(f"http://127.0.0.1:{core_port}/health"), "the mock core", proc)

    async def web_ready(proc: Background) -> None:
        await wait_until(http_ok(f"{public_url}/health/ready"), "gateway serve", proc)

    async def polling(proc: Background) -> None:
        await wait_until(lambda: bool(telegram.calls_to("getUpdates")), "getUpdates", proc)

    shell.on_start.update(
        {("mock-core",): core_ready, ("serve",): web_ready, ("telegram", "poll"): polling}
    )
    core, setup = block(blocks, "mock-core"), block(blocks, "TELEGRAM_BOT_TOKEN")
    poll = block(blocks, "telegram poll")
    tunnel, webhook = block(blocks, "cloudflared"), block(blocks, "telegram set-webhook")
    link, sms, wa = (
        block(blocks, "identity code"),
        block(blocks, "twilio"),
        block(blocks, "WHATSAPP_"),
    )
    assert blocks == [], f"quickstart blocks this test does not run: {blocks}"

    try:
        await shell.run_block(core)
        # Here on a free port; as typed, `mock-core` listens where the gateway looks by default.
        default_core = Settings.model_fields["core_base_url"].default
        assert urlsplit(default_core).port == signature(mock_core).parameters["port"].default
        await shell.run_block(setup)

        # Long polling with the default policy, `link_required`: link yourself, then chat.
        policy = shell.env.pop("GATEWAY_UNLINKED_POLICY")
        await shell.run_block(poll)
        stop_poll = shell.background[-1]
        telegram.queue_update(updates.message("hello", chat_id=ME["id"], user=ME))
        await answered(telegram, ME["id"], 0, "link your account first")
        [printed] = await shell.run_block(link)
        code = CODE.search(printed)
        assert code is not None, printed
        telegram.queue_update(updates.message(f"/link {code.group()}", chat_id=ME["id"], user=ME))
        await answered(telegram, ME["id"], 1, "Your account is linked")
        telegram.queue_update(updates.message("hello again", chat_id=ME["id"], user=ME))
        await answered(telegram, ME["id"], 2, "^Echo: hello again$")
        assert await stop_poll.stop() == 0, stop_poll.output()
        assert (tmp_path / ".gateway-secret.key").exists()  # no GATEWAY_SECRET_KEY needed

        # Webhooks through the tunnel (localhost here), with the quickstart's `channel_user`.
        shell.env["GATEWAY_UNLINKED_POLICY"] = policy
        await shell.run_block(tunnel)
        assert shell.tunnel_target is not None
        assert urlsplit(shell.tunnel_target).port == Settings.model_fields["port"].default
        await shell.run_block(webhook)
        registered = telegram.webhook
        assert registered["url"] == f"{public_url}/webhooks/telegram/default"
        await post_update(registered, updates.message("hi", chat_id=FRIEND["id"], user=FRIEND))
        await answered(telegram, FRIEND["id"], 0, "^Echo: hi$")
        assert await shell.background[-1].stop() == 0

        # SMS: the number now points at the gateway, and a text gets the core's answer.
        await shell.run_block(sms)
        [number] = [n for n in twilio.numbers.values() if n.phone_number == SMS_NUMBER]
        assert number.sms_url == f"{public_url}/webhooks/twilio/default"
        await post_sms(number.sms_url, fake_twilio.inbound_form(to=SMS_NUMBER, body="hi by SMS"))
        await wait_until(lambda: twilio.sent_bodies() == ["Echo: hi by SMS"], "the SMS reply")
        assert await shell.background[-1].stop() == 0

        # WhatsApp: serve answers Meta's verify handshake at the URL the quickstart gives.
        outputs = await shell.run_block(wa)
        assert outputs == ["42"], outputs
        assert await shell.background[-1].stop() == 0
    finally:
        shell.stop_all()


async def post_update(registered: dict[str, object], update: dict[str, object]) -> None:
    """What Telegram does with a registered webhook: POST the update with the secret token."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": str(registered["secret_token"])}
    await post(str(registered["url"]), headers, json=update)


async def post_sms(url: str, form: dict[str, str]) -> None:
    """What Twilio does: POST the form, signed over the public URL."""
    await post(url, {"X-Twilio-Signature": fake_twilio.sign(url, form)}, data=form)


async def post(url: str, headers: dict[str, str], **body: object) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, headers=headers, **body) as response,  # type: ignore[arg-type]
    ):
        assert response.status == 200, await response.text()
