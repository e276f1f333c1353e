"""Projects and channel accounts: the repository used by the admin API, the CLI and the runtime.

Secrets are encrypted before they reach a row and never leave this module in plain text except as
an `AccountInfo` handed to an adapter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels import ADAPTERS, ChannelAdapter
from gateway.config import TELEGRAM_API_DEFAULT, Settings
from gateway.db import Database
from gateway.db.models import AuditEntry, ChannelAccount, Project
from gateway.messages import AccountInfo
from gateway.schemas import (
    AccountCreate,
    AccountOut,
    AccountPatch,
    ProjectCreate,
    ProjectOut,
    ProjectPatch,
)
from gateway.secrets import SecretBox

DEFAULT = "default"


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass(frozen=True)
class ProjectInfo:
    """What the turn pipeline needs of a project, the core key decrypted."""

    id: int
    name: str
    core_base_url: str
    core_api_key: str | None
    model: str
    unlinked_policy: str


class ProjectStore:
    def __init__(self, db: Database, box: SecretBox, settings: Settings) -> None:
        self.db, self.box, self.settings = db, box, settings

    # --- projects ---------------------------------------------------------------------------
    async def _project(self, session: AsyncSession, name: str) -> Project:
        project = await session.scalar(select(Project).where(Project.name == name))
        if project is None:
            raise NotFound(f"no project named {name!r}")
        return project

    async def project_info(self, name: str) -> ProjectInfo:
        async with self.db.session() as session:
            return self.info(await self._project(session, name))

    def info(self, project: Project) -> ProjectInfo:
        key = self.box.decrypt(project.core_key_encrypted).get("core_api_key")
        return ProjectInfo(
            id=project.id,
            name=project.name,
            core_base_url=project.core_base_url or self.settings.core_base_url,
            core_api_key=key,
            model=project.model,
            unlinked_policy=project.unlinked_policy,
        )

    async def list_projects(self) -> list[ProjectOut]:
        async with self.db.session() as session:
            projects = (await session.scalars(select(Project).order_by(Project.name))).all()
            return [await self._project_out(session, p) for p in projects]

    async def get_project(self, name: str) -> ProjectOut:
        async with self.db.session() as session:
            return await self._project_out(session, await self._project(session, name))

    async def create_project(self, data: ProjectCreate, *, actor: str) -> ProjectOut:
        async with self.db.session() as session, session.begin():
            if await session.scalar(select(Project.id).where(Project.name == data.name)):
                raise Conflict(f"project {data.name!r} already exists")
            project = Project(
                name=data.name,
                core_base_url=data.core_base_url,
                core_key_encrypted=self._core_key(data.core_api_key),
                model=data.model or self.settings.core_model,
                unlinked_policy=data.unlinked_policy or self.settings.unlinked_policy,
            )
            session.add(project)
            await session.flush()
            self._audit(session, project.id, actor, "project.create", data.name)
        return await self.get_project(data.name)

    async def update_project(self, name: str, patch: ProjectPatch, *, actor: str) -> ProjectOut:
        changes = patch.model_dump(exclude_unset=True)
        async with self.db.session() as session, session.begin():
            project = await self._project(session, name)
            if "core_api_key" in changes:
                project.core_key_encrypted = self._core_key(changes.pop("core_api_key"))
                changes["core_api_key"] = "<changed>"
            for field in ("core_base_url", "model", "unlinked_policy"):
                if field in changes and (changes[field] is not None or field == "core_base_url"):
                    setattr(project, field, changes[field])
            self._audit(session, project.id, actor, "project.update", name, changes)
        return await self.get_project(name)

    def _core_key(self, key: str | None) -> str | None:
        return self.box.encrypt({"core_api_key": key}) if key else None

    async def _project_out(self, session: AsyncSession, project: Project) -> ProjectOut:
        accounts = (
            await session.scalars(
                select(ChannelAccount)
                .where(ChannelAccount.project_id == project.id)
                .order_by(ChannelAccount.channel, ChannelAccount.account)
            )
        ).all()
        return ProjectOut(
            name=project.name,
            core_base_url=project.core_base_url,
            core_api_key_set=project.core_key_encrypted is not None,
            model=project.model,
            unlinked_policy=project.unlinked_policy,
            accounts=[self._account_out(project.name, a) for a in accounts],
            created_at=project.created_at,
            updated_at=project.updated_at,
        )

    # --- accounts ---------------------------------------------------------------------------
    async def list_accounts(self, project: str) -> list[AccountOut]:
        return (await self.get_project(project)).accounts

    async def get_account(self, project: str, channel: str, account: str) -> AccountOut:
        async with self.db.session() as session:
            row = await self._account(session, project, channel, account)
            return self._account_out(project, row)

    async def add_account(self, project: str, data: AccountCreate, *, actor: str) -> AccountOut:
        async with self.db.session() as session, session.begin():
            owner = await self._project(session, project)
            taken = await session.scalar(
                select(ChannelAccount.id).where(
                    ChannelAccount.channel == data.channel, ChannelAccount.account == data.account
                )
            )
            if taken:
                raise Conflict(
                    f"{data.channel} account {data.account!r} exists (account ids are unique per "
                    "channel because the webhook URL names only the account)"
                )
            secrets = {"token": data.token}
            secrets["webhook_secret"] = data.webhook_secret or self._derived_secret(data.token)
            row = ChannelAccount(
                project_id=owner.id,
                channel=data.channel,
                account=data.account,
                secrets_encrypted=self.box.encrypt(secrets),
                config=_config(data.api_base_url),
                enabled=True,
            )
            session.add(row)
            self._audit(session, owner.id, actor, "account.add", f"{data.channel}:{data.account}")
        return await self.get_account(project, data.channel, data.account)

    async def update_account(
        self, project: str, channel: str, account: str, patch: AccountPatch, *, actor: str
    ) -> AccountOut:
        changes = patch.model_dump(exclude_unset=True)
        async with self.db.session() as session, session.begin():
            row = await self._account(session, project, channel, account)
            secrets = self.box.decrypt(row.secrets_encrypted)
            for name in ("token", "webhook_secret"):
                if changes.get(name):
                    secrets[name] = changes[name]
                    changes[name] = "<changed>"
            row.secrets_encrypted = self.box.encrypt(secrets)
            if "api_base_url" in changes:
                row.config = _config(changes["api_base_url"])
            if changes.get("enabled") is not None:
                row.enabled = changes["enabled"]
            self._audit(
                session, row.project_id, actor, "account.update", f"{channel}:{account}", changes
            )
        return await self.get_account(project, channel, account)

    async def remove_account(self, project: str, channel: str, account: str, *, actor: str) -> None:
        async with self.db.session() as session, session.begin():
            row = await self._account(session, project, channel, account)
            await session.delete(row)
            self._audit(session, row.project_id, actor, "account.remove", f"{channel}:{account}")

    async def _account(
        self, session: AsyncSession, project: str, channel: str, account: str
    ) -> ChannelAccount:
        owner = await self._project(session, project)
        row = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.project_id == owner.id,
                ChannelAccount.channel == channel,
                ChannelAccount.account == account,
            )
        )
        if row is None:
            raise NotFound(f"project {project!r} has no {channel} account {account!r}")
        return row

    def _account_out(self, project: str, row: ChannelAccount) -> AccountOut:
        return AccountOut(
            project=project,
            channel=row.channel,
            account=row.account,
            enabled=row.enabled,
            secrets_set=sorted(self.box.decrypt(row.secrets_encrypted)),
            config=dict(row.config or {}),
            webhook_path=f"/webhooks/{row.channel}/{row.account}",
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _derived_secret(self, token: str) -> str:
        return self.box.derive("telegram-webhook-secret", token)

    def _audit(
        self,
        session: AsyncSession,
        project_id: int | None,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            AuditEntry(
                project_id=project_id,
                actor=actor,
                action=action,
                subject=subject,
                details=details or {},
            )
        )

    # --- environment bootstrap ----------------------------------------------------------------
    async def apply_environment(self) -> None:
        """Create or update project `default` (and its `default` accounts) from the environment.

        Only variables that are actually set overwrite stored values, so settings an operator
        changed through the admin API survive a restart unless the environment says otherwise.
        """
        given = self.settings.model_fields_set
        s = self.settings
        async with self.db.session() as session, session.begin():
            project = await session.scalar(select(Project).where(Project.name == DEFAULT))
            if project is None:
                project = Project(
                    name=DEFAULT,
                    model=s.core_model,
                    unlinked_policy=s.unlinked_policy,
                )
                session.add(project)
                self._audit(session, None, "environment", "project.create", DEFAULT)
            if "core_base_url" in given:
                project.core_base_url = s.core_base_url
            if s.core_api_key is not None:
                project.core_key_encrypted = self._core_key(s.core_api_key.get_secret_value())
            if "core_model" in given:
                project.model = s.core_model
            if "unlinked_policy" in given:
                project.unlinked_policy = s.unlinked_policy
            await session.flush()
            if s.telegram_bot_token is not None:
                token = s.telegram_bot_token.get_secret_value()
                secret = (
                    s.telegram_webhook_secret.get_secret_value()
                    if s.telegram_webhook_secret
                    else self._derived_secret(token)
                )
                await self._upsert_env_account(
                    session,
                    project,
                    "telegram",
                    {"token": token, "webhook_secret": secret},
                    _config(s.telegram_api_base_url),
                )

    async def _upsert_env_account(
        self,
        session: AsyncSession,
        project: Project,
        channel: str,
        secrets: dict[str, str],
        config: dict[str, Any],
    ) -> None:
        row = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel, ChannelAccount.account == DEFAULT
            )
        )
        if row is None:
            row = ChannelAccount(project_id=project.id, channel=channel, account=DEFAULT)
            session.add(row)
            self._audit(session, project.id, "environment", "account.add", f"{channel}:default")
        elif row.project_id != project.id:
            raise Conflict(f"{channel} account 'default' belongs to another project")
        if row.secrets_encrypted is None or self.box.decrypt(row.secrets_encrypted) != secrets:
            row.secrets_encrypted = self.box.encrypt(secrets)
        row.config = config
        row.enabled = True


def _config(api_base_url: str | None) -> dict[str, Any]:
    return {"api_base_url": (api_base_url or TELEGRAM_API_DEFAULT).rstrip("/")}


@dataclass
class _Entry:
    project: ProjectInfo
    adapter: ChannelAdapter
    loaded_at: float
    version: Any


class AccountDirectory:
    """Adapters per (channel, account), built from stored accounts and cached briefly.

    The cache keeps the webhook hot path to one database write; changes made by another process
    (the CLI) take effect within `ttl` seconds, changes through this process's admin API at once.
    """

    def __init__(self, store: ProjectStore, ttl: float = 5.0) -> None:
        self.store, self.ttl = store, ttl
        self._entries: dict[tuple[str, str], _Entry] = {}

    async def get(self, channel: str, account: str) -> tuple[ProjectInfo, ChannelAdapter]:
        key = (channel, account)
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.loaded_at < self.ttl:
            return entry.project, entry.adapter
        async with self.store.db.session() as session:
            row = await session.scalar(
                select(ChannelAccount).where(
                    ChannelAccount.channel == channel,
                    ChannelAccount.account == account,
                    ChannelAccount.enabled.is_(True),
                )
            )
            if row is None or channel not in ADAPTERS:
                self._drop(key)
                raise NotFound(f"no enabled {channel} account {account!r}")
            project = await session.get(Project, row.project_id)
            assert project is not None
            version = (row.updated_at, project.updated_at)
            if entry is not None and entry.version == version:
                entry.loaded_at = time.monotonic()
                return entry.project, entry.adapter
            info = AccountInfo(
                project=project.name,
                channel=channel,
                account=account,
                secrets=self.store.box.decrypt(row.secrets_encrypted),
                config=dict(row.config or {}),
            )
            adapter = ADAPTERS[channel](info)
            project_info = self.store.info(project)
        if entry is not None:
            await entry.adapter.close()
        self._entries[key] = _Entry(project_info, adapter, time.monotonic(), version)
        return project_info, adapter

    def invalidate(self) -> None:
        for entry in self._entries.values():
            entry.loaded_at = 0.0

    def _drop(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)

    async def close(self) -> None:
        for entry in self._entries.values():
            await entry.adapter.close()
        self._entries.clear()
