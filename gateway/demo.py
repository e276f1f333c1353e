"""`gateway demo`: a scripted Telegram conversation through a real gateway, fully offline.

Everything runs on loopback: the gateway (HTTP + worker) on a temporary SQLite database, the mock
responses core and a fake Telegram Bot API. Updates are posted exactly as Telegram would post them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.console import Console
from sqlalchemy import select

from gateway.config import Settings
from gateway.db.models import InboxEvent, Turn
from gateway.logs import configure_logging
from gateway.mock_core import MockCore
from gateway.runtime import Runtime
from gateway.testing.fake_telegram import FakeTelegram
from gateway.web.app import create_app

BOT_USERNAME = "gateway_demo_bot"
USER = {"id": 4242001, "is_bot": False, "first_name": "Ana", "language_code": "en"}
GROUP = -1001234567890


@dataclass
class Step:
    says: str
    chat_id: int = USER["id"]
    note: str = ""
    redeliver: bool = False
    expect_replies: int = 1


SCRIPT = [
    Step("/start"),
    Step("Hello! What can you do?"),
    Step("Tell me more", note="continues the conversation (previous_response_id)"),
    Step(
        "Tell me more",
        redeliver=True,
        expect_replies=0,
        note="Telegram redelivers the same update: stored once, answered once",
    ),
    Step(
        "#long=5000 Give me the long version",
        expect_replies=2,
        note="5,000 characters: split on a paragraph boundary into 2 messages",
    ),
    Step(
        "hello everyone",
        chat_id=GROUP,
        expect_replies=0,
        note="group message not addressed to the bot: recorded, not answered",
    ),
    Step(
        f"@{BOT_USERNAME} what is on the agenda?",
        chat_id=GROUP,
        note="group message that mentions the bot",
    ),
    Step("/new", note="start a fresh conversation"),
]


async def run_demo() -> int:
    configure_logging("ERROR", "console")
    console = Console()
    telegram, core = FakeTelegram(bot_username=BOT_USERNAME), MockCore()
    with tempfile.TemporaryDirectory(prefix="gateway-demo-") as tmp:
        tg_url, core_url = await telegram.start(), await core.start()
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
            secret_key=secrets.token_urlsafe(32),
            core_base_url=core_url,
            core_api_key="demo-project-key",
            telegram_bot_token="100001:DEMO-bot-token-not-a-real-one-xyz",
            telegram_webhook_secret="demo-webhook-secret",
            telegram_api_base_url=tg_url,
            poll_interval_seconds=0.05,
            log_level="ERROR",
        )
        runtime = Runtime(settings)
        await runtime.prepare()
        runner = web.AppRunner(create_app(runtime), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/webhooks/telegram/default"
        console.print(
            f"[bold]gateway demo[/] webhook {url}  mock core {core_url}  fake Bot API {tg_url}\n"
        )
        try:
            ok = await _play(console, url, runtime, telegram)
        finally:
            await runner.cleanup()
            await telegram.stop()
            await core.stop()
    console.print(
        "\n[bold green]demo finished: every step behaved as expected[/]"
        if ok
        else "\n[bold red]demo finished with unexpected results[/]"
    )
    return 0 if ok else 1


async def _play(console: Console, url: str, runtime: Runtime, telegram: FakeTelegram) -> bool:
    ok = True
    last_update: dict[str, Any] = {}
    update_id = 900_000_000
    async with aiohttp.ClientSession() as http:
        for step in SCRIPT:
            if step.redeliver:
                update = last_update
            else:
                update_id += 1
                update = _update(update_id, step)
            before = len(telegram.sent_texts())
            async with http.post(
                url,
                data=json.dumps(update),
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": "demo-webhook-secret",
                    "Content-Type": "application/json",
                },
            ) as resp:
                status = resp.status
            where = "group" if step.chat_id < 0 else "private"
            console.print(f"[cyan]Ana ({where})>[/] {step.says}   [dim](webhook -> {status})[/]")
            if step.note:
                console.print(f"   [dim]{step.note}[/]")
            replies = await _replies(telegram, before, step.expect_replies)
            for text in replies:
                shown = text if len(text) < 160 else f"{text[:120]}... [{len(text)} chars]"
                console.print(f"[green]bot>[/] {shown}")
            turn = await _turn(runtime, update["update_id"])
            if turn is not None and not step.redeliver:
                console.print(
                    f"   [dim]response {turn.response_id}  trace {turn.trace_id}  "
                    f"{turn.latency_ms} ms[/]"
                )
            if len(replies) != step.expect_replies or status != 200:
                console.print(
                    f"   [red]expected {step.expect_replies} replies, got {len(replies)}[/]"
                )
                ok = False
            last_update = update
    return ok


async def _replies(telegram: FakeTelegram, before: int, expected: int) -> list[str]:
    """Wait for the expected replies; when none are expected, wait long enough to be sure."""
    deadline = time.monotonic() + (10.0 if expected else 1.0)
    while time.monotonic() < deadline:
        if expected and len(telegram.sent_texts()) >= before + expected:
            break
        await asyncio.sleep(0.05)
    return telegram.sent_texts()[before:]


async def _turn(runtime: Runtime, update_id: int) -> Turn | None:
    async with runtime.db.session() as session:
        return await session.scalar(
            select(Turn)
            .join(InboxEvent, Turn.inbox_event_id == InboxEvent.id)
            .where(InboxEvent.event_id == str(update_id))
        )


def _update(update_id: int, step: Step) -> dict[str, Any]:
    group = step.chat_id < 0
    chat: dict[str, Any] = {"id": step.chat_id, "type": "supergroup" if group else "private"}
    chat.update({"title": "Project team"} if group else {"first_name": USER["first_name"]})
    message: dict[str, Any] = {
        "message_id": update_id % 10_000,
        "date": int(time.time()),
        "from": USER,
        "chat": chat,
        "text": step.says,
    }
    entities = []
    if step.says.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": len(step.says.split()[0])})
    if step.says.startswith("@"):
        entities.append({"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1})
    if entities:
        message["entities"] = entities
    return {"update_id": update_id, "message": message}
