"""Start-up failures as one line: the cause and the fix, exit 2, no traceback (unless DEBUG).

Everything that can stop a process from starting raises `gateway.errors.StartupError` (or a
subclass: a schema out of date, a secret key problem, an unreachable database, a bad
`DATABASE_URL`); `guarded` catches it once, around the whole command line.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from gateway.errors import StartupError

EXIT_STARTUP = 2
_debug_from_settings = False


class PortUnavailable(StartupError):
    """A listening socket could not be bound."""


def note_log_level(level: str) -> None:
    """The loaded settings' level: `GATEWAY_LOG_LEVEL=DEBUG` in gateway.toml counts too."""
    global _debug_from_settings
    _debug_from_settings = level.upper() == "DEBUG"


def debug_requested() -> bool:
    return _debug_from_settings or os.environ.get("GATEWAY_LOG_LEVEL", "").upper() == "DEBUG"


def guarded(command: Callable[[], Any]) -> None:
    """Run the command line; a `StartupError` from anywhere in it ends the process cleanly."""
    from gateway.cli.common import print_error

    try:
        command()
    except StartupError as exc:
        if debug_requested():
            traceback.print_exc(file=sys.stderr)
        print_error(str(exc))
        sys.exit(EXIT_STARTUP)


def invalid_settings(exc: ValidationError, origins: dict[str, str]) -> StartupError:
    """A setting that does not parse, named as the operator wrote it (never its value)."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        origin = origins.get(name.lower()) or origins.get(name)
        where = f" (from {origin})" if origin and origin != "environment" else ""
        problems.append(f"{name.upper()}{where}: {error['msg']}")
    return StartupError(
        f"invalid configuration: {'; '.join(problems)}: fix the value "
        "(docs/operations.md#configuration)"
    )


def port_unavailable(exc: OSError, host: str, port: int, setting: str) -> PortUnavailable:
    reason = {
        errno.EADDRINUSE: "the port is already in use",
        errno.EACCES: "permission denied (ports below 1024 need privileges)",
        errno.EADDRNOTAVAIL: "the address is not one of this machine's",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return PortUnavailable(
        f"cannot listen on {host}:{port}: {reason}: stop the process using it or choose "
        f"another port ({setting})"
    )
