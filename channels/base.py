"""The channel adapter protocol: verify, parse, render and send for one provider account.

The gateway owns every mechanism (inbox, worker, outbox, pacing, retries); an adapter owns only the
provider's facts. Adapters never touch the database, the worker or each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from channels.capabilities import Capabilities
from gateway.messages import (
    AccountInfo,
    Attachment,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    SendError,
    SendResult,
    WebhookRejected,
    WebhookReply,
)


@dataclass(frozen=True)
class WebhookRegistration:
    """Where the provider says it posts this account's updates (for `gateway verify`)."""

    url: str | None
    """The registered webhook URL; None or empty: none registered."""
    facts: str = ""
    """Provider details worth showing next to it (`pending_update_count=0`, its last error)."""


@dataclass(frozen=True)
class PolledUpdate:
    """One update read by polling: its id (the next poll's offset is the last id + 1) and its
    body exactly as the provider's webhook would have posted it."""

    update_id: int
    body: bytes


@dataclass(frozen=True)
class MediaSource:
    """Where an attachment's bytes are, and how to ask for them (the adapter knows; the
    gateway's downloader, `gateway/turn/media.py`, fetches them with its caps and retries)."""

    url: str
    headers: dict[str, str]
    """Authentication for the download (WhatsApp's bearer token, Twilio's basic auth); never
    logged."""
    size: int | None = None
    """Bytes, when the provider's lookup said (Telegram `getFile`, WhatsApp's media lookup)."""
    mime_type: str | None = None
    filename: str | None = None
    sha256: str | None = None
    """Hex digest of the bytes, when the provider's lookup said (WhatsApp): checked after the
    download, a mismatch is a failed attempt."""


class MediaTooLarge(SendError):
    """The provider refuses a file as too large to download (Telegram: over 20 MB): permanent;
    `limit` in bytes when the provider's limit is known."""

    def __init__(self, reason: str, *, limit: int | None = None) -> None:
        super().__init__(reason, permanent=True)
        self.limit = limit


@dataclass(frozen=True)
class SignedProbe:
    """A correctly signed webhook request the gateway accepts and no user ever sees (`gateway
    verify`'s self-test)."""

    path: str
    body: bytes
    headers: dict[str, str]


class ChannelAdapter(ABC):
    channel: ClassVar[str]
    """The route: the kind of account this adapter serves (`telegram`, `sms`, `whatsapp`)."""
    capabilities: ClassVar[Capabilities]
    """What the route's messages can do (`channels.capabilities`)."""
    required_secrets: ClassVar[tuple[str, ...]]
    api_secrets: ClassVar[tuple[str, ...]] = ()
    """The secrets sent to the provider's API (`api_base_url`): moving that URL needs them."""
    batches: ClassVar[bool] = False
    """One request carries many items (the WhatsApp Cloud API): an item that cannot be stored
    is then recorded as unsupported, never refusing its siblings. A provider's single update
    that cannot be stored is refused (400), like a malformed one."""

    def __init__(self, account: AccountInfo) -> None:
        self.account = account

    def capabilities_for(self, chat: str) -> Capabilities:
        """The capabilities of one chat on this route (Twilio: a `whatsapp:` address is
        WhatsApp, not SMS)."""
        return self.capabilities

    def channel_of(self, chat: str) -> str:
        """The user-facing channel of a chat on this route."""
        return self.channel

    @abstractmethod
    def verify(self, request: InboundRequest) -> None:
        """Raise `WebhookRejected` (401/403) unless the request is authentic. Pure: no I/O."""

    @abstractmethod
    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """Normalize a verified request; raise `WebhookRejected` (400) for a malformed body."""

    def webhook_reply(self) -> WebhookReply:
        return WebhookReply()

    def handshake(self, request: InboundRequest) -> WebhookReply:
        """Answer a provider's subscription check (a GET on the webhook URL; WhatsApp:
        `hub.challenge`). Raise `WebhookRejected` to refuse. Pure: no I/O."""
        raise WebhookRejected(
            405, "method_not_allowed", f"{self.channel} webhooks accept POST only"
        )

    async def is_addressed(self, event: InboundEvent) -> bool:
        """Whether the gateway should answer (group chats: only when spoken to)."""
        return True

    async def prompt_text(self, event: InboundEvent) -> str:
        """The text to forward to the core (e.g. without the bot's own @mention)."""
        return (event.text or "").strip()

    def is_group_chat(self, chat: str) -> bool:
        return False

    @abstractmethod
    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message; raise `SendError` classified as permanent / retry-after / other."""

    async def media_source(self, attachment: Attachment) -> MediaSource:
        """Where `attachment`'s bytes are (one provider lookup where the provider needs one:
        Telegram `getFile`, WhatsApp `GET /{media-id}`). Raise `SendError`: permanent when the
        provider refuses for good (unknown id, too big), else worth another try."""
        raise SendError(f"{self.channel} attachments cannot be fetched", permanent=True)

    async def send_typing(self, event: InboundEvent) -> None:
        """Best effort: show that a reply to `event` is being prepared (in its chat; WhatsApp
        ties the indicator to the message being answered)."""

    async def mark_received(self, event: InboundEvent) -> None:
        """Best effort, once the event is being handled (WhatsApp: mark as read)."""

    async def acknowledge_action(self, event: InboundEvent, text: str | None = None) -> None:
        """Best effort: tell the provider an action (button press) was received."""

    async def close(self) -> None:
        """Release connections."""

    # --- accounts ----------------------------------------------------------------------------
    @classmethod
    def account_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """An account's stored config from the fields an operator gave (or changed): the
        provider's defaults filled in, values normalized. Pure; no I/O."""
        return config

    @classmethod
    def account_secrets(
        cls, secrets: dict[str, str], derive: Callable[[str, str], str]
    ) -> dict[str, str]:
        """An account's stored secrets from the fields an operator gave at creation: secrets they
        may leave out are derived from the gateway's key (`derive(purpose, value)`). Pure."""
        return secrets

    async def link_instructions(self, code: str) -> str:
        """How a user redeems link code `code` through this account (shown by the app). Best
        effort: a provider failure falls back to a text that needs no provider call."""
        caps = self.capabilities
        return f"Send {caps.command('LINK', code)} on {caps.name}"

    # --- polling (`gateway telegram poll`: no public URL needed) --------------------------------
    async def get_updates(self, offset: int | None, timeout: float) -> list[PolledUpdate]:
        """One long poll: the updates the provider holds from `offset` on, waiting up to
        `timeout` seconds for one; asking with an offset confirms every update below it. Raise
        `SendError` (permanent: the provider refuses polling)."""
        raise NotImplementedError(f"{self.channel} updates cannot be polled")

    # --- operator checks (`gateway verify`) -----------------------------------------------------
    async def check_credentials(self) -> str | None:
        """Make a harmless authenticated call and say what it found (`getMe: @bot`); raise
        `SendError` when the provider refuses. None: the provider has no such call (SKIP)."""
        return None

    async def webhook_registration(self) -> WebhookRegistration | None:
        """Where the provider posts this account's updates, when it can be asked (raise
        `SendError` when it cannot be reached). None: registered in the provider's console,
        nothing to compare."""
        return None

    def signed_probe(self, path: str, public_url: str | None) -> SignedProbe | None:
        """A self-test request for the webhook at `path` (under the gateway's `public_url`,
        which some providers sign): accepted, recorded, never answered. None: no such request
        exists for this provider (SKIP)."""
        return None
