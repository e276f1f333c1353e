"""`DATABASE_URL` as platforms write it, turned into what SQLAlchemy's asyncpg dialect takes.

PaaS and managed databases hand out libpq URLs (`postgres://u:p@h/db?sslmode=require`); SQLAlchemy
knows no `postgres` dialect and passes query options to `asyncpg.connect()` as keyword arguments,
which has no `sslmode`. Every engine the gateway creates goes through `engine_options`, so the
SQLAlchemy pools, the asyncpg hot path beneath them (`raw.py`) and Alembic (handed a live
connection) all connect the same way.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gateway.errors import StartupError

POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")
SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
CERT_OPTIONS = ("sslrootcert", "sslcert", "sslkey", "sslpassword")
SUPPORTED_OPTIONS = (
    "sslmode",
    "ssl",
    *CERT_OPTIONS,
    "connect_timeout",
    "application_name",
    "target_session_attrs",
    "host",
)
"""libpq options the gateway translates (`ssl` is SQLAlchemy + asyncpg's spelling of `sslmode`;
`host` in the query is a Unix socket directory, handled by SQLAlchemy itself)."""


class DatabaseUrlError(StartupError):
    """`DATABASE_URL` cannot be used as written; the message names the part and the fix."""


@dataclass(frozen=True)
class EngineOptions:
    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def redacted(url: str) -> str:
    """The URL with its password replaced by `***`, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable DATABASE_URL>"


def engine_options(url: str) -> EngineOptions:
    """The SQLAlchemy URL and asyncpg connect arguments for a `DATABASE_URL`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            "DATABASE_URL is not a URL: use postgres://user:password@host:5432/db or "
            "sqlite+aiosqlite:///path/to/gateway.db"
        ) from None
    scheme = parsed.drivername
    if scheme in SQLITE_SCHEMES:
        return EngineOptions(parsed.set(drivername="sqlite+aiosqlite"))
    if scheme not in POSTGRES_SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL scheme {scheme!r} is not supported: use postgres://, postgresql://, "
            "postgresql+asyncpg:// or sqlite+aiosqlite://"
        )
    query: dict[str, str] = {}
    for name, value in parsed.query.items():
        if name not in SUPPORTED_OPTIONS:
            raise DatabaseUrlError(
                f"DATABASE_URL option {name!r} is not supported: remove it "
                f"(supported: {', '.join(SUPPORTED_OPTIONS)})"
            )
        if not isinstance(value, str):
            raise DatabaseUrlError(f"DATABASE_URL option {name!r} is given more than once")
        query[name] = value
    connect_args = _connect_args(query)
    kept = {"host": query["host"]} if "host" in query else {}
    return EngineOptions(parsed.set(drivername="postgresql+asyncpg", query=kept), connect_args)


def _connect_args(query: dict[str, str]) -> dict[str, Any]:
    if "sslmode" in query and "ssl" in query:
        raise DatabaseUrlError("DATABASE_URL sets both 'sslmode' and 'ssl': keep 'sslmode'")
    args: dict[str, Any] = {}
    mode = query.get("sslmode", query.get("ssl"))
    if mode is not None:
        mode = {"true": "require", "false": "disable"}.get(mode.lower(), mode)
        if mode not in SSL_MODES:
            raise DatabaseUrlError(
                f"DATABASE_URL sslmode={mode!r} is not one of {', '.join(SSL_MODES)}"
            )
    certs = {name: query[name] for name in CERT_OPTIONS if name in query}
    if certs:
        args["ssl"] = _ssl_context(mode, certs)
    elif mode is not None:
        # asyncpg implements libpq's modes itself, `prefer` and `allow` falling back like libpq.
        args["ssl"] = mode
    if "connect_timeout" in query:
        args["timeout"] = _timeout(query["connect_timeout"])
    if "application_name" in query:
        args["server_settings"] = {"application_name": query["application_name"]}
    if "target_session_attrs" in query:
        args["target_session_attrs"] = query["target_session_attrs"]
    return {k: v for k, v in args.items() if v is not None}


def _timeout(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise DatabaseUrlError(
            f"DATABASE_URL connect_timeout={value!r} is not a number of seconds (0 or more)"
        )
    return seconds or None  # libpq: 0 waits without limit; asyncpg's default (60 s) stays


def _ssl_context(mode: str | None, certs: dict[str, str]) -> ssl.SSLContext | bool:
    """A TLS context from libpq's certificate options (asyncpg reads them only from its own DSN).

    With certificate files TLS is required: asyncpg cannot fall back to plain text with a context
    of ours, so `prefer` / `allow` (and no mode) are refused rather than silently strengthened.
    """
    names = ", ".join(certs)
    if mode == "disable":
        return False
    if mode not in ("require", "verify-ca", "verify-full"):
        raise DatabaseUrlError(
            f"DATABASE_URL gives {names} with sslmode={mode or 'prefer (the default)'}: "
            "add sslmode=require, verify-ca or verify-full"
        )
    if "sslkey" in certs and "sslcert" not in certs:
        raise DatabaseUrlError("DATABASE_URL gives sslkey without sslcert: add sslcert")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    root = certs.get("sslrootcert")
    try:
        if root == "system":
            context.load_default_certs()
        elif root is not None:
            context.load_verify_locations(cafile=os.path.expanduser(root))
        elif mode != "require":
            context.load_default_certs()
        if "sslcert" in certs:
            password = certs.get("sslpassword")
            context.load_cert_chain(
                os.path.expanduser(certs["sslcert"]),
                keyfile=os.path.expanduser(certs["sslkey"]) if "sslkey" in certs else None,
                password=(lambda: password) if password else None,
            )
    except (OSError, ssl.SSLError) as exc:
        raise DatabaseUrlError(
            f"DATABASE_URL certificate option ({names}) cannot be loaded: "
            f"{getattr(exc, 'strerror', None) or exc}: check the path and that it is readable"
        ) from None
    # libpq: `require` with a root certificate verifies the chain, like verify-ca.
    verify = mode != "require" or root is not None
    context.check_hostname = mode == "verify-full"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    return context
