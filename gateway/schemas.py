"""Admin/CLI data shapes (pydantic): validation in, JSON out, and the OpenAPI schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NO_NUL = r"^[^\x00]*$"
Channel = Literal["telegram"]


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/") if value else value


CoreUrl = Annotated[
    str | None, Field(max_length=512, pattern=r"^https?://[^\x00]*$"), AfterValidator(_http_url)
]
# Column sizes: longer values would be a database error (500) on PostgreSQL, not a 422.
Model = Annotated[str | None, Field(min_length=1, max_length=128, pattern=NO_NUL)]
# NUL cannot be stored in PostgreSQL text; saying so in the schema makes it a documented 422.
Secret = Annotated[str, Field(min_length=1, max_length=4096, pattern=NO_NUL)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Lower-case slug used in URLs and CLI.")
    core_base_url: CoreUrl = Field(None, description="Responses core; default: the gateway's.")
    core_api_key: Secret | None = Field(None, description="Project key for the core (write-only).")
    model: Model = Field(None, description="Model sent to the core; default: `balanced`.")
    unlinked_policy: Literal["channel_user"] | None = None


class ProjectPatch(_Strict):
    core_base_url: CoreUrl = None
    core_api_key: Secret | None = None
    model: Model = None
    unlinked_policy: Literal["channel_user"] | None = None


class ProjectOut(BaseModel):
    name: str
    core_base_url: str | None
    core_api_key_set: bool
    model: str
    unlinked_policy: str
    accounts: list[AccountOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class AccountCreate(_Strict):
    channel: Channel
    account: str = Field(pattern=NAME_PATTERN)
    token: Secret = Field(description="Bot token (write-only).")
    webhook_secret: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,256}$",
        description="Telegram secret_token; derived from the token when omitted (write-only).",
    )
    api_base_url: CoreUrl = Field(None, description="Bot API base; default the real one.")


class AccountPatch(_Strict):
    token: Secret | None = None
    webhook_secret: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    api_base_url: CoreUrl = None
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


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


ProjectOut.model_rebuild()
