"""SQLAlchemy 2 models. Alembic migrations (db/migrations) own the schema; keep in step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.logs import scrub_error

Id = BigInteger().with_variant(Integer, "sqlite")
INBOX_OPEN = "status IN ('pending', 'processing')"
OUTBOX_OPEN = "status IN ('queued', 'sending')"
"""A queue's rows still waiting or in flight: what holds a chat's later rows back."""
Json = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every backend, returned timezone-aware (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class ErrorText(TypeDecorator[str]):
    """An error kept for operators (`last_error`, a turn's `error`): exception texts quote URLs,
    and a Bot API URL holds the bot token, so the text is scrubbed as logs are, on every write
    (whichever path writes it) and on every read (rows written before the scrubbing)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return scrub_error(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return scrub_error(value)


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    core_base_url: Mapped[str | None] = mapped_column(String(512))
    core_key_encrypted: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128))
    unlinked_policy: Mapped[str] = mapped_column(String(32))
    approval_webhook_url: Mapped[str | None] = mapped_column(String(1024))
    approval_webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    approval_ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    threading: Mapped[str | None] = mapped_column(String(32))
    """`conversation` (None: the default) or `previous_response` chaining."""
    feature: Mapped[str | None] = mapped_column(String(64))
    """`metadata.feature` of the project's core calls (None: the default)."""
    transcription: Mapped[str | None] = mapped_column(String(16))
    """Voice notes: `auto` (None: the default), `on` or `off` (`gateway.schemas.Transcription`)."""
    core_concurrency: Mapped[int | None] = mapped_column(Integer)
    """The most core calls in flight per gateway process (None: GATEWAY_CORE_CONCURRENCY)."""
    user_salt: Mapped[str | None] = mapped_column(String(64))
    """Derives the opaque core user id of unlinked senders; kept here, not derived from
    GATEWAY_SECRET_KEY, so a key rotation does not change who the core thinks they are."""
    genaug_project_id: Mapped[str | None] = mapped_column(String(128))
    """The core's id of this project: with the admin key, turns on core-owned approvals."""
    genaug_admin_key_encrypted: Mapped[str | None] = mapped_column(Text)
    genaug_webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    usage_path_token: Mapped[str | None] = mapped_column(String(64))
    """The last segment of the core's usage-signal route: those events are unsigned, so only
    someone shown the path (`gateway projects show`) can post them."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChannelAccount(Base):
    """One bot / number. Webhook routes carry only channel + account, so that pair is unique."""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("channel", "account", name="uq_channel_accounts_account"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    secrets_encrypted: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboxEvent(Base):
    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("project_id", "channel", "account", "event_id", name="uq_inbox_event"),
        Index("ix_inbox_ready", "status", "id"),
        Index("ix_inbox_chat_order", "chat_key", "id"),
        # The claim's per-chat order check probes only open rows (migration 0013).
        Index(
            "ix_inbox_open_chat",
            "chat_key",
            "id",
            postgresql_where=text(INBOX_OPEN),
            sqlite_where=text(INBOX_OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    chat_key: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(ErrorText)
    request_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("project_id", "channel", "account", "chat", name="uq_conversation"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    chat: Mapped[str] = mapped_column(String(128))
    last_response_id: Mapped[str | None] = mapped_column(String(128))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    """The id sent to the core as `conversation`; a new one starts a new conversation."""
    owner: Mapped[str | None] = mapped_column(String(32))
    """Whom the conversation belongs to (`conversation_owner` of the core `user` its last turn
    was sent as; None: not known yet). A turn sent as someone else starts anew."""
    start_param: Mapped[str | None] = mapped_column(String(64))
    """The chat's start context: the last `/start` deep-link payload that was not a link code,
    sent with every core call of the chat as metadata `start_param`."""
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Turn(Base):
    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    inbox_event_id: Mapped[int] = mapped_column(
        ForeignKey("inbox_events.id", ondelete="CASCADE"), unique=True
    )
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    chat: Mapped[str] = mapped_column(String(128))
    user_ref: Mapped[str] = mapped_column(String(256))
    identity_linked: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(400))
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    response_id: Mapped[str | None] = mapped_column(String(128), index=True)
    trace_id: Mapped[str | None] = mapped_column(String(128), index=True)
    previous_response_id: Mapped[str | None] = mapped_column(String(128))
    conversation: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    usage: Mapped[dict[str, Any] | None] = mapped_column(Json)
    cost: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(ErrorText)
    reason: Mapped[str | None] = mapped_column(String(128))
    """The core's machine-readable reason for an error (`reason`, `detail.reason`, `error.code`)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MediaItem(Base):
    """A downloaded attachment kept for GATEWAY_MEDIA_RETENTION_HOURS (never with 0), so a
    retried turn does not download it again (`gateway.storage.media_store`)."""

    __tablename__ = "media_items"
    __table_args__ = (
        UniqueConstraint("inbox_event_id", "position", name="uq_media_items_position"),
        Index("ix_media_items_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    inbox_event_id: Mapped[int] = mapped_column(ForeignKey("inbox_events.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    """The attachment's index in the event's attachments."""
    kind: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    data_encrypted: Mapped[str] = mapped_column(Text)
    """A Fernet token of `{"data": <the bytes in base64>}` under GATEWAY_SECRET_KEY."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboundMessage(Base):
    """The outbox. `dedupe_key` makes a re-run turn enqueue nothing twice."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbox_ready", "status", "id"),
        Index("ix_outbox_chat_order", "chat_key", "id"),
        Index(
            "ix_outbox_open_chat",
            "chat_key",
            "id",
            postgresql_where=text(OUTBOX_OPEN),
            sqlite_where=text(OUTBOX_OPEN),
        ),
        Index("ix_outbox_provider_message", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    chat: Mapped[str] = mapped_column(String(128))
    chat_key: Mapped[str] = mapped_column(String(256))
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    inbox_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_events.id", ondelete="SET NULL")
    )
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(ErrorText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    """What the provider reported after the send: sent, delivered, read, undelivered, failed."""
    delivery_error: Mapped[str | None] = mapped_column(String(64))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OptOut(Base):
    """A recipient who texted STOP (or whom the provider reports as opted out): nothing is
    sent to them and nothing they send is forwarded until they text START."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("project_id", "channel", "address", name="uq_opt_out"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdentityLink(Base):
    """A channel identity (project, channel, sender) tied to exactly one app user; an app user
    may have several. `last_*` is where the person was last heard from (proactive messages)."""

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("project_id", "channel", "sender", name="uq_identity_link"),
        Index("ix_identity_app_user", "project_id", "app_user_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(128))
    app_user_id: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_route: Mapped[str | None] = mapped_column(String(16))
    last_account: Mapped[str | None] = mapped_column(String(64))
    last_chat: Mapped[str | None] = mapped_column(String(128))
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LinkCode(Base):
    """A one-time link code, stored only as a keyed hash."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    app_user_id: Mapped[str] = mapped_column(String(256))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[str | None] = mapped_column(String(200))


class LinkFailure(Base):
    """A failed code redemption, for the per-sender attempt limit."""

    __tablename__ = "link_failures"
    __table_args__ = (Index("ix_link_failures_sender", "project_id", "channel", "sender", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AllowlistEntry(Base):
    """Senders forwarded under the `allowlist` policy although unlinked."""

    __tablename__ = "allowlist"
    __table_args__ = (UniqueConstraint("project_id", "channel", "sender", name="uq_allowlist"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """A project's admin API key: valid only under its project's routes. Only the SHA-256 of
    the key is kept (the key has 256 random bits, so a plain hash is enough); `prefix` is the
    key's first characters, to recognise it in `gateway keys list`."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Approval(Base):
    """A human decision the agent (or the app) waits for: `pending` until exactly one of
    approved / denied / expired, set by one conditional update whatever decides it."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_due", "status", "expires_at"),
        Index("ix_approvals_user", "project_id", "app_user_id", "status"),
        Index("ix_approvals_response", "project_id", "response_id"),
        Index("ix_approvals_core_id", "project_id", "core_approval_id", unique=True),
        Index("ix_approvals_core_sync", "core_sync", "core_sync_next_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    app_user_id: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(16))
    """`core` (an mcp_approval_request) or `api` (asked for by the app)."""
    tool: Mapped[str] = mapped_column(String(200))
    server_label: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    input_summary: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    short_code: Mapped[str] = mapped_column(String(8))
    core_request_id: Mapped[str | None] = mapped_column(String(128))
    response_id: Mapped[str | None] = mapped_column(String(128))
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))
    inbox_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_events.id", ondelete="SET NULL")
    )
    route: Mapped[str | None] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(64))
    chat: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(16))
    """The user-facing channel the prompt went to (WhatsApp through Twilio: `whatsapp`)."""
    context: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    """Where the core turn came from (to continue it in the same chat)."""
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_source: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    core_approval_id: Mapped[str | None] = mapped_column(String(128))
    """Set on an approval the core owns (source `core_owned`): the core's id of it."""
    core_sync: Mapped[str | None] = mapped_column(String(16))
    """The decision's delivery to the core: `pending` until POSTed, then `done` / `failed`."""
    core_sync_attempts: Mapped[int | None] = mapped_column(Integer)
    core_sync_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CoreEvent(Base):
    """A lifecycle event the core signed and sent, kept so a replay is recognised."""

    __tablename__ = "core_events"
    __table_args__ = (UniqueConstraint("project_id", "event_id", name="uq_core_events_event"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One lifecycle event for the app's approval webhook, retried until delivered. `chat_key`
    is `approval:<id>`, so the queue delivers one approval's events in order."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_ready", "status", "id"),
        Index("ix_webhook_order", "chat_key", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    approval_id: Mapped[str] = mapped_column(String(40), index=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    """The exact JSON sent (and signed) on every attempt."""
    chat_key: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(ErrorText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
