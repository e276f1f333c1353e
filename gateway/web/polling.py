"""Long polling (`gateway telegram poll`): the gateway asks the provider for updates instead of
being posted them, so a machine without a public URL can run a real bot.

Each update goes through the webhook's own path (`gateway.web.ingest`) into the same inbox, and
the offset that confirms it to the provider is sent only with the next poll, after it is stored.
A crash anywhere loses nothing (the provider still holds every update not confirmed and sends it
again) and repeats nothing (the inbox stores an update id once).
"""

from __future__ import annotations

import asyncio
import secrets

import structlog
from sqlalchemy.exc import SQLAlchemyError

from channels.base import ChannelAdapter, PolledUpdate
from gateway.messages import InboundRequest, SendError, WebhookRejected
from gateway.runtime import Runtime
from gateway.storage.backoff import retry_delay
from gateway.storage.projects import ProjectInfo
from gateway.web import ingest

log = structlog.get_logger("gateway.polling")

POLL_SECONDS = 25
"""How long one poll waits for an update (Telegram allows up to 50; proxies often cut idle
connections around 30-60 s)."""
RETRY_BASE_SECONDS, RETRY_CAP_SECONDS = 1.0, 30.0


class WebhookActive(Exception):
    """The provider posts this account's updates to a webhook, and refuses polls while it does."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class PollingRefused(Exception):
    """The provider refuses to be polled (a webhook was set meanwhile, another process polls the
    same bot, the token was revoked): polling again would fail the same way."""


class Poller:
    """Polls one account until cancelled; the account is looked up on every poll, so a token
    changed with `gateway accounts` is picked up."""

    def __init__(
        self, runtime: Runtime, channel: str, account: str, *, timeout: float = POLL_SECONDS
    ) -> None:
        self.runtime, self.channel, self.account = runtime, channel, account
        self.timeout = timeout
        self.offset: int | None = None
        """The next poll's offset: the last stored update's id + 1 (None: from the oldest
        update the provider holds, which after a restart repeats only what is stored)."""
        self._failures = 0

    async def check(self) -> None:
        """Raise `WebhookActive` when a webhook is registered."""
        _, adapter = await self.runtime.directory.get(self.channel, self.account)
        registration = await adapter.webhook_registration()
        if registration is not None and registration.url:
            raise WebhookActive(registration.url)

    async def run(self) -> None:
        """Poll and store until cancelled (cancelling is always safe: nothing is confirmed that
        is not stored). Raises `PollingRefused`."""
        log.info("poll.started", channel=self.channel, account=self.account, timeout=self.timeout)
        while True:
            await self.poll_once()

    async def poll_once(self) -> int:
        """One poll and its updates stored; returns how many were stored. Transient failures
        (provider or database unreachable) are logged and waited out here."""
        try:
            project, adapter = await self.runtime.directory.get(self.channel, self.account)
            updates = await adapter.get_updates(self.offset, self.timeout)
            stored = await self._store(project, adapter, updates)
        except SendError as exc:
            if exc.permanent:
                raise PollingRefused(exc.reason) from None
            await self._wait("poll.failed", exc.reason, exc.retry_after)
            return 0
        except (SQLAlchemyError, OSError) as exc:
            # Stored so far is confirmed by the next poll; the provider sends the rest again.
            await self._wait("poll.storage_unavailable", type(exc).__name__, None)
            return 0
        self._failures = 0
        return stored

    async def _store(
        self, project: ProjectInfo, adapter: ChannelAdapter, updates: list[PolledUpdate]
    ) -> int:
        """One at a time and in order, as the webhook would have been posted them; the offset
        moves past each update once it is stored (or refused for good)."""
        request_id = f"poll_{secrets.token_hex(16)}"
        for update in updates:
            inbound = InboundRequest(method="POST", url="", headers={}, query={}, body=update.body)
            try:
                await ingest.store(self.runtime, project, adapter, inbound, request_id)
            except WebhookRejected as exc:  # the update itself is at fault: never storable
                log.warning(
                    "poll.update_dropped",
                    channel=self.channel,
                    account=self.account,
                    update_id=update.update_id,
                    code=exc.code,
                )
            self.offset = max(self.offset or 0, update.update_id + 1)
        if updates:
            log.info(
                "poll.stored",
                channel=self.channel,
                account=self.account,
                updates=len(updates),
                next_offset=self.offset,
            )
        return len(updates)

    async def _wait(self, event: str, reason: str, retry_after: float | None) -> None:
        self._failures += 1
        delay = retry_after or retry_delay(self._failures, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
        log.warning(
            event, channel=self.channel, account=self.account, reason=reason, retry_in=delay
        )
        await asyncio.sleep(delay)
