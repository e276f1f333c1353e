"""Helpers every CLI command shares: settings, a prepared store, output as table or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from gateway.config import Settings
from gateway.logs import configure_logging

if TYPE_CHECKING:
    from rich.console import Console

    from gateway.storage.projects import ProjectStore

# The database layer, Alembic and the channel adapters are imported by the functions that use
# them, so `gateway --help` does not pay for them.


class LazyConsole:
    """A rich `Console` made on the first print. `serve` and `worker` print nothing through
    it, and rich (with the pygments its tracebacks import) would otherwise sit in a long-running
    process's memory for nothing (docs/decisions.md, "What a process imports")."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        self._console.print(*objects, **options)


console = LazyConsole()
err = LazyConsole(stderr=True)
T = TypeVar("T")


def load_settings() -> Settings:
    return load_settings_with_origins()[0]


def load_settings_with_origins() -> tuple[Settings, dict[str, str]]:
    """The settings and where each came from; a bad one is a `StartupError` (one line)."""
    from gateway.cli.startup import invalid_settings, note_log_level
    from gateway.errors import StartupError
    from gateway.settings_sources import ConfigError, recording, spellings

    try:
        with recording() as origins:
            settings = Settings()
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc
    except ValidationError as exc:
        names = spellings(Settings)
        by_name = {key: origins[field] for key, field in names.items() if field in origins}
        raise invalid_settings(exc, by_name) from exc
    note_log_level(settings.log_level)
    configure_logging(settings.log_level, settings.log_format)
    return settings, origins


def print_error(message: str) -> None:
    # soft_wrap: one line however narrow the terminal (or 80 columns when piped to a log).
    # escape: messages quote user input and patterns like `[a-z0-9]`, which are not markup.
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning expected failures into one clear line and exit 1."""
    from gateway.errors import Conflict, Invalid, NotFound

    # A StartupError (schema out of date, secret key, database unreachable) goes on up to
    # `gateway.cli.startup.guarded`, which prints it the same way for every command.
    try:
        return asyncio.run(coro)
    except (NotFound, Conflict, Invalid) as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(_problems(exc))
    raise AssertionError("unreachable")


M = TypeVar("M", bound=BaseModel)


def validated(schema: type[M], /, **values: Any) -> M:
    """Build a request model from options; invalid input is one clear line, not a traceback."""
    try:
        return schema(**values)
    except ValidationError as exc:
        fail(_problems(exc))
    raise AssertionError("unreachable")


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[ProjectStore]:
    from gateway.storage.db import Database
    from gateway.storage.db.schema import ensure_current
    from gateway.storage.projects import ProjectStore
    from gateway.storage.secrets import load_secret_box

    db = Database(settings.database_url, pool_size=2)
    try:
        await ensure_current(db)
        store = ProjectStore(db, load_secret_box(settings), settings)
        await store.apply_environment()
        yield store
    finally:
        await db.close()


def read_secret(value: str | None, prompt: str) -> str:
    """Secrets come from a hidden prompt or stdin (`-` or a pipe), so they stay out of history."""
    if value == "-" or (value is None and not sys.stdin.isatty()):
        secret = sys.stdin.readline().strip()
    elif value is None:
        secret = typer.prompt(prompt, hide_input=True).strip()
    else:
        err.print(
            "[yellow]warning:[/] a secret on the command line is visible to other users "
            "of this machine; prefer the prompt or `-` for stdin"
        )
        secret = value
    if not secret:
        fail(f"{prompt} is empty")
    return secret


def emit(data: Any, as_json: bool, columns: Sequence[str] = (), title: str | None = None) -> None:
    """Print a model / list of models as JSON or as a rich table (lists) / key-value table."""
    plain = _plain(data)
    if as_json:
        sys.stdout.write(json.dumps(plain, indent=2, default=str) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    rows = plain if isinstance(plain, list) else [plain]
    if isinstance(plain, list):
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*[Text(_cell(row.get(c))) for c in columns])
    else:
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, value in plain.items():
            table.add_row(key, Text(_cell(value)))
    console.print(table)


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_plain(d) for d in data]
    return data


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_cell(v) if not isinstance(v, dict) else _brief(v) for v in value) or "-"
    if isinstance(value, dict):
        return _brief(value)
    return str(value)


def _brief(value: dict[str, Any]) -> str:
    if "channel" in value and "account" in value:
        return f"{value['channel']}:{value['account']}"
    return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"


async def with_account_adapter(
    settings: Settings, channel: str, project: str, account: str, action: Callable[[Any], Any]
) -> Any:
    """Run `action(adapter)` with the stored account's adapter (secrets decrypted), then close
    it; an account of another project is "not found" for this one."""
    from gateway.errors import NotFound
    from gateway.storage.projects import AccountDirectory

    async with opened_store(settings) as store:
        directory = AccountDirectory(store)
        try:
            owner, adapter = await directory.get(channel, account)
            if owner.name != project:
                raise NotFound(f"{channel} account {account!r} belongs to project {owner.name!r}")
            return await action(adapter)
        finally:
            await directory.close()
