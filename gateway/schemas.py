"""Admin/CLI data shapes (pydantic): validation in, JSON out, and the OpenAPI schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from gateway.netguard import NEVER_PATTERN, URL_PATTERN, written_as_never_called

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NO_NUL = r"^[^\x00]*$"
Channel = Literal["telegram", "sms", "whatsapp"]


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    if value is not None and not _URL.fullmatch(value):
        raise ValueError(
            "must be an http(s) URL with a host name, an IPv4 address or a [bracketed] IPv6 "
            "address, an optional port, and no user:password@"
        )
    if value is not None and written_as_never_called(value):
        raise ValueError("a link-local, metadata or reserved address: never called")
    return value.rstrip("/") if value else value


_URL = re.compile(URL_PATTERN)
_URL_RULES: dict[str, Any] = {"pattern": URL_PATTERN, "not": {"pattern": NEVER_PATTERN}}
"""The URL rules in the OpenAPI document (checked by `_http_url`, whose messages are shorter
than the patterns); where a URL's host resolves to is checked when it is saved (422) and on
every connection (`gateway.netguard`)."""
CoreUrl = Annotated[
    str | None,
    Field(max_length=512, json_schema_extra=_URL_RULES),
    AfterValidator(_http_url),
]
# Column sizes: longer values would be a database error (500) on PostgreSQL, not a 422.
Model = Annotated[str | None, Field(min_length=1, max_length=128, pattern=NO_NUL)]
# NUL cannot be stored in PostgreSQL text; saying so in the schema makes it a documented 422.
Secret = Annotated[str, Field(min_length=1, max_length=4096, pattern=NO_NUL)]
MIN_CHOSEN_SECRET = 16  # gateway.config has the same floor for the environment's values
ChosenSecret = Annotated[str, Field(min_length=MIN_CHOSEN_SECRET, max_length=4096, pattern=NO_NUL)]
"""A secret an operator picks by hand (WhatsApp's verify token): long enough not to be guessed."""
TelegramSecret = Annotated[
    str, Field(min_length=MIN_CHOSEN_SECRET, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")
]
"""Telegram's `secret_token` alphabet; at least 16 characters when given (a derived one is 64)."""
CoreProjectId = Annotated[str | None, Field(max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
"""The core's id of a project (it goes into the admin API's path)."""
WebhookUrl = Annotated[
    str | None,
    Field(max_length=1024, json_schema_extra=_URL_RULES),
    AfterValidator(_http_url),
]
TtlSeconds = Annotated[int | None, Field(None, ge=10, le=7 * 24 * 3600)]
MODEL_TIERS = ("simple", "balanced", "complex")
"""What `model` names: the core maps a tier to a provider model, so operators change models
there, not in every gateway project."""
Threading = Literal["conversation", "previous_response"]
"""How the core learns a chat's context: the gateway's `conversation` id (the contract), or
`previous_response` chaining for cores that only support that."""
DEFAULT_THREADING: Threading = "conversation"
Transcription = Literal["auto", "on", "off"]
"""Voice notes: `auto` transcribed when the core offers it, `on` always tried (a core without
transcription is a warning), `off` never (the audio goes to the agent as a file)."""
DEFAULT_TRANSCRIPTION: Transcription = "auto"
DEFAULT_FEATURE = "channel_gateway"
Feature = Annotated[str | None, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
"""`metadata.feature` of a project's core calls (the core's usage reports group by it)."""
DEFAULT_CORE_CONCURRENCY = 2000  # GATEWAY_CORE_CONCURRENCY's default (`gateway.config`)
MAX_CORE_CONCURRENCY = 100_000


def _json_integer(value: object) -> object:
    """JSON Schema's integer: `4.0` is one (pydantic then makes it 4), `true` and `"4"` are not."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a whole number")
    return value


CoreConcurrency = Annotated[
    int | None, Field(ge=1, le=MAX_CORE_CONCURRENCY), BeforeValidator(_json_integer)
]
"""The most core calls a project may have in flight per gateway process (None: the default,
GATEWAY_CORE_CONCURRENCY)."""


def check_model(model: str | None, custom: bool) -> None:
    """Raise ValueError naming the tiers unless `model` is one or the operator asked for a
    custom model name explicitly."""
    if model is not None and model not in MODEL_TIERS and not custom:
        raise ValueError(
            f"model must be a tier: {', '.join(MODEL_TIERS)} (got {model!r}); to send another "
            "model name anyway, pass custom_model (CLI: --custom-model)"
        )


_T = TypeVar("_T")


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out, not null")
    return value


# A field that may be left out (None then) but not sent as null: the schema shows only `_T`,
# and the account code reads a missing key (`given()`), never a None value.
Omittable = Annotated[_T | SkipJsonSchema[None], BeforeValidator(_not_null)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_MODEL_RULE: dict[str, Any] = {
    "anyOf": [
        {"not": {"required": ["model"]}},
        {"properties": {"model": {"anyOf": [{"enum": list(MODEL_TIERS)}, {"type": "null"}]}}},
        {"properties": {"custom_model": {"const": True}}, "required": ["custom_model"]},
    ]
}
"""`check_model` in the OpenAPI document: a tier, or `custom_model: true`."""


class ProjectCreate(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_MODEL_RULE)
    name: str = Field(pattern=NAME_PATTERN, description="Lower-case slug used in URLs and CLI.")
    core_base_url: CoreUrl = Field(None, description="Responses core; default: the gateway's.")
    core_api_key: Secret | None = Field(None, description="Project key for the core (write-only).")
    model: Model = Field(
        None,
        description="Model tier sent to the core (simple, balanced, complex); default: `balanced`.",
    )
    unlinked_policy: Literal["link_required", "channel_user", "allowlist"] | None = None
    approval_webhook_url: WebhookUrl = Field(
        None,
        description="Where approval lifecycle events are POSTed (signed): https:// to a public "
        "address (GATEWAY_ALLOW_PRIVATE_WEBHOOKS, GATEWAY_WEBHOOK_ALLOWED_HOSTS relax it).",
    )
    approval_webhook_secret: Secret | None = Field(
        None, description="HMAC secret for X-General-Augment-Signature (write-only)."
    )
    approval_ttl_seconds: TtlSeconds = Field(None, description="Approval lifetime; default 300.")
    threading: Threading | None = Field(
        None, description="`conversation` (default) or `previous_response` chaining."
    )
    feature: Feature = Field(None, description="`metadata.feature`; default `channel_gateway`.")
    transcription: Transcription | None = Field(
        None,
        description="Voice notes: `auto` (default: transcribed when the core offers "
        "/v1/audio/transcriptions), `on` (always tried) or `off` (sent as audio files).",
    )
    core_concurrency: CoreConcurrency = Field(
        None,
        description="The most core calls in flight for this project per gateway process "
        "(N processes: up to N times this); default GATEWAY_CORE_CONCURRENCY (2000).",
    )
    genaug_project_id: CoreProjectId = Field(
        None, description="The core's id of this project: with the admin key, core approvals."
    )
    genaug_admin_key: Secret | None = Field(
        None, description="The core's X-Admin-Key for its approvals API (write-only)."
    )
    genaug_webhook_secret: Secret | None = Field(
        None, description="Verifies the core's signed approval events (write-only)."
    )
    custom_model: bool = Field(
        False, description="Accept a `model` that is not a tier (simple, balanced, complex)."
    )

    @model_validator(mode="after")
    def _model_is_a_tier(self) -> ProjectCreate:
        check_model(self.model, self.custom_model)
        return self


class ProjectPatch(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_MODEL_RULE)
    core_base_url: CoreUrl = None
    core_api_key: Secret | None = None
    model: Model = None
    unlinked_policy: Literal["link_required", "channel_user", "allowlist"] | None = None
    approval_webhook_url: WebhookUrl = None
    approval_webhook_secret: Secret | None = None
    approval_ttl_seconds: TtlSeconds = None
    threading: Threading | None = None
    feature: Feature = None
    transcription: Transcription | None = None
    core_concurrency: CoreConcurrency = Field(
        None, description="Core calls in flight per process; null: GATEWAY_CORE_CONCURRENCY."
    )
    genaug_project_id: CoreProjectId = None
    genaug_admin_key: Secret | None = None
    genaug_webhook_secret: Secret | None = None
    custom_model: bool = Field(
        False, description="Accept a `model` that is not a tier (simple, balanced, complex)."
    )

    @model_validator(mode="after")
    def _model_is_a_tier(self) -> ProjectPatch:
        check_model(self.model, self.custom_model)
        return self


class ProjectOut(BaseModel):
    name: str
    core_base_url: str | None
    core_api_key_set: bool
    model: str
    unlinked_policy: str
    approval_webhook_url: str | None = None
    approval_webhook_secret_set: bool = False
    approval_ttl_seconds: int | None = None
    threading: str = DEFAULT_THREADING
    feature: str = DEFAULT_FEATURE
    transcription: str = DEFAULT_TRANSCRIPTION
    core_concurrency: int = Field(
        DEFAULT_CORE_CONCURRENCY,
        description="The effective cap on core calls in flight per gateway process: the "
        "project's own, else GATEWAY_CORE_CONCURRENCY.",
    )
    genaug_project_id: str | None = None
    genaug_admin_key_set: bool = False
    genaug_webhook_secret_set: bool = False
    accounts: list[AccountOut] = Field(default_factory=list)
    usage_webhook: str | None = Field(
        None,
        description="Where the core posts this project's usage.threshold events (unsigned: the "
        "path's last segment is the secret; GATEWAY_PUBLIC_URL prefixes it when set).",
    )
    core_usage: str | None = Field(
        None, description="The latest usage.threshold signal from the core, if any."
    )
    created_at: datetime
    updated_at: datetime


class AccountFields(BaseModel):
    """Channel-specific account settings; which apply to a channel is in `ACCOUNT_SHAPES`."""

    token: Secret | None = Field(None, description="telegram: bot token (write-only).")
    webhook_secret: TelegramSecret | None = Field(
        None,
        description="telegram: secret_token (16-256 of A-Z a-z 0-9 _ -); derived from the token "
        "when omitted (write-only).",
    )
    account_sid: str | None = Field(
        None, pattern=r"^AC[0-9a-fA-F]{32}$", description="sms: Twilio account SID."
    )
    auth_token: Secret | None = Field(None, description="sms: Twilio auth token (write-only).")
    from_number: str | None = Field(
        None, pattern=r"^\+[1-9][0-9]{6,14}$", description="sms: sending number (E.164)."
    )
    messaging_service_sid: str | None = Field(
        None,
        pattern=r"^MG[0-9a-fA-F]{32}$",
        description="sms: Twilio Messaging Service to send from instead of a number.",
    )
    phone_number_id: str | None = Field(
        None, pattern=r"^[0-9]{1,32}$", description="whatsapp: Cloud API phone number id."
    )
    access_token: Secret | None = Field(None, description="whatsapp: access token (write-only).")
    app_secret: Secret | None = Field(
        None, description="whatsapp: app secret that signs webhooks (write-only)."
    )
    verify_token: ChosenSecret | None = Field(
        None, description="whatsapp: webhook verify token, 16 characters or more (write-only)."
    )
    api_version: str | None = Field(
        None, pattern=r"^v[0-9]{1,3}\.[0-9]{1,3}$", description="whatsapp: Graph API version."
    )
    api_base_url: CoreUrl = Field(
        None, description="Provider API base (a local server in tests); default the real one."
    )

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


@dataclass(frozen=True)
class AccountShape:
    secrets: tuple[str, ...]
    config: tuple[str, ...]
    required: tuple[str, ...]
    """What an operator must give (the CLI prompts for the secrets among them)."""

    @property
    def fields(self) -> set[str]:
        return {*self.secrets, *self.config}


ACCOUNT_SHAPES: dict[str, AccountShape] = {
    "telegram": AccountShape(("token", "webhook_secret"), ("api_base_url",), ("token",)),
    "sms": AccountShape(
        ("auth_token",),
        ("account_sid", "from_number", "messaging_service_sid", "api_base_url"),
        ("account_sid", "auth_token"),
    ),
    "whatsapp": AccountShape(
        ("access_token", "app_secret", "verify_token"),
        ("phone_number_id", "api_version", "api_base_url"),
        ("phone_number_id", "access_token", "app_secret", "verify_token"),
    ),
}


def check_account_fields(channel: str, given: dict[str, Any]) -> None:
    """Raise ValueError naming the given fields that do not belong to `channel` (a change to
    an existing account; creation is checked by the per-channel models)."""
    shape = ACCOUNT_SHAPES[channel]
    foreign = sorted(name for name, value in given.items() if name not in shape.fields and value)
    if foreign:
        raise ValueError(f"{', '.join(foreign)} do(es) not apply to {channel} accounts")


class _AccountCreateBase(_Strict):
    account: str = Field(pattern=NAME_PATTERN, description="Account id, used in the webhook URL.")
    api_base_url: CoreUrl = Field(
        None, description="Provider API base (a local server in tests); default the real one."
    )

    def given(self) -> dict[str, Any]:
        """The channel-specific fields that were given (not `channel` / `account`)."""
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if name not in ("channel", "account")
        }


class TelegramAccountCreate(_AccountCreateBase):
    channel: Literal["telegram"]
    token: Secret = Field(description="Bot token (write-only).")
    webhook_secret: Omittable[TelegramSecret] = Field(
        None,
        description="secret_token (16-256 of A-Z a-z 0-9 _ -); derived from the token when "
        "omitted (write-only).",
    )


ServiceSid = Annotated[str, Field(pattern=r"^MG[0-9a-fA-F]{32}$")]


class SmsAccountCreate(_AccountCreateBase):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "description": "A Twilio account: SMS, and WhatsApp through Twilio.",
            "anyOf": [{"required": ["from_number"]}, {"required": ["messaging_service_sid"]}],
        },
    )
    channel: Literal["sms"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Twilio account SID.")
    auth_token: Secret = Field(description="Twilio auth token (write-only).")
    from_number: Omittable[Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]] = Field(
        None, description="Sending number (E.164)."
    )
    messaging_service_sid: Omittable[ServiceSid] = Field(
        None, description="Or a Messaging Service to send from."
    )

    @model_validator(mode="after")
    def _has_sender(self) -> SmsAccountCreate:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("sms accounts need from_number or messaging_service_sid")
        return self


class WhatsAppAccountCreate(_AccountCreateBase):
    model_config = ConfigDict(
        json_schema_extra={"description": "A WhatsApp Cloud API phone number."}
    )
    channel: Literal["whatsapp"]
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$", description="Phone number id.")
    access_token: Secret = Field(description="Access token (write-only).")
    app_secret: Secret = Field(description="App secret that signs webhooks (write-only).")
    verify_token: ChosenSecret = Field(
        description="Webhook verify token, 16 characters or more (write-only)."
    )
    api_version: Omittable[Annotated[str, Field(pattern=r"^v[0-9]{1,3}\.[0-9]{1,3}$")]] = Field(
        None, description="Graph API version, vNN.N; unset: the gateway's current one."
    )


AnyAccountCreate = TelegramAccountCreate | SmsAccountCreate | WhatsAppAccountCreate


class AccountCreate(RootModel[Annotated[AnyAccountCreate, Field(discriminator="channel")]]):
    model_config = ConfigDict(
        json_schema_extra={"description": "A channel account; the fields depend on `channel`."}
    )

    @property
    def channel(self) -> str:
        return self.root.channel

    @property
    def account(self) -> str:
        return self.root.account

    def given(self) -> dict[str, Any]:
        return self.root.given()


class AccountPatch(AccountFields, _Strict):
    enabled: bool | None = None


class AccountOut(BaseModel):
    project: str
    channel: str
    account: str
    enabled: bool
    secrets_set: list[str]
    config: dict[str, Any]
    webhook_path: str
    created_at: datetime
    updated_at: datetime


SENDER_PATTERN = r"^[A-Za-z0-9+:._@-]{1,128}$"
AppUserId = Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)]


class LinkCodeCreate(_Strict):
    app_user_id: AppUserId = Field(description="The app's own user id the code links to.")
    ttl_seconds: int = Field(
        600, ge=60, le=1800, description="Lifetime (default 10 minutes, at most 30)."
    )


class LinkCodeOut(BaseModel):
    code: str = Field(description="Show it to the user; it works once.")
    app_user_id: str
    expires_at: datetime
    instructions: dict[str, str] = Field(
        description="How to use it on each configured channel (Telegram deep link, LINK <code>)."
    )


class IdentityLinkPut(_Strict):
    channel: Channel
    sender: str = Field(
        pattern=SENDER_PATTERN,
        description="Channel user id: Telegram user id, E.164 phone (sms), wa_id (whatsapp).",
    )
    app_user_id: AppUserId
    force: bool = Field(False, description="Move an identity linked to another app user.")


class IdentityLinkOut(BaseModel):
    channel: str
    sender: str
    app_user_id: str
    created_at: datetime
    created_by: str
    last_inbound_at: datetime | None = None


class MessageCreate(_Strict):
    app_user_id: AppUserId
    text: str = Field(min_length=1, max_length=10000, pattern=NO_NUL)
    channel: Channel | None = Field(
        None, description="Send on this channel; default the one the user used most recently."
    )


class MessageOut(BaseModel):
    id: str
    app_user_id: str
    channel: str
    sender: str
    parts: int
    queued_at: datetime


class ApprovalCreate(_Strict):
    app_user_id: AppUserId
    tool: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    summary: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)
    ttl_seconds: TtlSeconds = Field(None, description="Lifetime; default the project's (300 s).")
    channel: Channel | None = Field(
        None, description="Prompt on this channel; default the one the user used most recently."
    )


class ApprovalDecide(_Strict):
    actor: str | None = Field(
        None, max_length=200, pattern=NO_NUL, description="Who decided (audit log)."
    )


class ApprovalOut(BaseModel):
    id: str
    project: str
    status: Literal["pending", "approved", "denied", "expired"]
    app_user_id: str
    tool: str
    summary: str
    input_summary: str | None = None
    source: Literal["core", "api", "core_owned"]
    """`core`: an mcp_approval_request; `api`: asked for by the app; `core_owned`: one of the
    core's own approvals (its admin API decides it)."""
    core_approval_id: str | None = None
    server_label: str | None = None
    channel: str | None = None
    response_id: str | None = None
    turn_id: int | None = None
    decided_by: str | None = None
    decision_source: str | None = None
    decided_at: datetime | None = None
    created_at: datetime
    expires_at: datetime


class WebhookDeliveryOut(BaseModel):
    id: int
    approval_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None


class TurnStory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "description": "One turn's whole story (support): phone numbers masked, no secrets."
        }
    )

    project: str | None
    inbound: dict[str, Any]
    identity: dict[str, Any] | None
    core: dict[str, Any] | None
    approvals: list[dict[str, Any]]
    outbound: list[dict[str, Any]]


class ApiKeyCreate(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="What the key is for (audit log).")


class ApiKeyOut(BaseModel):
    """A project's admin API key as listed: never the key, only its first characters."""

    id: str
    project: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


ProjectOut.model_rebuild()
