"""Fetching a message's media in the worker, never in the webhook.

The adapter says where an attachment's bytes are (`ChannelAdapter.media_source`: the provider's
lookup and authentication); this module downloads them with the gateway's own rules: per-item and
per-message caps (and the channel's `max_download_bytes`), checked on the declared size before any
download and on the stream while it arrives; a time limit per try; retries with backoff on
connection errors, timeouts and 5xx like the core's; redirects followed (a few), the credentials
dropped on a change of origin (aiohttp's rule); every connection through the operator URL policy
(`gateway.netguard`). An item that cannot be fetched becomes a `MediaFailure` with what the user
is told; it never stops the rest of the message. Reasons, logs and metrics never carry a URL or a
credential (a Telegram file URL holds the bot token).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from dataclasses import dataclass, field

import aiohttp
import structlog

from channels.base import ChannelAdapter, MediaSource, MediaTooLarge
from channels.capabilities import Capabilities
from gateway.config import Settings
from gateway.logs import redact_secrets
from gateway.messages import Attachment, SendError
from gateway.metrics import Metrics
from gateway.netguard import OPERATOR, UrlPolicy, failure_class, guarded_connector, refused
from gateway.storage.backoff import retry_delay

log = structlog.get_logger("gateway.turn")

CHUNK_BYTES = 64 * 1024
_URL = re.compile(r"\w+://\S+")


@dataclass(frozen=True)
class FetchedMedia:
    attachment: Attachment
    data: bytes
    mime_type: str
    """The provider's type for the bytes (`application/octet-stream` when none was said)."""
    filename: str | None = None


@dataclass(frozen=True)
class MediaFailure:
    attachment: Attachment
    reason: str
    """For the logs and the turn row (no URL, no credentials)."""
    told: str
    """What the user is told, e.g. "Your photo could not be used: it is larger than 20 MB."."""


@dataclass
class MediaResult:
    fetched: list[FetchedMedia] = field(default_factory=list)
    failures: list[MediaFailure] = field(default_factory=list)


@dataclass(frozen=True)
class MediaLimits:
    max_item_bytes: int = 20 * 1024 * 1024
    max_message_bytes: int = 25 * 1024 * 1024
    timeout: float = 30.0
    """Seconds for one try at one item (the provider's lookup and the download)."""
    attempts: int = 3
    backoff_base: float = 0.5
    max_redirects: int = 3
    """Redirects followed (a Twilio media URL redirects once, to its CDN)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLimits:
        return cls(
            max_item_bytes=settings.media_max_item_bytes,
            max_message_bytes=settings.media_max_message_bytes,
            timeout=settings.media_timeout_seconds,
            attempts=settings.media_attempts,
        )


class _Failed(Exception):
    """An item given up: why (for the logs) and what the user is told."""

    def __init__(self, reason: str, told: str, outcome: str = "failed") -> None:
        super().__init__(reason)
        self.reason, self.told, self.outcome = reason, told, outcome


class _TooLarge(Exception):
    def __init__(self, seen: str, size: int | None = None) -> None:
        super().__init__(seen)
        self.seen, self.size = seen, size


class _Damaged(Exception):
    """The bytes do not match the digest the provider's lookup gave."""


class _HttpStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status in (408, 429)


