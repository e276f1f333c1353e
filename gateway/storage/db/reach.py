"""The first connection of a starting process: failures become one line naming the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from gateway.errors import StartupError

if TYPE_CHECKING:
    from gateway.storage.db import Database


class DatabaseUnreachable(StartupError):
    """The database refused or never answered the first connection."""


async def check_reachable(db: Database) -> None:
    """Connect once; a refused connection, unknown host, TLS refusal, missing database or wrong
    credentials raise `DatabaseUnreachable` instead of a driver's traceback."""
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, TimeoutError, sa_exc.DBAPIError) as exc:
        raise DatabaseUnreachable(
            f"cannot connect to the database {db.url.render_as_string(hide_password=True)}: "
            f"{_cause(exc)}: {_fix(exc)}"
        ) from exc


def _cause(exc: BaseException) -> str:
    if isinstance(exc, sa_exc.DBAPIError):
        exc = exc.orig or exc
    if isinstance(exc, TimeoutError):
        return "timed out"
    text_ = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text_


def _fix(exc: BaseException) -> str:
    if "rejected SSL upgrade" in str(exc):
        return "the server does not offer TLS: use sslmode=prefer or disable, or enable ssl there"
    return "check DATABASE_URL and that the database server is running and reachable"
