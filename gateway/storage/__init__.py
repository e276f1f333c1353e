"""Storage and work queues: the database, the queues the worker claims from, stored secrets,
projects and accounts.

One rule for reaching the database:
- SQLAlchemy Core statements (and the ORM models in `db.models` for the admin and CLI
  repositories, where a few rows change at a time) for the general case, through
  `Database.session()` / `Database.engine`;
- the hot statements of the turn path (claims, inbox inserts, finishing turns, sent marks, key
  lookups) through `Database.statements()` (`db.raw`): still SQLAlchemy Core, compiled once and
  run on asyncpg directly on PostgreSQL, because SQLAlchemy's execution path cost more CPU than
  the statements themselves (measured; docs/decisions.md). Nothing else uses asyncpg.
Schema changes are Alembic migrations (`db/migrations`); `db.schema` checks a database is current.
"""
