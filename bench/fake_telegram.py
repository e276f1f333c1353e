"""A minimal, fast fake Telegram Bot API for the benchmark (aiohttp, one process on the load core).

Serves ``/bot<token>/<method>`` with JSON, form or multipart bodies (python-telegram-bot sends
forms, aiogram forms, the bare worker JSON). Every ``sendMessage`` is recorded as (chat_id, text,
arrival time on the shared monotonic clock), in arrival order; other methods are counted and
answered ``true`` (``getMe`` with a bot user). The harness reads the records over HTTP:

- ``GET /bench/stats``: counts per method, and the arrival time of the first and last send;
- ``GET /bench/messages``: every recorded send, in arrival order;
- ``GET /bench/nth?n=N``: arrival time of the N-th send (null until it arrived);
- ``POST /bench/reset``: forget everything.

Usage: ``python bench/fake_telegram.py PORT``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from aiohttp import web

BOT_USER = {"id": 777000, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
_JSON = "application/json"


class FakeBotApi:
    def __init__(self) -> None:
        self.sends: list[tuple[int, str, float]] = []
        self.calls: Counter[str] = Counter()

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024**2)
        app.router.add_post("/bot{token}/{method}", self.dispatch)
        app.router.add_get("/bot{token}/{method}", self.dispatch)
        app.router.add_get("/bench/stats", self.stats)
        app.router.add_get("/bench/messages", self.messages)
        app.router.add_get("/bench/nth", self.nth)
        app.router.add_post("/bench/reset", self.reset)
        return app

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == _JSON:
            body = await request.json()
            return body if isinstance(body, dict) else {}
        if request.can_read_body:
            return dict(await request.post())
        return dict(request.query)

    async def dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        self.calls[method] += 1
        params = await self._params(request)
        result: Any = True
        if method == "sendmessage":
            try:
                chat_id = int(params["chat_id"])
                text = str(params["text"])
            except (KeyError, TypeError, ValueError):
                return _answer(
                    {"ok": False, "error_code": 400, "description": "Bad Request"}, status=400
                )
            self.sends.append((chat_id, text, time.monotonic()))
            result = {
                "message_id": len(self.sends),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": BOT_USER,
                "text": text,
            }
        elif method == "getme":
            result = {
                **BOT_USER,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        return _answer({"ok": True, "result": result})

    async def stats(self, request: web.Request) -> web.Response:
        sends = self.sends
        return _answer(
            {
                "send_message": len(sends),
                "calls": dict(self.calls),
                "first_at": sends[0][2] if sends else None,
                "last_at": sends[-1][2] if sends else None,
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        return _answer({"messages": self.sends})

    async def nth(self, request: web.Request) -> web.Response:
        n = int(request.query["n"])
        at = self.sends[n - 1][2] if 0 < n <= len(self.sends) else None
        return _answer({"n": n, "at": at, "send_message": len(self.sends)})

    async def reset(self, request: web.Request) -> web.Response:
        self.sends = []
        self.calls = Counter()
        return _answer({"ok": True})


def _answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type=_JSON)


def main() -> None:
    web.run_app(
        FakeBotApi().make_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
        backlog=1024,  # a burst's connections at once (aiohttp's default of 128 drops SYNs)
    )


if __name__ == "__main__":
    main()
