"""PostgreSQL hot path: SQLAlchemy statements compiled once, run on asyncpg directly.

Under load SQLAlchemy's execution machinery cost more CPU than the statements it ran (py-spy of
`gateway serve` in the benchmark: about 40% of the process in SQLAlchemy's execute path and
its greenlet bridge, for a few cheap statements per batch). The statements of the turn path are
still written with SQLAlchemy Core, in one place, for both backends; on PostgreSQL they are
compiled once to SQL text and executed on the asyncpg connection beneath a pooled SQLAlchemy
connection (same pool, same connection limits). SQLite runs them through SQLAlchemy as before.
`KeyLookup` (batched reads by key) and `BulkInsert` (batched inserts) send one array per column
on PostgreSQL, unnested on the server.

Parameters go through the same type processors SQLAlchemy would apply (naive-UTC timestamps, JSON
serialization), results come back through the result processors (timezone-aware timestamps), and
errors are raised as SQLAlchemy's (`DataError`, `IntegrityError`, `OperationalError` ...), with a
connection that broke invalidated, so callers handle one family of exceptions.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import (
    ARRAY,
    JSON,
    DateTime,
    String,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    func,
    select,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_DIALECT = asyncpg_dialect()
_VALUE = "v__"
"""Prefix of the parameters of an INSERT's values (a bind may not be named after a column)."""
_Processor = Callable[[Any], Any] | None


