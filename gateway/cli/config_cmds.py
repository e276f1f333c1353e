"""`gateway config show`: the effective settings and where each came from, secrets masked."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from gateway.cli.common import console, load_settings_with_origins
from gateway.config import Settings
from gateway.settings_sources import DEFAULT, file_variables, is_secret, variable

COLUMNS = ("variable", "value", "source")


def register(config_app: typer.Typer) -> None:
    @config_app.command(
        "show",
        help=(
            "Print every setting's effective value and its source: environment, "
            "NAME_FILE, the config file or default. Secrets show only as set / "
            "unset."
        ),
    )
    def show(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print JSON instead of a table.")
        ] = False,
    ) -> None:
        settings, origins = load_settings_with_origins()
        rows = effective(settings, origins)
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title="configuration")
        for column in COLUMNS:  # folded, never cut: a cut name or URL would mislead
            table.add_column(column, overflow="fold")
        for row in rows:
            value = "-" if row["value"] is None else str(row["value"])
            table.add_row(row["variable"], Text(value), row["source"])
        console.print(table)


def effective(settings: Settings, origins: dict[str, str]) -> list[dict[str, Any]]:
    """One row per setting; a secret's value is never included, not even in part."""
    files = file_variables(Settings)
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        source = origins.get(name, DEFAULT)
        if source == "file":
            source = files[name]
        rows.append(
            {
                "variable": variable(name, field),
                "value": _shown(name, value, is_secret(field)),
                "source": source,
            }
        )
    return rows


def _shown(name: str, value: Any, secret: bool) -> Any:
    if secret or isinstance(value, SecretStr):
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        return "set" if plain else "unset"
    if name == "database_url":
        from gateway.storage.db.dsn import redacted

        return redacted(value)
    return value
