"""The errors every layer shares: what the admin API answers 403, 404, 409 and 422 and the CLI
prints.

Raised by the stores and operations (projects, accounts, identities, approvals); translated to
HTTP only in `gateway.web` and to exit codes only in `gateway.cli`.
"""

from __future__ import annotations


class NotFound(LookupError):
    """No such project, account, identity or approval (404)."""


class Conflict(ValueError):
    """The thing exists already or is in a state that forbids the change (409)."""


class Invalid(ValueError):
    """A well-formed request that does not fit (422)."""


class Forbidden(PermissionError):
    """The caller's credentials do not cover this change (403): a project API key moving a
    base URL its project's secrets are sent to."""


class StartupError(RuntimeError):
    """A process cannot start (configuration, database, port, keys). The message is one line
    naming the cause and the fix; the CLI prints it, without a traceback, and exits non-zero."""
