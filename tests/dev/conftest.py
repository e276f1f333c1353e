"""Fixtures of the fakes' own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from gateway.dev.mock_core import MockCore


@pytest_asyncio.fixture
async def core() -> AsyncIterator[tuple[MockCore, str]]:
    mock = MockCore()
    url = await mock.start()
    try:
        yield mock, url
    finally:
        await mock.stop()
