"""Projects and channel accounts: the repository used by the admin API, the CLI and the runtime.

Secrets are encrypted before they reach a row and never leave this module in plain text except as
an `AccountInfo` handed to an adapter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from secrets import token_hex
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from channels import ADAPTERS, ChannelAdapter, webhook_path
from gateway.config import Settings
from gateway.errors import Conflict, Invalid, NotFound
from gateway.messages import AccountInfo
from gateway.metrics import Metrics
from gateway.schemas import (
    ACCOUNT_SHAPES,
    DEFAULT_CORE_CONCURRENCY,
    DEFAULT_FEATURE,
    DEFAULT_THREADING,
    DEFAULT_TRANSCRIPTION,
    AccountCreate,
    AccountOut,
    AccountPatch,
    ProjectCreate,
    ProjectOut,
    ProjectPatch,
    check_account_fields,
)
from gateway.storage import usage
from gateway.storage.base_urls import check_account_move, check_project_move
from gateway.storage.db import Database
from gateway.storage.db.models import AuditEntry, ChannelAccount, Project
from gateway.storage.known_accounts import KnownAccounts
from gateway.storage.secrets import SecretBox
from gateway.storage.urls import check_urls

DEFAULT = "default"


@dataclass(frozen=True)
class ProjectInfo:
    """What the turn pipeline needs of a project, the core key decrypted."""

    id: int
    name: str
    core_base_url: str
    core_api_key: str | None
    model: str
    unlinked_policy: str
    approval_ttl_seconds: int = 300
    approval_webhook_url: str | None = None
    approval_webhook_secret: str | None = None
    threading: str = DEFAULT_THREADING
    """`conversation` or `previous_response` (`gateway.schemas.Threading`)."""
    feature: str = DEFAULT_FEATURE
    transcription: str = DEFAULT_TRANSCRIPTION
    """Voice notes: `auto`, `on` or `off` (`gateway.schemas.Transcription`)."""
    core_concurrency: int = DEFAULT_CORE_CONCURRENCY
    """The most core calls of this project in flight per gateway process: the project's own,
    else GATEWAY_CORE_CONCURRENCY."""
    user_salt: str = ""
    """Derives the opaque core user id of unlinked senders (`identity.resolve`)."""
    genaug_project_id: str | None = None
    genaug_admin_key: str | None = None
    genaug_webhook_secret: str | None = None
    """The core's project id, admin key and event secret: core-owned approvals (all three)."""


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
            project = await self._project(session, name)
            await salted(session, project)
            return self.info(project)

    def info(self, project: Project) -> ProjectInfo:
        """The pipeline's view of `project` (its salt made sure of: `salted`)."""
        key = self.box.decrypt(project.core_key_encrypted).get("core_api_key")
        hook = self.box.decrypt(project.approval_webhook_secret_encrypted).get("webhook_secret")
        genaug = self.box.decrypt(project.genaug_admin_key_encrypted).get("admin_key")
        events = self.box.decrypt(project.genaug_webhook_secret_encrypted).get("webhook_secret")
        return ProjectInfo(
            id=project.id,
            name=project.name,
            core_base_url=project.core_base_url or self.settings.core_base_url,
            core_api_key=key,
            model=project.model,
            unlinked_policy=project.unlinked_policy,
            approval_ttl_seconds=project.approval_ttl_seconds or self.settings.approval_ttl_seconds,
            approval_webhook_url=project.approval_webhook_url,
            approval_webhook_secret=hook,
            threading=project.threading or DEFAULT_THREADING,
            feature=project.feature or DEFAULT_FEATURE,
            transcription=project.transcription or DEFAULT_TRANSCRIPTION,
            core_concurrency=project.core_concurrency or self.settings.core_concurrency,
            user_salt=project.user_salt or "",
            genaug_project_id=project.genaug_project_id,
            genaug_admin_key=genaug,
            genaug_webhook_secret=events,
        )

    async def list_projects(self) -> list[ProjectOut]:
        async with self.db.session() as session:
            projects = (await session.scalars(select(Project).order_by(Project.name))).all()
            return [await self._project_out(session, p) for p in projects]

    async def get_project(self, name: str) -> ProjectOut:
        async with self.db.session() as session:
            return await self._project_out(session, await self._project(session, name))

    async def create_project(self, data: ProjectCreate, *, actor: str) -> ProjectOut:
        conflict = Conflict(f"project {data.name!r} already exists")
        await check_urls(self.settings, data.model_dump(exclude_unset=True))
        try:
            await self._create_project(data, actor, conflict)
        except IntegrityError:  # a concurrent create won the race past the check below
            raise conflict from None
        return await self.get_project(data.name)

    async def _create_project(self, data: ProjectCreate, actor: str, conflict: Conflict) -> None:
        async with self.db.session() as session, session.begin():
            if await session.scalar(select(Project.id).where(Project.name == data.name)):
                raise conflict
            project = Project(
                name=data.name,
                core_base_url=data.core_base_url,
                core_key_encrypted=self._core_key(data.core_api_key),
                model=data.model or self.settings.core_model,
                unlinked_policy=data.unlinked_policy or self.settings.unlinked_policy,
                approval_webhook_url=data.approval_webhook_url,
                approval_webhook_secret_encrypted=self._hook_secret(data.approval_webhook_secret),
                approval_ttl_seconds=data.approval_ttl_seconds,
                threading=data.threading,
                feature=data.feature,
                transcription=data.transcription,
                core_concurrency=data.core_concurrency,
                genaug_project_id=data.genaug_project_id,
                genaug_admin_key_encrypted=self._sealed("admin_key", data.genaug_admin_key),
                genaug_webhook_secret_encrypted=self._sealed(
                    "webhook_secret", data.genaug_webhook_secret
                ),
                user_salt=token_hex(16),
                usage_path_token=usage.new_token(),
            )
            session.add(project)
            await session.flush()
            self._audit(session, project.id, actor, "project.create", data.name)

    async def update_project(
        self, name: str, patch: ProjectPatch, *, actor: str, may_move_urls: bool = True
    ) -> ProjectOut:
        """`may_move_urls` False (a project API key): changing the core URL is Forbidden."""
        changes = patch.model_dump(exclude_unset=True)
        changes.pop("custom_model", None)  # how the model was checked, not a setting
        await check_urls(self.settings, changes)
        async with self.db.session() as session, session.begin():
            project = await self._project(session, name)
            default_url = self.settings.core_base_url
            check_project_move(project, changes, default_url, may_move=may_move_urls)
            if "core_api_key" in changes:
                project.core_key_encrypted = self._core_key(changes.pop("core_api_key"))
                changes["core_api_key"] = "<changed>"
            if "approval_webhook_secret" in changes:
                secret = changes.pop("approval_webhook_secret")
                project.approval_webhook_secret_encrypted = self._hook_secret(secret)
                changes["approval_webhook_secret"] = "<changed>"
            for field, sealed_as in (
                ("genaug_admin_key", "admin_key"),
                ("genaug_webhook_secret", "webhook_secret"),
            ):
                if field in changes:
                    sealed = self._sealed(sealed_as, changes.pop(field))
                    setattr(project, f"{field}_encrypted", sealed)
                    changes[field] = "<changed>"
            nullable = (
                "genaug_project_id",
                "core_base_url",
                "approval_webhook_url",
                "approval_ttl_seconds",
                "threading",
                "feature",
                "transcription",
                "core_concurrency",
            )
            for field in ("model", "unlinked_policy", *nullable):
                if field in changes and (changes[field] is not None or field in nullable):
                    setattr(project, field, changes[field])
            self._audit(session, project.id, actor, "project.update", name, changes)
        return await self.get_project(name)

    def _core_key(self, key: str | None) -> str | None:
        return self.box.encrypt({"core_api_key": key}) if key else None

    def _sealed(self, name: str, secret: str | None) -> str | None:
        return self.box.encrypt({name: secret}) if secret else None

    def _hook_secret(self, secret: str | None) -> str | None:
        return self.box.encrypt({"webhook_secret": secret}) if secret else None

    async def _project_out(self, session: AsyncSession, project: Project) -> ProjectOut:
        accounts = (
            await session.scalars(
                select(ChannelAccount)
                .where(ChannelAccount.project_id == project.id)
                .order_by(ChannelAccount.channel, ChannelAccount.account)
            )
        ).all()
        signal = await usage.latest(session, project.id)
        return ProjectOut(
            name=project.name,
            core_base_url=project.core_base_url,
            core_api_key_set=project.core_key_encrypted is not None,
            model=project.model,
            unlinked_policy=project.unlinked_policy,
            approval_webhook_url=project.approval_webhook_url,
            approval_webhook_secret_set=project.approval_webhook_secret_encrypted is not None,
            approval_ttl_seconds=project.approval_ttl_seconds,
            threading=project.threading or DEFAULT_THREADING,
            feature=project.feature or DEFAULT_FEATURE,
            transcription=project.transcription or DEFAULT_TRANSCRIPTION,
            core_concurrency=project.core_concurrency or self.settings.core_concurrency,
            genaug_project_id=project.genaug_project_id,
            genaug_admin_key_set=project.genaug_admin_key_encrypted is not None,
            genaug_webhook_secret_set=project.genaug_webhook_secret_encrypted is not None,
            accounts=[self._account_out(project.name, a) for a in accounts],
            usage_webhook=usage.usage_url(self.settings.public_url, project),
            core_usage=signal.describe() if signal is not None else None,
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
        conflict = Conflict(
            f"{data.channel} account {data.account!r} exists (account ids are unique per "
            "channel because the webhook URL names only the account)"
        )
        await check_urls(self.settings, data.given())
        try:
            await self._add_account(project, data, actor, conflict)
        except IntegrityError:  # a concurrent add won the race past the check below
            raise conflict from None
        return await self.get_account(project, data.channel, data.account)

    async def _add_account(
        self, project: str, data: AccountCreate, actor: str, conflict: Conflict
    ) -> None:
        async with self.db.session() as session, session.begin():
            owner = await self._project(session, project)
            taken = await session.scalar(
                select(ChannelAccount.id).where(
                    ChannelAccount.channel == data.channel, ChannelAccount.account == data.account
                )
            )
            if taken:
                raise conflict
            secrets, config = self._account_settings(data.channel, data.given())
            row = ChannelAccount(
                project_id=owner.id,
                channel=data.channel,
                account=data.account,
                secrets_encrypted=self.box.encrypt(secrets),
                config=config,
                enabled=True,
            )
            session.add(row)
            self._audit(session, owner.id, actor, "account.add", f"{data.channel}:{data.account}")

    async def update_account(
        self,
        project: str,
        channel: str,
        account: str,
        patch: AccountPatch,
        *,
        actor: str,
        may_move_urls: bool = True,
    ) -> AccountOut:
        """`may_move_urls` False (a project API key): changing the API base URL is Forbidden."""
        changes = patch.given()
        enabled = changes.pop("enabled", None)
        await check_urls(self.settings, changes)
        async with self.db.session() as session, session.begin():
            row = await self._account(session, project, channel, account)
            try:
                check_account_fields(row.channel, changes)
            except ValueError as exc:  # valid fields, but not for this account's channel
                raise Conflict(str(exc)) from None
            shape = ACCOUNT_SHAPES[row.channel]
            secrets = self.box.decrypt(row.secrets_encrypted)
            config = dict(row.config or {})
            audited: dict[str, Any] = {}
            for name, value in changes.items():
                if name in shape.secrets:
                    if value:
                        secrets[name] = value
                        audited[name] = "<changed>"
                    continue
                audited[name] = value
                if value is None:
                    config.pop(name, None)
                else:
                    config[name] = value
            config = ADAPTERS[row.channel].account_config(config)
            stored = self.box.decrypt(row.secrets_encrypted)
            before = dict(row.config or {})
            check_account_move(row.channel, before, config, stored, changes, may_move=may_move_urls)
            row.secrets_encrypted = self.box.encrypt(secrets)
            row.config = config
            if enabled is not None:
                row.enabled = audited["enabled"] = enabled
            self._audit(
                session, row.project_id, actor, "account.update", f"{channel}:{account}", audited
            )
        return await self.get_account(project, channel, account)

    def _account_settings(
        self, channel: str, given: dict[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Split validated account fields into encrypted secrets and plain config (the
        provider's defaults filled in: `ChannelAdapter.account_secrets` / `account_config`)."""
        secrets, config = split_account_fields(channel, given)
        adapter = ADAPTERS[channel]
        return adapter.account_secrets(secrets, self.box.derive), adapter.account_config(config)

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
            webhook_path=webhook_path(row.channel, row.account),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

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
        Processes starting together on a new database (compose, Kubernetes) race to create the
        rows: the loser's transaction fails on the unique key, and its second try finds them.
        """
        try:
            await self._apply_environment()
        except IntegrityError:
            await self._apply_environment()

    async def _apply_environment(self) -> None:
        given = self.settings.model_fields_set
        s = self.settings
        urls = {name: getattr(s, name) for name in _ENV_URLS if name in given}
        await check_urls(s, urls, unresolved_ok=True)
        async with self.db.session() as session, session.begin():
            project = await session.scalar(select(Project).where(Project.name == DEFAULT))
            if project is None:
                project = Project(
                    name=DEFAULT,
                    model=s.core_model,
                    unlinked_policy=s.unlinked_policy,
                    user_salt=token_hex(16),
                    usage_path_token=usage.new_token(),
                )
                session.add(project)
                self._audit(session, None, "environment", "project.create", DEFAULT)
            if "core_base_url" in given:
                project.core_base_url = s.core_base_url
            key = s.core_api_key.get_secret_value() if s.core_api_key is not None else None
            stored = self.box.decrypt(project.core_key_encrypted).get("core_api_key")
            if key is not None and key != stored:  # untouched row: the account cache stays warm
                project.core_key_encrypted = self._core_key(key)
            if "core_model" in given:
                project.model = s.core_model
            if "core_threading" in given:
                project.threading = s.core_threading
            if "core_feature" in given:
                project.feature = s.core_feature
            if "transcription" in given:
                project.transcription = s.transcription
            if "unlinked_policy" in given:
                project.unlinked_policy = s.unlinked_policy
            if "approval_webhook_url" in given:
                project.approval_webhook_url = s.approval_webhook_url
            if "approval_ttl_seconds" in given:
                project.approval_ttl_seconds = s.approval_ttl_seconds
            if s.approval_webhook_secret is not None:
                hook = s.approval_webhook_secret.get_secret_value()
                stored_hook = self.box.decrypt(project.approval_webhook_secret_encrypted)
                if stored_hook.get("webhook_secret") != hook:
                    project.approval_webhook_secret_encrypted = self._hook_secret(hook)
            self._env_genaug(project, given)
            await session.flush()
            if s.telegram_bot_token is not None:
                await self._env_telegram(session, project, given)
            for channel, secrets, config in _env_accounts(s):
                await self._upsert_env_account(session, project, channel, secrets, config)

    def _env_genaug(self, project: Project, given: set[str]) -> None:
        """GENAUG_PROJECT_ID / GENAUG_ADMIN_KEY / GENAUG_WEBHOOK_SECRET for the default project
        (a secret is re-encrypted only when it changed, like the core key)."""
        s = self.settings
        if "genaug_project_id" in given:
            project.genaug_project_id = s.genaug_project_id
        for value, attr, name in (
            (s.genaug_admin_key, "genaug_admin_key_encrypted", "admin_key"),
            (s.genaug_webhook_secret, "genaug_webhook_secret_encrypted", "webhook_secret"),
        ):
            if value is None:
                continue
            secret = value.get_secret_value()
            if self.box.decrypt(getattr(project, attr)).get(name) != secret:
                setattr(project, attr, self.box.encrypt({name: secret}))

    async def _env_telegram(self, session: AsyncSession, project: Project, given: set[str]) -> None:
        """The webhook secret, when not set, is kept while the token is unchanged, else derived.

        A derived secret depends on the newest GATEWAY_SECRET_KEY; deriving it again on every
        start would change it after a key rotation and Telegram (which still sends the secret
        registered with set-webhook) would be refused."""
        s = self.settings
        assert s.telegram_bot_token is not None
        token = s.telegram_bot_token.get_secret_value()
        secret = s.telegram_webhook_secret.get_secret_value() if s.telegram_webhook_secret else None
        adapter = ADAPTERS["telegram"]
        if secret is None:
            stored = await self._env_account_secrets(session, "telegram")
            secret = (
                stored["webhook_secret"]
                if stored.get("token") == token and stored.get("webhook_secret")
                else adapter.account_secrets({"token": token}, self.box.derive)["webhook_secret"]
            )
        config = (
            adapter.account_config({"api_base_url": s.telegram_api_base_url})
            if "telegram_api_base_url" in given
            else None
        )
        secrets = {"token": token, "webhook_secret": secret}
        await self._upsert_env_account(session, project, "telegram", secrets, config)

    async def _env_account_secrets(self, session: AsyncSession, channel: str) -> dict[str, str]:
        row = await self._env_account_row(session, channel)
        return self.box.decrypt(row.secrets_encrypted) if row is not None else {}

    async def _env_account_row(self, session: AsyncSession, channel: str) -> ChannelAccount | None:
        return await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel, ChannelAccount.account == DEFAULT
            )
        )

    async def _upsert_env_account(
        self,
        session: AsyncSession,
        project: Project,
        channel: str,
        secrets: dict[str, str],
        config: dict[str, Any] | None,
    ) -> None:
        """`config` None keeps the stored config, and an account an operator disabled stays
        disabled: the environment does not speak to either."""
        row = await self._env_account_row(session, channel)
        stored: dict[str, str] = {}
        if row is None:
            row = ChannelAccount(
                project_id=project.id, channel=channel, account=DEFAULT, enabled=True
            )
            session.add(row)
            self._audit(session, project.id, "environment", "account.add", f"{channel}:default")
            if config is None:
                config = ADAPTERS[channel].account_config({})
        elif row.project_id != project.id:
            raise Conflict(f"{channel} account 'default' belongs to another project")
        else:
            stored = self.box.decrypt(row.secrets_encrypted)
        if row.secrets_encrypted is None or stored != secrets:
            row.secrets_encrypted = self.box.encrypt(secrets)
        if config is not None and config != row.config:
            row.config = config


_ENV_URLS = (
    "core_base_url",
    "approval_webhook_url",
    "telegram_api_base_url",
    "twilio_api_base_url",
    "whatsapp_api_base_url",
)
"""The environment's URLs `apply_environment` saves (checked like the admin API's)."""


def _env_accounts(s: Settings) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """The SMS and WhatsApp `default` accounts the environment describes (checked like the
    admin API's input, so a typo is a start-up error naming the variable's field)."""
    found: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    if s.twilio_account_sid and s.twilio_auth_token is not None:
        fields = {
            "account_sid": s.twilio_account_sid,
            "auth_token": s.twilio_auth_token.get_secret_value(),
            "from_number": s.twilio_from_number,
            "messaging_service_sid": s.twilio_messaging_service_sid,
            "api_base_url": s.twilio_api_base_url,
        }
        found.append(_env_account("sms", fields))
    if s.whatsapp_phone_number_id and s.whatsapp_access_token is not None:
        fields = {
            "phone_number_id": s.whatsapp_phone_number_id,
            "access_token": s.whatsapp_access_token.get_secret_value(),
            "app_secret": _secret(s.whatsapp_app_secret),
            "verify_token": _secret(s.whatsapp_verify_token),
            "api_base_url": s.whatsapp_api_base_url,
        }
        found.append(_env_account("whatsapp", fields))
    return found


async def salted(session: AsyncSession, project: Project) -> None:
    """Give `project` its opaque-user salt if it has none (the migration and project creation
    set one; this covers a row made any other way). A conditional update, so concurrent
    processes agree on one salt."""
    if project.user_salt:
        return
    await session.execute(
        update(Project)
        .where(Project.id == project.id, Project.user_salt.is_(None))
        .values(user_salt=token_hex(16))
    )
    await session.commit()
    await session.refresh(project)


def _env_account(
    channel: str, fields: dict[str, Any]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    given = {name: value for name, value in fields.items() if value}
    try:
        data = AccountCreate.model_validate({"channel": channel, "account": DEFAULT, **given})
    except ValidationError as exc:
        problems = "; ".join(
            f"{e['loc'][-1] if e['loc'] else channel}: {e['msg']}" for e in exc.errors()
        )
        raise Invalid(f"{channel} settings from the environment are invalid: {problems}") from None
    return channel, *split_account_fields(channel, data.given())


def split_account_fields(
    channel: str, given: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """Validated account fields -> (secrets, encrypted at rest; plain config)."""
    shape = ACCOUNT_SHAPES[channel]
    secrets = {name: given[name] for name in shape.secrets if given.get(name)}
    config = {name: given[name] for name in shape.config if given.get(name)}
    return secrets, config


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass
class _Entry:
    project: ProjectInfo
    adapter: ChannelAdapter
    loaded_at: float
    version: Any


class AccountDirectory:
    """Adapters per (channel, account), built from stored accounts and cached briefly.

    The cache keeps the webhook hot path to one database write; changes made by another process
    (the CLI) take effect within `ttl` seconds (a new account within `names_ttl`), changes through
    this process's admin API at once. A made-up account name costs no query of its own: it is
    answered from the snapshot of enabled names (`KnownAccounts`), and a real account's row is
    read by one lookup per account whoever is waiting (no lock shared between accounts).
    """

    def __init__(
        self,
        store: ProjectStore,
        ttl: float = 5.0,
        *,
        names_ttl: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store, self.ttl = store, ttl
        self._queries = metrics.account_directory_queries if metrics is not None else None
        self.known = KnownAccounts(store.db, names_ttl, on_query=self._counter("names"))
        self._count_load = self._counter("account")
        self._entries: dict[tuple[str, str], _Entry] = {}
        # Bounded by the real accounts: only names in `known` are ever looked up.
        self._loading: dict[tuple[str, str], asyncio.Future[tuple[ProjectInfo, ChannelAdapter]]]
        self._loading = {}
        self._closing: set[asyncio.Future[None]] = set()

    def _counter(self, scope: str) -> Callable[[], None] | None:
        queries = self._queries
        return (lambda: queries.labels(scope).inc()) if queries is not None else None

    async def get(self, channel: str, account: str) -> tuple[ProjectInfo, ChannelAdapter]:
        key = (channel, account)
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.loaded_at < self.ttl:
            return entry.project, entry.adapter
        if channel not in ADAPTERS or not await self.known.exists(channel, account):
            self._drop(key)
            raise NotFound(f"no enabled {channel} account {account!r}")
        # Single flight per account: a burst of webhooks after expiry triggers one lookup.
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._load(key, entry))
            loading.add_done_callback(lambda done: self._loaded(key, done))
        return await asyncio.shield(loading)

    def _loaded(
        self, key: tuple[str, str], done: asyncio.Future[tuple[ProjectInfo, ChannelAdapter]]
    ) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone (client disconnects)

    async def _load(
        self, key: tuple[str, str], entry: _Entry | None
    ) -> tuple[ProjectInfo, ChannelAdapter]:
        channel, account = key
        if self._count_load is not None:
            self._count_load()
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
                self.known.forget(channel, account)
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
                config={**(row.config or {}), "public_url": self.store.settings.public_url},
            )
            adapter = ADAPTERS[channel](info)
            await salted(session, project)
            project_info = self.store.info(project)
        if entry is not None:
            # Sends may still be using the old adapter: close it once they are surely done.
            old = entry.adapter
            asyncio.get_running_loop().call_later(60, self._close_later, old)
        self._entries[key] = _Entry(project_info, adapter, time.monotonic(), version)
        return project_info, adapter

    def _close_later(self, adapter: ChannelAdapter) -> None:
        future = asyncio.ensure_future(adapter.close())
        self._closing.add(future)
        future.add_done_callback(self._closing.discard)

    def invalidate(self) -> None:
        for entry in self._entries.values():
            entry.loaded_at = 0.0
        self.known.invalidate()

    def _drop(self, key: tuple[str, str]) -> None:
        """The account is gone or disabled: forget it and close its adapter like a replaced one."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            asyncio.get_running_loop().call_later(60, self._close_later, entry.adapter)

    async def close(self) -> None:
        for entry in self._entries.values():
            await entry.adapter.close()
        self._entries.clear()
