"""Fixtures of the CLI tests."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.dev.fake_telegram import FakeTelegram


@pytest.fixture
async def telegram() -> Any:
    fake = FakeTelegram()
    url = await fake.start()
    try:
        yield fake, url
    finally:
        await fake.stop()
