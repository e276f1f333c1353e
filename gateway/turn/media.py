"""Fetching a message's media in the worker, never in the webhook (interface; being built).

The adapter says where an attachment's bytes are (`ChannelAdapter.media_source`: the provider's
lookup and authentication); this module downloads them with the gateway's own rules: per-item and
per-message caps (and the channel's `max_download_bytes`), a time limit, retries on connection
errors and 5xx like the core's. An item that cannot be fetched becomes a `MediaFailure` with what
the user is told; it never stops the rest of the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.base import ChannelAdapter
from channels.capabilities import Capabilities
from gateway.messages import Attachment


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


class MediaFetcher:
    """One per process (holds the download HTTP session)."""

    async def fetch(
        self, adapter: ChannelAdapter, caps: Capabilities, attachments: list[Attachment]
    ) -> MediaResult:
        """Every media attachment of one message, in order (locations and contacts are not
        fetched: they are skipped here)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the HTTP session."""
