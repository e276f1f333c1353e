"""Peer: a python-telegram-bot 22 webhook bot, written the way PTB's docs show.

PTB's "custom webhook" example: the application runs without an Updater, a small web server
(aiohttp here; the example uses starlette, any asyncio server will do) turns each POST into
``Update.de_json(...)`` and puts it on ``application.update_queue``; a ``MessageHandler`` calls the
core and replies with ``update.message.reply_text``. The Bot talks to the fake Bot API through its
``base_url``; ``concurrent_updates(256)`` and a 256-connection pool so it is not held back by
defaults. The webhook is answered as soon as the update is queued in memory: nothing is durable.

Environment: BENCH_SECRET, BENCH_CORE_URL, BENCH_TELEGRAM_URL, BENCH_TOKEN. Usage: ``PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import signal
import sys
from typing import Any

import aiohttp
from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

SECRET = os.environ.get("BENCH_SECRET", "bench-secret").encode()
CORE = os.environ.get("BENCH_CORE_URL", "http://127.0.0.1:8787").rstrip("/")
TELEGRAM = os.environ.get("BENCH_TELEGRAM_URL", "http://127.0.0.1:8081").rstrip("/")
TOKEN = os.environ.get("BENCH_TOKEN", "123:bench")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def output_text(body: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in body.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask the core, reply with its text."""
    assert update.message is not None and update.effective_user is not None
    core: aiohttp.ClientSession = context.bot_data["core"]
    async with core.post(
        f"{CORE}/v1/responses",
        json={
            "model": "balanced",
            "input": update.message.text,
            "user": f"telegram:{update.effective_user.id}",
        },
    ) as resp:
        body = await resp.json()
    await update.message.reply_text(output_text(body))


async def main(port: int) -> None:
    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{TELEGRAM}/bot")
        .request(HTTPXRequest(connection_pool_size=256))
        .concurrent_updates(256)
        .updater(None)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, answer))

    async def telegram(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, SECRET):
            return web.Response(status=403)
        await application.update_queue.put(
            Update.de_json(data=await request.json(), bot=application.bot)
        )
        return web.Response()

    webserver = web.Application()
    webserver.router.add_post("/webhooks/telegram/{account}", telegram)
    runner = web.AppRunner(webserver, access_log=None)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with application:
        application.bot_data["core"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256)
        )
        await application.bot.set_webhook(
            url=f"http://127.0.0.1:{port}/webhooks/telegram/default",
            allowed_updates=Update.ALL_TYPES,
            secret_token=SECRET.decode(),
        )
        await application.start()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await stop.wait()
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await application.stop()
        await application.bot_data["core"].close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
