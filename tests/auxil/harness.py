"""A running gateway on loopback with a fake Telegram Bot API and the mock core behind it."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from gateway.config import Settings
from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.runtime import Runtime
from gateway.storage.db.models import InboxEvent, OutboundMessage, Project, Turn
from gateway.web.app import create_app

BOT_TOKEN = "123456:TEST-bot-token-abcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "tg-webhook-secret_42"
HOOK_SECRET = "whsec-test-app-hooks"
"""The secret signing lifecycle events to the app webhook receiver of the tests (`app_hook`)."""
ADMIN_KEY = "admin-key-for-tests-0123456789abcdefghij"
"""32+ characters: `gateway serve` refuses a shorter global admin key."""
CORE_KEY = "core-project-key-for-tests"
SECRET_KEY = "_d01m-sT81m8bu1XSBsVcV5zSEYkb9nVvlNCnPzdIjs="
"""A real key (`gateway secrets generate-key`): passphrase-like keys are refused."""

AS_THE_IMAGE_RUNS = {"PYTHONOPTIMIZE": "2"}
"""The Python settings the image runs every process with (its Dockerfile's ENV, checked by
tests/deploy/test_dockerfile.py): `gateway` subprocesses of the tests run with them too."""
PUBLIC_URL = "https://gw.example.test"
"""What providers see; tests post to loopback, so every request also proves that signatures
are checked over the public URL, as behind a proxy that rewrites host and scheme."""
TWILIO_NUMBER = "+15005550006"
WHATSAPP_VERIFY_TOKEN = "wa-verify-token-for-tests"


def settings_for(
    db_url: str,
    telegram_url: str,
    core_url: str,
    twilio_url: str | None = None,
    whatsapp_url: str | None = None,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "secret_key": SECRET_KEY,
        "admin_key": ADMIN_KEY,
        # Tests send wrong keys on purpose; the throttle's own test sets the real limit.
        "admin_auth_failures_per_minute": 100_000,
        "core_base_url": core_url,
        "core_api_key": CORE_KEY,
        "telegram_bot_token": BOT_TOKEN,
        "telegram_webhook_secret": WEBHOOK_SECRET,
        "telegram_api_base_url": telegram_url,
        "lease_seconds": 5.0,
        "poll_interval_seconds": 0.05,
        "retry_base_seconds": 0.05,
        "retry_cap_seconds": 0.5,
        "core_attempts": 2,
        "telegram_rate_per_bot": 1000.0,
        "telegram_rate_per_chat": 1000.0,
        "telegram_chat_burst": 100,
        "telegram_group_per_minute": 6000.0,
        "log_format": "console",
        "public_url": PUBLIC_URL,
        # Most tests are about the pipeline, not identity: forward unlinked senders.
        "unlinked_policy": "channel_user",
        # Fakes listen on http://127.0.0.1; tests of the URL guard turn this off.
        "allow_private_webhooks": True,
    }
    if twilio_url:
        values.update(
            twilio_account_sid=fake_twilio.DEFAULT_ACCOUNT_SID,
            twilio_auth_token=fake_twilio.DEFAULT_AUTH_TOKEN,
            twilio_from_number=TWILIO_NUMBER,
            twilio_api_base_url=twilio_url,
        )
    if whatsapp_url:
        values.update(
            whatsapp_phone_number_id=fake_whatsapp.DEFAULT_PHONE_NUMBER_ID,
            whatsapp_access_token=fake_whatsapp.DEFAULT_ACCESS_TOKEN,
            whatsapp_app_secret=fake_whatsapp.DEFAULT_APP_SECRET,
            whatsapp_verify_token=WHATSAPP_VERIFY_TOKEN,
            whatsapp_api_base_url=whatsapp_url,
        )
    values.update(overrides)
    return Settings(**values)


class Harness:
    def __init__(
        self,
        db_url: str,
        telegram: FakeTelegram,
        core: MockCore,
        *,
        twilio: FakeTwilio | None = None,
        whatsapp: FakeWhatsApp | None = None,
    ) -> None:
        self.db_url, self.telegram, self.core = db_url, telegram, core
        self.twilio, self.whatsapp = twilio, whatsapp
        self.runtime: Runtime | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self, *, run_worker: bool = True, **overrides: Any) -> Harness:
        tg_url = await self.telegram.start() if not self.telegram_url else self.telegram_url
        core_url = await self.core.start() if not self.core_url else self.core_url
        self.telegram_url, self.core_url = tg_url, core_url
        if self.twilio is not None and not self.twilio_url:
            self.twilio_url = await self.twilio.start()
        if self.whatsapp is not None and not self.whatsapp_url:
            self.whatsapp_url = await self.whatsapp.start()
        self.settings = settings_for(
            self.db_url, tg_url, core_url, self.twilio_url, self.whatsapp_url, **overrides
        )
        self.runtime = Runtime(self.settings)
        await self.runtime.prepare()
        app = create_app(self.runtime, run_worker=run_worker)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession()
        return self

    telegram_url: str = ""
    core_url: str = ""
    twilio_url: str = ""
    whatsapp_url: str = ""

    async def stop_gateway(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        await self.stop_gateway()
        await self.telegram.stop()
        await self.core.stop()
        for fake in (self.twilio, self.whatsapp):
            if fake is not None:
                await fake.stop()

    async def post_twilio(
        self,
        form: dict[str, str],
        *,
        status: bool = False,
        query: str = "",
        signed_query: str | None = None,
        auth_token: str = fake_twilio.DEFAULT_AUTH_TOKEN,
        signature: str | None = None,
        body: bytes | None = None,
        account: str = "default",
    ) -> tuple[int, bytes, str]:
        """POST a Twilio webhook signed the way Twilio signs it: over the public URL."""
        assert self.http is not None
        path = f"/webhooks/twilio/{account}" + ("/status" if status else "")
        signed_url = PUBLIC_URL + path + (query if signed_query is None else signed_query)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is None:
            signature = fake_twilio.sign(signed_url, form, auth_token)
        if signature:
            headers["X-Twilio-Signature"] = signature
        data = body if body is not None else fake_twilio.encode_form(form)
        async with self.http.post(self.base_url + path + query, data=data, headers=headers) as resp:
            return resp.status, await resp.read(), resp.content_type

    async def post_whatsapp(
        self,
        payload: dict[str, Any] | bytes,
        *,
        app_secret: str = fake_whatsapp.DEFAULT_APP_SECRET,
        signature: str | None = None,
        account: str = "default",
    ) -> tuple[int, bytes]:
        assert self.http is not None
        body = payload if isinstance(payload, bytes) else __import__("json").dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature is None:
            signature = fake_whatsapp.sign(body, app_secret)
        if signature:
            headers["X-Hub-Signature-256"] = signature
        async with self.http.post(
            f"{self.base_url}/webhooks/whatsapp/{account}", data=body, headers=headers
        ) as resp:
            return resp.status, await resp.read()

    async def post_update(
        self,
        update: dict[str, Any] | bytes,
        *,
        secret: str | None = WEBHOOK_SECRET,
        account: str = "default",
    ) -> aiohttp.ClientResponse:
        assert self.http is not None
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = update if isinstance(update, bytes) else __import__("json").dumps(update).encode()
        async with self.http.post(
            f"{self.base_url}/webhooks/telegram/{account}", data=body, headers=headers
        ) as resp:
            await resp.read()
            return resp

    async def admin(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        key: str | None = ADMIN_KEY,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"X-Admin-Key": key} if key is not None else {}
        async with self.http.request(
            method, f"{self.base_url}{path}", json=json, data=data, headers=headers
        ) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            return resp.status, body

    async def count(self, model: Any, *where: Any) -> int:
        assert self.runtime is not None
        async with self.runtime.db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)))

    async def count_is(self, expected: int, model: Any, *where: Any) -> bool:
        """For `eventually`: a row the gateway writes after a fake's answer may lag what the
        fake has already recorded."""
        return await self.count(model, *where) == expected

    async def core_user(self, channel: str, sender: str, project: str = "default") -> str:
        """The opaque `user` the core is given for an unlinked sender of `project`."""
        from identity.resolve import opaque_user

        assert self.runtime is not None
        async with self.runtime.db.session() as session:
            salt = await session.scalar(select(Project.user_salt).where(Project.name == project))
        assert salt
        return opaque_user(salt, channel, sender)

    async def inbox_rows(self) -> int:
        return await self.count(InboxEvent)

    async def turns(self) -> list[Turn]:
        assert self.runtime is not None
        async with self.runtime.db.session() as session:
            return list((await session.scalars(select(Turn).order_by(Turn.id))).all())

    async def outbox(self) -> list[OutboundMessage]:
        assert self.runtime is not None
        async with self.runtime.db.session() as session:
            rows = await session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
            return list(rows.all())


async def eventually(
    check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, message: str = ""
) -> Any:
    """Poll an (async) predicate until it is truthy; fail with the last value otherwise.

    The default deadline is generous on purpose: it costs nothing when the condition comes true,
    and `make test` runs several test workers on a two-core machine, where a subprocess gateway
    can take seconds for a step that takes milliseconds alone."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {message} (last: {value!r})")


PORT_BASE = 20_000
"""Ports tests start servers on come from below the kernel's ephemeral range (32768-60999 on
Linux), which is where every socket bound to port 0 (the fakes', outgoing connections') lands."""

PORT_BLOCK = 2_000
"""Ports per pytest-xdist worker: each worker hands out its own block, in turn."""

_ports = itertools.count(random.randrange(PORT_BLOCK))


def free_port() -> int:
    """A port for a server a test starts, free when asked (checked by binding it).

    Not a port the kernel picks for port 0: between this call and the server's bind, any other
    socket could take that one, and once a restarted gateway's port was taken by another test's
    server, whose readiness answered for it. Ports come from this worker's block instead, so
    another worker, or a socket bound to port 0, never takes them meanwhile."""
    block = port_block()
    for _ in block:
        port = block[next(_ports) % len(block)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or still closing): the next one
        return port
    raise AssertionError(f"no free port in {block}")


def port_block() -> range:
    """This pytest-xdist worker's ports (`free_port`)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = PORT_BASE + PORT_BLOCK * (int(worker) if worker.isdigit() else 0)
    return range(base, base + PORT_BLOCK)
