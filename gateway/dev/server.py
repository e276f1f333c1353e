"""What every fake provider server shares: serving its aiohttp app on loopback in the caller's
event loop, and stopping (safe to call twice)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp import web

LISTEN_BACKLOG = 1024
"""Connections a fake accepts at once: a burst of a thousand turns connects at the same moment,
and a SYN dropped from a short accept queue costs its sender a second (aiohttp's default: 128)."""


class LocalServer:
    """Subclasses build their routes in `make_app`; `base_url` is set while serving."""

    _runner: web.AppRunner | None = None
    base_url: str | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in the current loop; returns ``http://host:port``."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG).start()
        self._runner = runner
        self.base_url = f"http://{host}:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self.base_url = None
            await runner.cleanup()


class MessageRecordingServer(LocalServer):
    """A fake provider that records every call (`calls`) and every accepted message
    (`messages`)."""

    calls: list[Any]
    messages: list[dict[str, Any]]
    _failures: list[Any]
    flaky_probability: float = 0.0
    _random: random.Random

    def flaky(self, probability: float, *, seed: int = 0) -> None:
        """Answer a random share of message sends with 500 (reproducible with ``seed``)."""
        self.flaky_probability = probability
        self._random = random.Random(seed)

    def clear_failures(self) -> None:
        self._failures.clear()
        self.flaky_probability = 0.0

    def calls_to(self, resource: str) -> list[Any]:
        return [call for call in self.calls if call.resource == resource]

    async def wait_for_messages(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until ``count`` messages were accepted; fails loudly with what was seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() >= deadline:
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got {len(self.messages)}; "
                    f"all calls: {self.calls!r}"
                )
            await asyncio.sleep(0.01)
        return self.messages
