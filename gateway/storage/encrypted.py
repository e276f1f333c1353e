"""Every encrypted column, found in the models by name (`*_encrypted`).

Key rotation re-encrypts and `gateway verify` decrypts what this module lists, so a secret column
added later is covered by both without being registered anywhere: naming it `..._encrypted` is
the registration (tests/storage/test_encrypted.py checks the database has no other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.db.models import Base

SUFFIX = "_encrypted"
_LABELS = ("name", "channel", "account")
"""Columns that name a row in messages (a project's name, an account's channel and name)."""


def encrypted_columns() -> dict[Table, list[Column[Any]]]:
    """Each table with encrypted columns, and those columns."""
    found: dict[Table, list[Column[Any]]] = {}
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name.endswith(SUFFIX)]
        if columns:
            found[table] = columns
    return found


@dataclass(frozen=True)
class SealedRow:
    """One row's encrypted values (only the columns that are set)."""

    table: Table
    key: dict[str, Any]
    label: str
    tokens: dict[str, str]

    def describe(self, column: str) -> str:
        return f"{self.label} ({column})"


async def sealed_rows(conn: AsyncConnection) -> list[SealedRow]:
    """Every row holding at least one encrypted value, in a stable order."""
    rows: list[SealedRow] = []
    for table, columns in encrypted_columns().items():
        keys = list(table.primary_key.columns)
        labels = [table.c[name] for name in _LABELS if name in table.c]
        result = await conn.execute(select(*keys, *labels, *columns).order_by(*keys))
        for row in result.mappings():
            tokens = {c.name: row[c.name] for c in columns if row[c.name]}
            if not tokens:
                continue
            key = {c.name: row[c.name] for c in keys}
            named = labels or keys
            label = table.name + " " + " ".join(f"{c.name}={row[c.name]!r}" for c in named)
            rows.append(SealedRow(table, key, label, tokens))
    return rows


async def store(conn: AsyncConnection, row: SealedRow, tokens: dict[str, str]) -> None:
    """Write new tokens for some of `row`'s encrypted columns."""
    where = and_(*(row.table.c[name] == value for name, value in row.key.items()))
    await conn.execute(update(row.table).where(where).values(tokens))


def count(rows: Sequence[SealedRow]) -> int:
    return sum(len(row.tokens) for row in rows)
