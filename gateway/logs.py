"""Structured JSON logs with secrets redacted and phone numbers masked.

Redaction happens in the pipeline, not at call sites, so a careless `log.info(..., token=t)` or a
library logging a Bot API URL (which embeds the token) still never writes the secret.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key|admin_key|auth)", re.I)
_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_PHONE = re.compile(r"(?<![\w+])\+\d{7,15}\b")
"""E.164 only: bare digit runs are ids (update ids, chat ids) that logs must keep joinable."""
_BEARER = re.compile(r"(Bearer\s+)\S+", re.I)
_BOT_PATH = re.compile(r"/bot\d+:[^/\s'\"]+")
"""A Bot API URL's token segment (`/bot123:ABC.../sendMessage`), whatever the token's length."""
_URL_USERINFO = re.compile(r"(\w+://)[^/\s:@]+:[^/\s@]+@")
_URL_SECRET_PARAM = re.compile(
    r"([?&](?:[\w.]*[_-])?(?:token|secret|key|password|signature|sig|auth)=)[^&#\s'\"]+", re.I
)


def mask_phone(value: str) -> str:
    """`+15551234567` -> `+*******4567` (the shape support bundles use too)."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < 7:
        return value
    return "+" + "*" * (len(digits) - 4) + digits[-4:]


def scrub(text: str) -> str:
    """Secrets and phone numbers out of free text: what logs write and what the database keeps
    as an error (`scrub_error`)."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), redact_secrets(text))


def redact_secrets(text: str) -> str:
    """Tokens and credentials out of free text: exception texts quote URLs, and a Bot API URL
    holds the bot token."""
    if "/bot" in text:
        text = _BOT_PATH.sub("/bot<bot-token>", text)
    if "://" in text:
        text = _URL_USERINFO.sub(r"\1<redacted>@", text)
        text = _URL_SECRET_PARAM.sub(r"\1<redacted>", text)
    text = _BOT_TOKEN.sub("<bot-token>", text)
    return _BEARER.sub(r"\1<redacted>", text)


def scrub_error(text: str | None) -> str | None:
    """An error text as it may be stored or listed (None stays None)."""
    return None if text is None else scrub(text)


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEYS.search(key) and key not in ("event",):
            event[key] = "<redacted>"
        elif isinstance(value, str):
            event[key] = scrub(value)
    return event


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """One pipeline for our events and third-party (stdlib) records alike: same redaction, same
    renderer, one JSON object per line on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact,
    ]
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        # A logger is configured once per process: caching it spares every log call (even one
        # filtered out by level) a rebuild of the bound logger (~2% of a busy webhook process).
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # httpx logs every request URL at INFO, and Bot API URLs carry the bot token; alembic narrates.
    for noisy in ("httpx", "httpcore", "telegram", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


log = structlog.get_logger("gateway")
