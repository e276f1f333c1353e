"""Peer: an aiogram 3 webhook bot, written the way aiogram's docs show.

aiogram's aiohttp webhook recipe: ``SimpleRequestHandler(dispatcher, bot, secret_token=...)``
registered on an aiohttp app, ``setup_application`` for the dispatcher's start-up and shutdown,
``web.run_app``. A message handler calls the core and ``message.answer``s with its text. The Bot's
``AiohttpSession`` talks to the fake Bot API (``TelegramAPIServer.from_base``). By default the
handler answers the webhook at once and handles the update in a background task: in memory,
nothing is durable.

Environment: BENCH_SECRET, BENCH_CORE_URL, BENCH_TELEGRAM_URL, BENCH_TOKEN. Usage: ``PORT``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

SECRET = os.environ.get("BENCH_SECRET", "bench-secret")
CORE = os.environ.get("BENCH_CORE_URL", "http://127.0.0.1:8787").rstrip("/")
TELEGRAM = os.environ.get("BENCH_TELEGRAM_URL", "http://127.0.0.1:8081").rstrip("/")
TOKEN = os.environ.get("BENCH_TOKEN", "123:bench")
WEBHOOK_PATH = "/webhooks/telegram/default"

router = Router()


def output_text(body: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in body.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


@router.message(F.text)
async def answer(message: Message, core: aiohttp.ClientSession) -> None:
    """Ask the core, reply with its text."""
    assert message.from_user is not None
    async with core.post(
        f"{CORE}/v1/responses",
        json={
            "model": "balanced",
            "input": message.text,
            "user": f"telegram:{message.from_user.id}",
        },
    ) as resp:
        body = await resp.json()
    await message.answer(output_text(body))


def main(port: int) -> None:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(TELEGRAM)))
    dispatcher = Dispatcher()
    dispatcher.include_router(router)

    async def on_startup(bot: Bot) -> None:
        dispatcher["core"] = aiohttp.ClientSession()
        await bot.set_webhook(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret_token=SECRET)

    async def on_shutdown() -> None:
        await dispatcher["core"].close()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)

    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=SECRET).register(
        app, path=WEBHOOK_PATH
    )
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
