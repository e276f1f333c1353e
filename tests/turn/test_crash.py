"""Kill -9 the process that holds the work, restart it: the user still gets exactly one reply."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from gateway.dev.fake_telegram import FakeTelegram, photo_sizes
from gateway.dev.mock_core import MockCore
from gateway.turn.core_input import data_url
from tests.auxil import updates
from tests.auxil.harness import BOT_TOKEN, SECRET_KEY, WEBHOOK_SECRET, eventually, free_port
from tests.auxil.process import GatewayProcess, gateway_env

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, str, MockCore, str]]:
    telegram, core = FakeTelegram(), MockCore()
    tg_url, core_url = await telegram.start(), await core.start()
    yield telegram, tg_url, core, core_url
    await telegram.stop()
    await core.stop()


async def _core_call_started(core: MockCore, proc: GatewayProcess) -> None:
    """Wait for the gateway's first core call; a loaded CI machine (test workers sharing two
    cores) can take several seconds, and a failure shows the gateway's own log."""
    try:
        await eventually(lambda: core.requests, timeout=30, message="core call started")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ngateway log:\n{proc.output()}") from None


async def _post(port: int, update: dict) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/webhooks/telegram/default",
            data=json.dumps(update),
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        ) as resp,
    ):
        return resp.status


async def test_sigkill_during_core_call_then_restart_gives_one_reply(
    db_url: str, fakes: tuple[FakeTelegram, str, MockCore, str], tmp_path: Path
) -> None:
    telegram, tg_url, core, core_url = fakes
    port = free_port()
    env = gateway_env(db_url, tg_url, core_url, PORT=port)
    first = GatewayProcess(["serve"], env, tmp_path / "first.log")
    second: GatewayProcess | None = None
    try:
        await asyncio.to_thread(first.wait_ready, port)
        update = updates.message("#slow=1.5 survive a crash")
        assert await _post(port, update) == 200
        # The worker has claimed the event and is waiting on the core: kill it there.
        await _core_call_started(core, first)
        first.kill()
        assert telegram.calls_to("sendMessage") == []

        second = GatewayProcess(["worker"], env, tmp_path / "second.log")
        await eventually(lambda: telegram.sent_texts(), timeout=20, message="reply after restart")
        await asyncio.sleep(2.5)  # longer than a lease: a duplicate would show by now
        assert telegram.sent_texts() == ["Echo: survive a crash"]
        keys = {r["headers"]["x-idempotency-key"] for r in core.requests}
        assert keys == {f"gw:default:telegram:default:{update['update_id']}"}
        assert len(core.requests) == 2  # the dead process's call and the retry, same key
    finally:
        first.close()
        if second is not None:
            second.close()
    # Nothing secret reached the logs of either process.
    for log in (first.output(), second.output() if second else ""):
        assert BOT_TOKEN not in log and SECRET_KEY not in log and WEBHOOK_SECRET not in log


async def test_sigkill_while_bot_api_is_down_then_restart_delivers_once(
    db_url: str, fakes: tuple[FakeTelegram, str, MockCore, str], tmp_path: Path
) -> None:
    telegram, tg_url, _core, core_url = fakes
    port = free_port()
    env = gateway_env(db_url, tg_url, core_url, PORT=port)
    telegram.fail_next("sendMessage", status=502, description="Bad Gateway", times=1000)
    first = GatewayProcess(["serve"], env, tmp_path / "first.log")
    second: GatewayProcess | None = None
    try:
        await asyncio.to_thread(first.wait_ready, port)
        assert await _post(port, updates.message("queued reply")) == 200
        await eventually(
            lambda: len(telegram.calls_to("sendMessage")) >= 2,
            message="send attempts while the Bot API is down",
        )
        first.kill()
        telegram.clear_failures()
        port2 = free_port()
        second = GatewayProcess(["serve"], {**env, "PORT": str(port2)}, tmp_path / "second.log")
        await asyncio.to_thread(second.wait_ready, port2)
        await eventually(lambda: telegram.sent_texts(), timeout=20)
        await asyncio.sleep(1.0)
        assert telegram.sent_texts() == ["Echo: queued reply"]
    finally:
        first.close()
        if second is not None:
            second.close()


async def test_sigterm_drains_in_flight_turn_before_exit(
    db_url: str, fakes: tuple[FakeTelegram, str, MockCore, str], tmp_path: Path
) -> None:
    telegram, tg_url, core, core_url = fakes
    port = free_port()
    proc = GatewayProcess(
        ["serve"], gateway_env(db_url, tg_url, core_url, PORT=port), tmp_path / "serve.log"
    )
    try:
        await asyncio.to_thread(proc.wait_ready, port)
        assert await _post(port, updates.message("#slow=1.5 finish me")) == 200
        await _core_call_started(core, proc)
        code = await asyncio.to_thread(proc.terminate, 30.0)
        assert code == 0, proc.output()
        # The turn in flight finished and its reply went out before the process exited.
        assert telegram.sent_texts() == ["Echo: finish me"]
    finally:
        proc.close()


PHOTO = b"\xff\xd8\xff\xe0" + bytes(996)
"""A JPEG of 1,000 bytes."""


async def test_crash_after_the_download_completes_the_turn_once(
    db_url: str, fakes: tuple[FakeTelegram, str, MockCore, str], tmp_path: Path
) -> None:
    """SIGKILL while the core works on a photo the worker fetched: the restarted worker fetches
    it again (bytes are not kept), asks the core with the same key and the same parts, and the
    user gets one answer."""
    telegram, tg_url, core, core_url = fakes
    file = telegram.add_file(PHOTO, "image/jpeg")
    port = free_port()
    env = gateway_env(db_url, tg_url, core_url, PORT=port)
    first = GatewayProcess(["serve"], env, tmp_path / "first.log")
    second: GatewayProcess | None = None
    try:
        await asyncio.to_thread(first.wait_ready, port)
        update = updates.media({"photo": photo_sizes(file)}, caption="#slow=1.5 survive")
        assert await _post(port, update) == 200
        await _core_call_started(core, first)
        assert file.downloads == 1
        first.kill()
        assert telegram.sent_texts() == []

        second = GatewayProcess(["worker"], env, tmp_path / "second.log")
        await eventually(lambda: telegram.sent_texts(), timeout=20, message="reply after restart")
        await asyncio.sleep(2.5)  # longer than a lease: a duplicate would show by now
        assert telegram.sent_texts() == ["Echo: survive [image image/jpeg 1,000 bytes]"]
        assert len(core.requests) == 2
        keys = {r["headers"]["x-idempotency-key"] for r in core.requests}
        assert keys == {f"gw:default:telegram:default:{update['update_id']}"}
        first_input, retry_input = (r["body"]["input"] for r in core.requests)
        assert first_input == retry_input
        assert retry_input[0]["content"] == [
            {"type": "input_text", "text": "#slow=1.5 survive"},
            {"type": "input_image", "image_url": data_url("image/jpeg", PHOTO), "detail": "auto"},
        ]
        assert file.downloads == 2
        assert len(core.conversations) == 1
        assert [len(turns) for turns in core.conversations.values()] == [1]  # one core turn
    finally:
        first.close()
        if second is not None:
            second.close()
