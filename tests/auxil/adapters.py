"""Adapters wired to a running fake provider API, for tests that call an adapter directly."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from channels.telegram import TelegramAdapter
from channels.whatsapp import WhatsAppAdapter
from gateway.dev import fake_whatsapp
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.messages import AccountInfo


@contextlib.asynccontextmanager
async def whatsapp_on_fake() -> AsyncIterator[tuple[WhatsAppAdapter, FakeWhatsApp]]:
    """A WhatsApp Cloud API adapter sending to a started `FakeWhatsApp`; both closed after."""
    fake = FakeWhatsApp()
    await fake.start()
    adapter = WhatsAppAdapter(
        AccountInfo(
            project="default",
            channel="whatsapp",
            account="default",
            secrets={
                "access_token": fake_whatsapp.DEFAULT_ACCESS_TOKEN,
                "app_secret": fake_whatsapp.DEFAULT_APP_SECRET,
                "verify_token": "verify-token-0123456789",
            },
            config={"phone_number_id": fake.phone_number_id, "api_base_url": fake.base_url},
        )
    )
    try:
        yield adapter, fake
    finally:
        await adapter.close()
        await fake.stop()


def offline_telegram() -> TelegramAdapter:
    """A Telegram adapter for parsing only (no Bot API behind it)."""
    return TelegramAdapter(
        AccountInfo(
            project="p",
            channel="telegram",
            account="main",
            secrets={"token": "1:x", "webhook_secret": "s"},
            config={},
        )
    )
