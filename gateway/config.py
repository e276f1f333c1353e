"""Typed settings, read from the environment (names are part of the external contract).

Every default below is chosen so that `gateway serve` and `gateway demo` work on one machine with no
configuration at all; production overrides them through the environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.settings_sources import customised_sources

UnlinkedPolicy = Literal["link_required", "channel_user", "allowlist"]
"""Only `channel_user` until identity linking lands (it adds `link_required`, `allowlist`)."""

TELEGRAM_API_DEFAULT = "https://api.telegram.org"
MIN_CHOSEN_SECRET = 16
"""Shortest webhook secret or verify token an operator may pick (`gateway.schemas` too)."""


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """All configuration in one object; tests build it directly with keyword arguments."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", env_file=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, the environment, `NAME_FILE` secrets, then `gateway.toml`
        (`gateway/settings_sources.py`)."""
        return customised_sources(settings_cls, init_settings, env_settings)

    # --- storage and secrets -------------------------------------------------------------
    database_url: str = Field(
        "sqlite+aiosqlite:///./gateway.db",
        validation_alias=_env("DATABASE_URL"),
        description="SQLite file by default (one process); postgresql+asyncpg://... in production.",
    )
    secret_key: SecretStr | None = Field(
        None,
        validation_alias=_env("GATEWAY_SECRET_KEY"),
        description="Comma-separated keys; the first encrypts, all decrypt (rotation). Unset on "
        "SQLite: a key file is generated next to the database (see docs/decisions.md).",
    )
    admin_key: SecretStr | None = Field(
        None,
        validation_alias=_env("GATEWAY_ADMIN_KEY"),
        description="The operators' key: every admin route. Unset or empty: no global key "
        "(only project API keys, `gateway keys create`, open the admin API). `serve` refuses "
        "one shorter than 32 characters or a known placeholder.",
    )
    admin_auth_failures_per_minute: int = Field(
        10,
        ge=1,
        validation_alias=_env("GATEWAY_ADMIN_AUTH_FAILURES_PER_MINUTE"),
        description="Admin API requests with a missing or wrong key one client address may make "
        "in a minute; then every request from it answers 429 until the minute is over.",
    )

    # --- the responses core (default project) --------------------------------------------
    core_base_url: str = Field(
        "http://127.0.0.1:8787",
        validation_alias=_env("GENAUG_API_BASE_URL"),
        description="Defaults to where `gateway mock-core` listens, so serve works out of the box.",
    )
    core_api_key: SecretStr | None = Field(None, validation_alias=_env("GENAUG_API_KEY"))
    core_model: str = Field(
        "balanced",
        validation_alias=_env("GATEWAY_MODEL"),
        description="A tier: `simple`, `balanced` or `complex` (the core maps it to a provider "
        "model). Another name is still sent as given, and `gateway verify` warns about it.",
    )
    core_threading: Literal["conversation", "previous_response"] = Field(
        "conversation",
        validation_alias=_env("GATEWAY_THREADING"),
        description="`conversation` (the gateway's conversation id) or `previous_response` "
        "chaining, for cores that only support that.",
    )
    core_feature: str = Field(
        "channel_gateway",
        validation_alias=_env("GATEWAY_FEATURE"),
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="`metadata.feature` of the default project's core calls.",
    )
    transcription: Literal["auto", "on", "off"] = Field(
        "auto",
        validation_alias=_env("GATEWAY_TRANSCRIPTION"),
        description="Voice notes of the default project: `auto` (transcribed when the core "
        "offers `/v1/audio/transcriptions`), `on` (always tried; a core without it is a "
        "warning) or `off` (the audio goes to the agent as a file).",
    )
    transcription_model: str = Field(
        "whisper-1",
        min_length=1,
        max_length=128,
        validation_alias=_env("GATEWAY_TRANSCRIPTION_MODEL"),
        description="The `model` field of transcription calls: the OpenAI name most "
        "OpenAI-compatible servers accept; a core with its own names maps or ignores it.",
    )
    core_timeout_seconds: float = Field(
        45.0,
        validation_alias=_env("GATEWAY_CORE_TIMEOUT_SECONDS"),
        description="Below the 60 s lease so a hung core never outlives a claim unnoticed.",
    )
    core_attempts: int = Field(
        3,
        validation_alias=_env("GATEWAY_CORE_ATTEMPTS"),
        description="Tries within one turn (connection errors and 5xx only, same idempotency "
        "key) before the turn is rescheduled with backoff.",
    )
    core_concurrency: int = Field(
        2000,
        ge=1,
        validation_alias=_env("GATEWAY_CORE_CONCURRENCY"),
        description="The most core calls one project may have in flight in one gateway process, "
        "for projects that set no `core_concurrency` of their own. Per process: N worker "
        "processes may have N times this many calls in flight to one core. The default is the "
        "turns a process holds (GATEWAY_WORKER_CONCURRENCY): set it to what the core takes; a "
        "project-wide 429 from the core halves the process's limit for that project until "
        "answers come back (gateway/turn/core_limits.py).",
    )
    core_max_defer_seconds: float = Field(
        300.0,
        ge=0,
        validation_alias=_env("GATEWAY_CORE_MAX_DEFER_SECONDS"),
        description="The longest a message waits out the core's 429s, counted from its arrival; "
        "when the core's Retry-After would end later, the user gets the apology with its "
        "reference at once. Five minutes: past that an answer is rarely still wanted.",
    )
    core_busy_notice_seconds: float = Field(
        10.0,
        ge=0,
        validation_alias=_env("GATEWAY_CORE_BUSY_NOTICE_SECONDS"),
        description="A 429 wait longer than this gets one 'busy, I'll answer in about N seconds' "
        "message; a shorter one passes unremarked (a notice would only add noise).",
    )
    core_max_response_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        validation_alias=_env("GATEWAY_CORE_MAX_RESPONSE_BYTES"),
        description="A core answer larger than this is not read: the turn fails with the "
        "apology, like any answer the gateway cannot use (never retried).",
    )
    max_reply_parts: int = Field(
        10,
        ge=1,
        validation_alias=_env("GATEWAY_MAX_REPLY_PARTS"),
        description="Messages one reply may be split into on chat channels (Telegram, WhatsApp); "
        "a longer reply is cut and ends with a visible marker.",
    )
    sms_max_reply_parts: int = Field(
        3,
        ge=1,
        validation_alias=_env("GATEWAY_SMS_MAX_REPLY_PARTS"),
        description="The same for SMS, where every part (up to 1600 characters, ~10 billed "
        "segments) costs money.",
    )
    unlinked_policy: UnlinkedPolicy = Field(
        "link_required",
        validation_alias=_env("GATEWAY_UNLINKED_POLICY"),
        description="Senders not linked to an app user: `link_required` (told how to link, "
        "nothing forwarded), `channel_user` (forwarded unlinked, as a stable opaque id) or "
        "`allowlist` (only allowlisted senders are forwarded, as channel users).",
    )

    # --- inbound media (fetched by the worker, gateway/turn/media.py) -------------------------
    media_max_item_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1024,
        validation_alias=_env("GATEWAY_MEDIA_MAX_ITEM_BYTES"),
        description="The largest photo, file or voice note fetched; a larger one is not "
        "downloaded (refused on its declared size, else cut as soon as the download passes "
        "it) and the user is told. 20 MiB: Telegram's bot download limit, and above what the "
        "WhatsApp Cloud API allows for images, audio and video.",
    )
    media_max_message_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        validation_alias=_env("GATEWAY_MEDIA_MAX_MESSAGE_BYTES"),
        description="All media of one message together, fetched in order; an item past it is "
        "told, the ones before it go through. 25 MiB: one item at the per-item cap plus a few "
        "small ones (an MMS carries at most ~5 MB), while a turn holds the bytes and their "
        "base64 in the core request (~60 MiB) for at most GATEWAY_MEDIA_CONCURRENCY turns.",
    )
    media_concurrency: int = Field(
        16,
        ge=1,
        validation_alias=_env("GATEWAY_MEDIA_CONCURRENCY"),
        description="Turns with media in flight per process, from the download until the core "
        "answered (the others queue): what bounds the memory media can take, while thousands "
        "of text turns wait on the core.",
    )
    media_timeout_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("GATEWAY_MEDIA_TIMEOUT_SECONDS"),
        description="One try at one item: the provider's lookup and the download (20 MB at "
        "~6 Mbit/s). A try that runs out is retried like a connection error.",
    )
    media_attempts: int = Field(
        3,
        ge=1,
        validation_alias=_env("GATEWAY_MEDIA_ATTEMPTS"),
        description="Tries per item on connection errors, timeouts and 5xx (with backoff); its "
        "own setting, not GATEWAY_CORE_ATTEMPTS: a download is not the core call.",
    )
    media_retention_hours: float = Field(
        0,
        ge=0,
        validation_alias=_env("GATEWAY_MEDIA_RETENTION_HOURS"),
        description="0: media bytes are never written to the database (they live in the "
        "worker's memory for the turn). Above 0: each item a turn downloaded is kept, encrypted "
        "under GATEWAY_SECRET_KEY, for that many hours (a retried turn reuses it instead of "
        "downloading again), then deleted by the worker's sweeper.",
    )

    # --- approvals (default project) ---------------------------------------------------------
    approval_webhook_url: str | None = Field(
        None,
        validation_alias=_env("APPROVAL_WEBHOOK_URL"),
        description="Where approval lifecycle events are POSTed for the default project.",
    )
    approval_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("APPROVAL_WEBHOOK_SECRET"),
        description="Signs X-General-Augment-Signature; events are not sent without it.",
    )
    approval_ttl_seconds: int = Field(300, ge=1, validation_alias=_env("APPROVAL_TTL_SECONDS"))
    genaug_project_id: str | None = Field(
        None,
        validation_alias=_env("GENAUG_PROJECT_ID"),
        description="The core's id of the default project; with GENAUG_ADMIN_KEY the gateway "
        "prompts for the approvals the core owns.",
    )
    genaug_admin_key: SecretStr | None = Field(
        None, validation_alias=_env("GENAUG_ADMIN_KEY"), description="The core's X-Admin-Key."
    )
    genaug_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("GENAUG_WEBHOOK_SECRET"),
        description="Verifies the core's signed lifecycle events at /webhooks/core/<project>.",
    )
    core_approval_poll_seconds: float = Field(
        5.0,
        gt=0,
        validation_alias=_env("GATEWAY_CORE_APPROVAL_POLL_SECONDS"),
        description="How often the core's pending approvals are listed (reconciliation).",
    )
    approval_sweep_seconds: float = Field(
        1.0,
        validation_alias=_env("GATEWAY_APPROVAL_SWEEP_SECONDS"),
        description="How often the worker expires overdue approvals.",
    )
    webhook_retry_hours: float = Field(
        24.0,
        validation_alias=_env("GATEWAY_WEBHOOK_RETRY_HOURS"),
        description="Lifecycle events are retried with backoff at least this long, then dead.",
    )
    webhook_retry_cap_seconds: float = Field(
        600.0, validation_alias=_env("GATEWAY_WEBHOOK_RETRY_CAP_SECONDS")
    )
    webhook_timeout_seconds: float = Field(
        10.0, validation_alias=_env("GATEWAY_WEBHOOK_TIMEOUT_SECONDS")
    )
    allow_private_webhooks: bool = Field(
        False,
        validation_alias=_env("GATEWAY_ALLOW_PRIVATE_WEBHOOKS"),
        description="Let lifecycle webhook URLs be http:// and private or loopback addresses "
        "(tests, local development, private deployments); link-local and cloud metadata "
        "addresses stay refused.",
    )
    webhook_allowed_hosts: str = Field(
        "",
        validation_alias=_env("GATEWAY_WEBHOOK_ALLOWED_HOSTS"),
        description="Comma-separated host names a lifecycle webhook may use even when they "
        "resolve to private addresses (https:// still required).",
    )

    # --- Telegram (default account) ------------------------------------------------------
    telegram_bot_token: SecretStr | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"),
        description="Unset: derived from the bot token and the secret key, so it is stable and "
        "never needs to be typed.",
    )
    telegram_api_base_url: str = Field(
        TELEGRAM_API_DEFAULT, validation_alias=_env("TELEGRAM_API_BASE_URL")
    )

    # --- Twilio: SMS and WhatsApp through Twilio (default account) ---------------------------
    twilio_account_sid: str | None = Field(None, validation_alias=_env("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: SecretStr | None = Field(None, validation_alias=_env("TWILIO_AUTH_TOKEN"))
    twilio_from_number: str | None = Field(None, validation_alias=_env("TWILIO_FROM_NUMBER"))
    twilio_messaging_service_sid: str | None = Field(
        None, validation_alias=_env("TWILIO_MESSAGING_SERVICE_SID")
    )
    twilio_api_base_url: str | None = Field(None, validation_alias=_env("TWILIO_API_BASE_URL"))
    sms_help_text: str = Field(
        "This number answers with an AI assistant. Reply STOP to stop messages, START to resume. "
        "Msg&data rates may apply.",
        validation_alias=_env("GATEWAY_SMS_HELP_TEXT"),
        description="Answer to HELP/INFO over SMS (no core call).",
    )

    # --- WhatsApp Cloud API (default account) ------------------------------------------------
    whatsapp_phone_number_id: str | None = Field(
        None, validation_alias=_env("WHATSAPP_PHONE_NUMBER_ID")
    )
    whatsapp_access_token: SecretStr | None = Field(
        None, validation_alias=_env("WHATSAPP_ACCESS_TOKEN")
    )
    whatsapp_app_secret: SecretStr | None = Field(
        None, validation_alias=_env("WHATSAPP_APP_SECRET")
    )
    whatsapp_verify_token: SecretStr | None = Field(
        None, validation_alias=_env("WHATSAPP_VERIFY_TOKEN")
    )
    whatsapp_api_base_url: str | None = Field(None, validation_alias=_env("WHATSAPP_API_BASE_URL"))

    @field_validator("telegram_webhook_secret", "whatsapp_verify_token")
    @classmethod
    def _chosen_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """Secrets an operator picks by hand (the admin API refuses the same, gateway/schemas.py);
        empty means unset (Telegram's is then derived, long already)."""
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_CHOSEN_SECRET:
            raise ValueError(f"must be at least {MIN_CHOSEN_SECRET} characters")
        return value

    # --- HTTP ------------------------------------------------------------------------------
    public_url: str | None = Field(
        None,
        validation_alias=_env("GATEWAY_PUBLIC_URL"),
        description="Externally visible base URL (https://gw.example.com). Twilio signs the URL "
        "it posts to, so behind a proxy that rewrites host or scheme the signature is checked "
        "over this, not over what the request says; also the base of status callback URLs.",
    )
    host: str = Field("0.0.0.0", validation_alias=_env("GATEWAY_HOST"))
    port: int = Field(8080, validation_alias=_env("PORT"))
    max_body_bytes: int = Field(
        1024 * 1024,
        validation_alias=_env("GATEWAY_MAX_BODY_BYTES"),
        description="Telegram updates are a few KiB; 1 MiB leaves room and bounds memory.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        validation_alias=_env("GATEWAY_METRICS_TOKEN"),
        description="When set, /metrics answers only `Authorization: Bearer <token>` (else "
        "401); empty means unset.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        validation_alias=_env("GATEWAY_METRICS_PORT"),
        description="When set, `serve` answers /metrics on this port (GATEWAY_METRICS_HOST) "
        "instead of the public one, and `worker` serves health and metrics there.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        validation_alias=_env("GATEWAY_METRICS_HOST"),
        description="Bind address of GATEWAY_METRICS_PORT (loopback: scraped from the host).",
    )

    db_pool_size: int = Field(
        10,
        validation_alias=_env("GATEWAY_DB_POOL_SIZE"),
        description="Connections per process (a fixed pool, plus up to 10 reserved: 3 for "
        "lease writes, 3 for claims, 4 for webhook inserts, opened only by a process that "
        "serves webhooks). Statements are short and never span a network call, so 10 serve "
        "thousands of turns in flight; keep processes x (this + 10) under PostgreSQL's "
        "max_connections (100 by default).",
    )

    # --- work queues -----------------------------------------------------------------------
    lease_seconds: float = Field(
        60.0,
        validation_alias=_env("GATEWAY_LEASE_SECONDS"),
        description="A claim is a lease: work held by a dead process is taken up again after it.",
    )
    poll_interval_seconds: float = Field(
        0.25,
        validation_alias=_env("GATEWAY_POLL_INTERVAL_SECONDS"),
        description="How often an idle loop looks for work another process may have queued.",
    )
    worker_concurrency: int = Field(
        2000,
        ge=1,
        validation_alias=_env("GATEWAY_WORKER_CONCURRENCY"),
        description="Turns in flight per process. A real core answers in seconds, so this, not "
        "CPU, bounds a process's turns/s against it (2,000 in flight / 5 s = 400 turns/s). A "
        "turn waiting on the core holds no database connection, only memory (measured in "
        "bench/README.md); the core itself is protected by each project's core_concurrency.",
    )
    heap_trim_seconds: float = Field(
        10.0,
        ge=0,
        validation_alias=_env("GATEWAY_HEAP_TRIM_SECONDS"),
        description="How often a long-running process gives the C heap's free pages back to "
        "the system (glibc's malloc_trim; 0: never). Without it a busy process's memory creeps "
        "up by megabytes a minute while what it uses stays flat (gateway/heap.py).",
    )
    sender_concurrency: int = Field(
        64,
        validation_alias=_env("GATEWAY_SENDER_CONCURRENCY"),
        description="Sends in flight per process (within each provider's pacing); matches the "
        "Telegram adapter's 64-connection pool per bot.",
    )
    album_wait_seconds: float = Field(
        1.0,
        ge=0,
        validation_alias=_env("GATEWAY_ALBUM_WAIT_SECONDS"),
        description="A Telegram album arrives as one update per photo: the turn waits until no "
        "part has arrived for this long (at most 5x this after the first part), then sends the "
        "parts to the agent as one message.",
    )
    typing_per_second: float = Field(
        10.0,
        gt=0,
        validation_alias=_env("GATEWAY_TYPING_PER_SECOND"),
        description="Typing indicators per second per channel account and process (best "
        "effort: past it a chat skips an indicator). Telegram allows a bot ~30 requests/s in "
        "all, replies included.",
    )
    retry_base_seconds: float = Field(1.0, validation_alias=_env("GATEWAY_RETRY_BASE_SECONDS"))
    retry_cap_seconds: float = Field(60.0, validation_alias=_env("GATEWAY_RETRY_CAP_SECONDS"))
    inbox_max_attempts: int = Field(
        20,
        validation_alias=_env("GATEWAY_INBOX_MAX_ATTEMPTS"),
        description="With a 60 s cap this keeps a turn alive through ~15 minutes of core outage.",
    )
    outbox_max_attempts: int = Field(
        10,
        validation_alias=_env("GATEWAY_OUTBOX_MAX_ATTEMPTS"),
        description="Transient send failures (5xx, timeouts) before a message is dead-lettered.",
    )

    # --- Telegram pacing (Bot FAQ: ~30 msg/s per bot, ~1 msg/s per chat, 20 msg/min per group)
    telegram_rate_per_bot: float = Field(
        25.0, validation_alias=_env("GATEWAY_TELEGRAM_RATE_PER_BOT")
    )
    telegram_rate_per_chat: float = Field(
        1.0, validation_alias=_env("GATEWAY_TELEGRAM_RATE_PER_CHAT")
    )
    telegram_chat_burst: int = Field(
        3,
        validation_alias=_env("GATEWAY_TELEGRAM_CHAT_BURST"),
        description="A short burst (a reply split in parts) goes out at once, then 1/s.",
    )
    telegram_group_per_minute: float = Field(
        19.0, validation_alias=_env("GATEWAY_TELEGRAM_GROUP_PER_MINUTE")
    )

    # --- logs --------------------------------------------------------------------------------
    log_level: str = Field("INFO", validation_alias=_env("GATEWAY_LOG_LEVEL"))
    log_format: Literal["json", "console"] = Field(
        "json", validation_alias=_env("GATEWAY_LOG_FORMAT")
    )

    def reply_parts(self, paid: bool) -> int:
        """The most messages one reply is split into (`paid`: each part costs money, SMS)."""
        return self.sms_max_reply_parts if paid else self.max_reply_parts

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_keys(self) -> list[str]:
        if self.secret_key is None:
            return []
        return [k.strip() for k in self.secret_key.get_secret_value().split(",") if k.strip()]
