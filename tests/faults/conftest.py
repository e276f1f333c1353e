"""Fixtures of the fault tests: a fresh PostgreSQL database per test, and the fakes (Bot API and
responses core) served from the test's own event loop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from gateway.dev.mock_core import MockCore
from tests.auxil.databases import PostgresServer
from tests.auxil.flaky_telegram import FlakyTelegram
from tests.auxil.pgcluster import PgCluster


@pytest.fixture(scope="session")
def fault_postgres() -> Iterator[PgCluster | None]:
    """A PostgreSQL server of the fault tests' own (None when the server binaries are missing:
    then the shared test server is used)."""
    cluster = PgCluster()
    if cluster.bin is None:
        yield None
        return
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_url(fault_postgres: PgCluster | None) -> Iterator[str]:
    """A fresh, migrated database per test: on the fault tests' own server, else on the shared
    one (`TEST_POSTGRES_URL`); skipped without PostgreSQL, failed under CI."""
    if fault_postgres is None:
        server = PostgresServer()
        server.create()
        server.require()
        try:
            yield server.url
        finally:
            server.drop()
        return
    name = f"faults_{uuid.uuid4().hex[:10]}"
    url = fault_postgres.new_database(name)
    try:
        yield url
    finally:
        fault_postgres.drop_database(name)


@dataclass
class Fakes:
    telegram: FlakyTelegram
    telegram_url: str
    core: MockCore
    core_url: str

    @property
    def core_port(self) -> int:
        port = urlsplit(self.core_url).port
        assert port is not None
        return port


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[Fakes]:
    telegram, core = FlakyTelegram(), MockCore()
    fakes = Fakes(telegram, await telegram.start(), core, await core.start())
    try:
        yield fakes
    finally:
        await telegram.stop()
        await core.stop()