class MediaFetcher:
    """One per process (holds the download HTTP session)."""

    def __init__(
        self, metrics: Metrics, limits: MediaLimits | None = None, policy: UrlPolicy = OPERATOR
    ) -> None:
        self.metrics = metrics
        self.limits = limits or MediaLimits()
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> MediaFetcher:
        return cls(metrics, MediaLimits.from_settings(settings))

    async def fetch(
        self,
        adapter: ChannelAdapter,
        caps: Capabilities,
        attachments: list[Attachment],
        used: int = 0,
    ) -> MediaResult:
        """Every media attachment of one message, in order (locations and contacts are not
        fetched: they are skipped here). The per-message cap goes to the earlier items first;
        `used`: bytes of the message's items already at hand (kept from an earlier try)."""
        result = MediaResult()
        channel = caps.name.lower()  # the user-facing channel: telegram, sms, whatsapp
        item_cap = min(self.limits.max_item_bytes, caps.max_download_bytes or math.inf)
        left = self.limits.max_message_bytes - used
        for attachment in attachments:
            if not attachment.is_media:
                continue
            try:
                fetched = await self._item(adapter, attachment, int(item_cap), left)
            except _Failed as failed:
                result.failures.append(MediaFailure(attachment, failed.reason, failed.told))
                self.metrics.media_downloads.labels(channel, failed.outcome).inc()
                log.warning(
                    "media.failed", channel=channel, kind=attachment.kind, reason=failed.reason
                )
                continue
            left -= len(fetched.data)
            result.fetched.append(fetched)
            self.metrics.media_downloads.labels(channel, "fetched").inc()
            self.metrics.media_bytes.labels(channel).inc(len(fetched.data))
            log.info(
                "media.fetched", channel=channel, kind=attachment.kind, bytes=len(fetched.data)
            )
        return result

    async def _item(
        self, adapter: ChannelAdapter, attachment: Attachment, item_cap: int, left: int
    ) -> FetchedMedia:
        """One attachment, tried up to `attempts` times; raises `_Failed`."""
        cap = min(item_cap, left)
        noun = attachment.noun

        def too_large(seen: str, size: int | None = None, limit: int | None = None) -> _Failed:
            """`limit`: the provider's; else the item cap, or what is left of the message's."""
            together = limit is None and left < item_cap and (size is None or size <= item_cap)
            if together:
                whole = _size_text(self.limits.max_message_bytes)
                told = f"the files of this message are larger than {whole} together"
                limit = left
            else:
                limit = limit or item_cap
                told = f"it is larger than {_size_text(limit)}"
            return _Failed(
                f"too large: {seen}, {limit} bytes allowed",
                f"Your {noun} could not be used: {told}.",
                "too_large",
            )

        if attachment.size is not None and attachment.size > cap:
            raise too_large(f"declared {attachment.size} bytes", attachment.size)
        reason = "no try"
        for attempt in range(1, self.limits.attempts + 1):
            try:
                async with asyncio.timeout(self.limits.timeout):
                    source = await adapter.media_source(attachment)
                    if source.size is not None and source.size > cap:
                        raise _TooLarge(f"declared {source.size} bytes", source.size)
                    data, content_type = await self._download(source, cap)
                if source.sha256 and hashlib.sha256(data).hexdigest() != source.sha256.lower():
                    raise _Damaged
                mime_type = source.mime_type or attachment.mime_type or content_type or _OCTETS
                filename = source.filename or attachment.filename
                return FetchedMedia(attachment, data, mime_type.strip(), filename)
            except _TooLarge as exc:
                raise too_large(exc.seen, exc.size) from None
            except MediaTooLarge as exc:
                raise too_large("refused by the provider", limit=exc.limit) from None
            except SendError as exc:
                reason = _clean(exc.reason)
                if exc.permanent:
                    raise _Failed(reason, _not_downloaded(noun)) from None
            except _Damaged:
                reason = "sha256 mismatch"  # damaged on the way: worth another try
            except _HttpStatus as exc:
                reason = f"HTTP {exc.status}"
                if not exc.transient:
                    raise _Failed(reason, _not_downloaded(noun)) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = _failure(exc)
                if _permanent(exc):
                    raise _Failed(reason, _not_downloaded(noun)) from None
            if attempt < self.limits.attempts:
                log.info("media.retry", kind=attachment.kind, attempt=attempt, reason=reason)
                await asyncio.sleep(retry_delay(attempt, self.limits.backoff_base))
        raise _Failed(f"{reason} ({self.limits.attempts} tries)", _not_downloaded(noun))

    async def _download(self, source: MediaSource, cap: int) -> tuple[bytes, str | None]:
        """The body, cut as soon as it passes `cap` (its Content-Length is checked first)."""
        async with self._http().get(
            source.url,
            headers=source.headers,
            # aiohttp raises at the Nth redirect answer (and reads 0 as "no limit"): N - 1 followed
            max_redirects=self.limits.max_redirects + 1,
        ) as response:
            if response.status >= 300:  # a redirect past max_redirects raised already
                raise _HttpStatus(response.status)
            if response.content_length is not None and response.content_length > cap:
                raise _TooLarge(
                    f"Content-Length {response.content_length}", response.content_length
                )
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                body += chunk
                if len(body) > cap:
                    raise _TooLarge(f"more than {cap} bytes sent")
            content_type = response.headers.get("Content-Type")
            return bytes(body), content_type if content_type != _OCTETS else None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=guarded_connector(self.policy, limit=64),
                timeout=aiohttp.ClientTimeout(total=None, connect=10),
                cookie_jar=aiohttp.DummyCookieJar(),  # nothing carried from one provider to another
            )
        return self._session

    async def close(self) -> None:
        """Release the HTTP session."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


_OCTETS = "application/octet-stream"


def _permanent(exc: BaseException) -> bool:
    """Failures another try cannot change: a refused address, a bad or looping redirect."""
    return refused(exc) or isinstance(
        exc, aiohttp.TooManyRedirects | aiohttp.RedirectClientError | aiohttp.InvalidURL
    )


def _failure(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, aiohttp.RedirectClientError):
        return "bad redirect"
    return failure_class(exc)


def _not_downloaded(noun: str) -> str:
    return f"Your {noun} could not be downloaded."


def _clean(reason: str) -> str:
    """An adapter's reason as kept: no URL, no token (they are scrubbed there already; this is
    the second line)."""
    return _URL.sub("<url>", redact_secrets(reason))[:300]


def _size_text(size: int) -> str:
    """`20 MB`, `512 KB`, `900 bytes` (binary units, as the caps are set)."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{round(size / scale, 1):g} {unit}"
    return f"{size} bytes"
