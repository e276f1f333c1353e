"""Fixtures: each database test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.dev.fake_app_webhook import AppWebhookReceiver
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.logs import configure_logging
from tests.auxil.databases import PostgresServer, sqlite_copy, sqlite_template
from tests.auxil.harness import HOOK_SECRET, Harness


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("INFO", "console")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.create()
    yield server
    server.drop()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_copy(_sqlite_template, tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("_postgres")
    server.require()
    await server.truncate()
    yield server.url


@pytest_asyncio.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


@pytest_asyncio.fixture
async def gw(db_url: str) -> AsyncIterator[Harness]:
    """The gateway with every channel configured: Telegram, Twilio and WhatsApp fakes."""
    h = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio(), whatsapp=FakeWhatsApp())
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


@pytest_asyncio.fixture
async def app_hook() -> AsyncIterator[AppWebhookReceiver]:
    """The app's lifecycle webhook: records what it receives, signed with `HOOK_SECRET`."""
    receiver = AppWebhookReceiver(HOOK_SECRET)
    await receiver.start()
    yield receiver
    await receiver.stop()