class RawStatement:
    """One SQLAlchemy statement, compiled for PostgreSQL once, executed with asyncpg."""

    def __init__(self, statement: Any, keys: tuple[str, ...] = ()) -> None:
        # An INSERT without explicit values covers the columns its parameters name (`keys`),
        # as SQLAlchemy compiles it per execution; the others get their Python-side defaults.
        if keys:
            table = statement.table
            statement = statement.values(
                {key: bindparam(_VALUE + key, type_=table.c[key].type) for key in keys}
            )
        compiled = statement.compile(dialect=_DIALECT)
        defaults = {
            column.key: column.default if column in compiled.insert_prefetch else column.onupdate
            for column in [*compiled.insert_prefetch, *compiled.update_prefetch]
        }
        given = {name: None for name, bind in compiled.binds.items() if bind.value is None}
        # Literal IN lists (`status IN ('a', 'b')`) are rendered now; they never change.
        expanded = compiled.construct_expanded_state(given)
        self.sql: str = expanded.statement
        self._slots: list[tuple[str | None, Any, _Processor, Any]] = []
        for name in expanded.positiontup or ():
            if name in given:
                impl = compiled.binds[name].type.dialect_impl(_DIALECT)
                default = defaults.get(name)
                key = name.removeprefix(_VALUE)
                self._slots.append((key, None, impl.bind_processor(_DIALECT), default))
            else:
                self._slots.append((None, expanded.parameters[name], None, None))
        returned = list(getattr(statement, "exported_columns", ()))
        # Rows unpack, index and answer `row.name` like SQLAlchemy's rows.
        # typeshed types namedtuple() as returning type[tuple[Any, ...]], which has no _make.
        make_row = namedtuple("Row", [column.key for column in returned])._make  # type: ignore[attr-defined]
        self._make_row: Callable[[Iterable[Any]], tuple[Any, ...]] = make_row
        self._results: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(returned):
            impl = column.type.dialect_impl(_DIALECT)
            processor = impl.result_processor(_DIALECT, None)
            if processor is not None:
                self._results.append((index, processor))

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, constant, processor, default in self._slots:
            if name is None:
                values.append(constant)
                continue
            value = params[name] if default is None or name in params else _default(default)
            values.append(value if processor is None else processor(value))
        return tuple(values)

    def _row(self, record: Any) -> Any:
        if not self._results:
            return self._make_row(record)
        values = list(record)
        for index, processor in self._results:
            values[index] = processor(values[index])
        return self._make_row(values)

    async def fetch(self, pg: Any, params: Mapping[str, Any]) -> list[Any]:
        """Run once; the returned rows (RETURNING / SELECT columns, by name or position)."""
        return [self._row(record) for record in await pg.fetch(self.sql, *self.args(params))]

    async def fetch_many(self, pg: Any, many: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Run once per parameter set, pipelined in one round trip; every returned row."""
        args = [self.args(params) for params in many]
        if not args:
            return []
        return [self._row(record) for record in await pg.fetchmany(self.sql, args)]

    async def execute_many(self, pg: Any, many: Iterable[Mapping[str, Any]]) -> None:
        args = [self.args(params) for params in many]
        if args:
            await pg.executemany(self.sql, args)


def _default(default: Any) -> Any:
    """A column's Python-side default (`default=utcnow`, `default=0`)."""
    return default.arg(None) if default.is_callable else default.arg


@asynccontextmanager
async def _asyncpg_statements(
    autocommit_engine: AsyncEngine, *, transaction: bool
) -> AsyncIterator[Statements]:
    """Check a connection out of the pool (an AUTOCOMMIT one: SQLAlchemy issues no BEGIN of its
    own) and, with `transaction`, run the block in one asyncpg transaction. The SQLAlchemy
    connection over it stays usable for the rare statements of the same transaction that remain
    in SQLAlchemy."""
    conn = await autocommit_engine.connect()
    try:
        pooled = await conn.get_raw_connection()
        pg = pooled.driver_connection
        assert pg is not None, "a connection checked out of the pool has its asyncpg connection"
        try:
            if transaction:
                async with pg.transaction():
                    yield Statements(conn, pg)
            else:
                yield Statements(conn, pg)
        except _DRIVER_ERRORS as error:
            # Only an error the server raised for a statement leaves the connection usable;
            # anything else (lost connection, protocol state, timeout) retires it.
            statement_error = isinstance(error, asyncpg.PostgresError) and not isinstance(
                error, asyncpg.PostgresConnectionError
            )
            broken = not statement_error or pg.is_closed() or pg.is_in_transaction()
            if broken:
                await conn.invalidate(error)
            raise translate(error, broken) from error
        except BaseException as error:
            # Cancelled mid-transaction: a connection left inside a transaction must not go
            # back to the pool, where the next user would run in it.
            if pg.is_closed() or pg.is_in_transaction():
                await conn.invalidate(error)
            raise
    finally:
        # Back to the pool in place. `async with engine.connect()` closes through a task of
        # its own (so a cancellation cannot abandon the close halfway), which costs every
        # statement two event-loop hops, and an acknowledgement waits for them. Here the close
        # cannot suspend: an AUTOCOMMIT connection has no transaction to roll back (asyncpg's
        # own transaction is over, or the connection was invalidated), so it is not I/O.
        await conn.close()


_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def translate(error: Exception, invalidated: bool) -> sa_exc.DBAPIError:
    """asyncpg's error as the SQLAlchemy exception the callers already handle."""
    kind: type[sa_exc.DBAPIError]
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        kind = sa_exc.IntegrityError
    elif isinstance(error, asyncpg.DataError):
        kind = sa_exc.DataError
    elif isinstance(error, asyncpg.PostgresError) and not invalidated:
        kind = sa_exc.DatabaseError
    else:
        kind = sa_exc.OperationalError
    return kind(None, None, error, connection_invalidated=invalidated)


@cache
def compiled(statement: Any, keys: tuple[str, ...] = ()) -> RawStatement:
    """Statements are module-level or cached objects: each is compiled once per process (per
    set of parameter names, for an INSERT)."""
    return RawStatement(statement, keys)


def _compiled_for(statement: Any, params: Mapping[str, Any]) -> RawStatement:
    plain_insert = statement.is_insert and statement.select is None
    return compiled(statement, tuple(params) if plain_insert else ())


class Statements:
    """Runs the hot path's statements on one connection, whichever the backend: SQLAlchemy on
    SQLite (`conn`), asyncpg with statements compiled once on PostgreSQL (`pg`). Rows come back
    by name and position either way."""

    def __init__(self, conn: AsyncConnection, pg: Any = None) -> None:
        self.conn, self.pg = conn, pg

    async def rows(self, statement: Any, params: Mapping[str, Any]) -> list[Any]:
        if self.pg is not None:
            return await _compiled_for(statement, params).fetch(self.pg, params)
        return list((await self.conn.execute(statement, dict(params))).all())

    async def rows_many(self, statement: Any, many: Sequence[Mapping[str, Any]]) -> list[Any]:
        """An INSERT ... RETURNING for many parameter sets: every returned row."""
        if not many:
            return []
        if self.pg is not None:
            return await _compiled_for(statement, many[0]).fetch_many(self.pg, many)
        return list((await self.conn.execute(statement, [dict(p) for p in many])).all())

    async def execute_many(self, statement: Any, many: Sequence[Mapping[str, Any]]) -> None:
        if not many:
            return
        if self.pg is not None:
            await _compiled_for(statement, many[0]).execute_many(self.pg, many)
        else:
            await self.conn.execute(statement, [dict(p) for p in many])


@asynccontextmanager
async def statements(
    engine: AsyncEngine, *, asyncpg_direct: bool, transaction: bool
) -> AsyncIterator[Statements]:
    """SQLite: a SQLAlchemy transaction on `engine`. PostgreSQL (`asyncpg_direct`, `engine` an
    AUTOCOMMIT one): asyncpg, in a transaction of its own when `transaction`."""
    if not asyncpg_direct:
        async with engine.begin() as conn:
            yield Statements(conn)
        return
    async with _asyncpg_statements(engine, transaction=transaction) as st:
        yield st


class KeyLookup:
    """`SELECT ... WHERE (a, b, c) IN <many keys>` for batched reads, for both backends.

    SQLite gets an expanding IN list. PostgreSQL gets one array parameter per key column,
    unnested on the server: the statement text no longer depends on the number of keys, so it
    is prepared once instead of once per batch size."""

    def __init__(self, columns: Sequence[Any], returned: Sequence[Any]) -> None:
        self._names = [f"p_key{index}" for index in range(len(columns))]
        self.sqlite = select(*returned).where(
            tuple_(*columns).in_(bindparam("p_keys", expanding=True))
        )
        unnested = (
            func.unnest(
                *[
                    bindparam(name, type_=ARRAY(_element(column.type)))
                    for name, column in zip(self._names, columns, strict=True)
                ]
            )
            .table_valued(*self._names)
            .render_derived()
        )
        self.postgresql = select(*returned).where(
            tuple_(*columns).in_(select(*[unnested.c[name] for name in self._names]))
        )

    async def rows(self, st: Statements, keys: Sequence[Sequence[Any]]) -> list[Any]:
        if st.pg is None:
            return await st.rows(self.sqlite, {"p_keys": list(keys)})
        arrays = [list(values) for values in zip(*keys, strict=True)] or [[] for _ in self._names]
        return await st.rows(self.postgresql, dict(zip(self._names, arrays, strict=True)))


class BulkInsert:
    """An INSERT of many rows (all with the same columns), for both backends.

    SQLite gets SQLAlchemy's executemany. PostgreSQL gets one statement for the whole batch: one
    array parameter per column, unnested on the server (`INSERT ... SELECT * FROM unnest(...)`),
    instead of one execution per row. `finish` adds the ON CONFLICT / RETURNING clauses."""

    def __init__(self, table: Any, columns: Sequence[str], finish: Callable[[Any], Any]) -> None:
        self.columns = list(columns)
        self.sqlite = finish(sqlite_insert(table))
        # Each column's values go through its own bind processor once, here, in one list
        # comprehension (naive-UTC timestamps, JSON text), then travel as a plain array: JSON as
        # text[] cast to the column's type on the server, so no per-element wrapper runs.
        self._processors: list[_Processor] = []
        arrays, selected = [], []
        for name in self.columns:
            column_type = table.c[name].type
            impl = column_type.dialect_impl(_DIALECT)
            self._processors.append(impl.bind_processor(_DIALECT))
            plain, recast = _plain(impl)
            arrays.append(bindparam(name, type_=ARRAY(plain)))
            selected.append((name, recast, column_type))
        unnested = func.unnest(*arrays).table_valued(*self.columns).render_derived()
        rows = select(
            *[
                cast(unnested.c[name], column_type) if recast else unnested.c[name]
                for name, recast, column_type in selected
            ]
        )
        self.postgresql = finish(
            pg_insert(table).from_select(self.columns, rows, include_defaults=False)
        )

    async def rows(self, st: Statements, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert `rows` (dicts with exactly `columns`); the rows RETURNING gave back."""
        if not rows:
            return []
        if st.pg is None:
            return await st.rows_many(self.sqlite, rows)
        arrays = {
            name: [row[name] for row in rows]
            if processor is None
            else [None if row[name] is None else processor(row[name]) for row in rows]
            for name, processor in zip(self.columns, self._processors, strict=True)
        }
        return await st.rows(self.postgresql, arrays)


def _plain(impl: Any) -> tuple[Any, bool]:
    """The array element type for a column whose values are already processed, and whether the
    server must cast it back to the column's type (JSON, sent as text). Strings carry no length:
    an explicit cast to `varchar(n)` truncates silently, where storing into the column refuses
    an over-long value (DataError)."""
    if isinstance(impl, JSON):
        return Text(), True
    base = impl.impl if isinstance(impl, TypeDecorator) else impl
    if isinstance(base, String):
        return String(), False
    if isinstance(base, DateTime):
        return DateTime(), False
    return impl, False


def _element(column_type: Any) -> Any:
    """An array element type without a length: casting to `varchar(n)[]` would truncate an
    over-long value silently, where inserting it into the column refuses it (DataError)."""
    return String() if isinstance(column_type, String) else column_type
