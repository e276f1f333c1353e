"""Per-project admin API keys: created (shown once), listed, revoked, and looked up per request.

A key is `gwk_` + 43 urlsafe characters (256 random bits). Only its SHA-256 is stored: with that
much entropy a plain, unsalted hash cannot be reversed, and it lets a request find its key with
one indexed lookup. Creation and revocation land in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from gateway.errors import Conflict, NotFound
from gateway.schemas import ApiKeyOut
from gateway.storage.db import Database
from gateway.storage.db.models import ApiKey, AuditEntry, Project

KEY_PREFIX = "gwk_"
PREFIX_CHARS = 10
"""`gwk_` and the key's first 6 random characters: enough to tell keys apart in a list."""


@dataclass(frozen=True)
class KeyOwner:
    """Who a valid project key belongs to."""

    key_id: str
    name: str
    project: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def looks_like_project_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and 20 <= len(value) <= 100


class ApiKeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, project: str, name: str, *, actor: str) -> tuple[ApiKeyOut, str]:
        """A new key for `project`: its listing and the key itself (never stored, never shown
        again)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            id="key_" + secrets.token_hex(6),
            name=name,
            key_hash=key_hash(key),
            prefix=key[:PREFIX_CHARS],
            created_by=actor[:128],
        )
        async with self.db.session() as session, session.begin():
            owner = await session.scalar(select(Project).where(Project.name == project))
            if owner is None:
                raise NotFound(f"no project named {project!r}")
            row.project_id = owner.id
            session.add(row)
            session.add(_audit(owner.id, actor, "api_key.create", row.id, {"name": name}))
        return _out(row, project), key

    async def list(self, project: str | None = None) -> list[ApiKeyOut]:
        query = (
            select(ApiKey, Project.name)
            .join(Project, Project.id == ApiKey.project_id)
            .order_by(Project.name, ApiKey.created_at, ApiKey.id)
        )
        async with self.db.session() as session:
            if project is not None:
                if await session.scalar(select(Project.id).where(Project.name == project)) is None:
                    raise NotFound(f"no project named {project!r}")
                query = query.where(Project.name == project)
            return [_out(row, name) for row, name in (await session.execute(query)).all()]

    async def revoke(self, key_id: str, *, actor: str) -> ApiKeyOut:
        async with self.db.session() as session, session.begin():
            found = (
                await session.execute(
                    select(ApiKey, Project.name)
                    .join(Project, Project.id == ApiKey.project_id)
                    .where(ApiKey.id == key_id)
                )
            ).first()
            if found is None:
                raise NotFound(f"no API key {key_id!r}")
            row, project = found
            if row.revoked_at is not None:
                raise Conflict(f"API key {key_id!r} is already revoked")
            row.revoked_at = datetime.now(UTC)
            session.add(_audit(row.project_id, actor, "api_key.revoke", row.id, {"name": row.name}))
        return _out(row, project)

    async def owner(self, key: str) -> KeyOwner | None:
        """The project key `key` is, if it is one and not revoked; marks it used."""
        async with self.db.session() as session, session.begin():
            found = (
                await session.execute(
                    select(ApiKey.id, ApiKey.name, Project.name)
                    .join(Project, Project.id == ApiKey.project_id)
                    .where(ApiKey.key_hash == key_hash(key), ApiKey.revoked_at.is_(None))
                )
            ).first()
            if found is None:
                return None
            key_id, name, project = found
            await session.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=datetime.now(UTC))
            )
        return KeyOwner(key_id=key_id, name=name, project=project)


def _out(row: ApiKey, project: str) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        project=project,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _audit(
    project_id: int, actor: str, action: str, subject: str, details: dict[str, str]
) -> AuditEntry:
    return AuditEntry(
        project_id=project_id, actor=actor[:128], action=action, subject=subject, details=details
    )
