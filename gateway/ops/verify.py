"""`gateway verify`: launch evidence. Every check prints PASS, FAIL or SKIP with its reason.

Checks only read (and make harmless calls): the database and schema, the secret key against every
stored secret, each channel account's credentials and webhook registration, a signed self-test
webhook through the running gateway that no user ever sees, and a real call to the responses core
with the project's key. What the core says about its build (headers of that call, then its
`GET /health`) is kept for the report next to the gateway's own version.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp

from approvals.signing import HEADER, sign
from channels import ChannelAdapter, webhook_path
from gateway.config import Settings
from gateway.errors import NotFound
from gateway.logs import redact_secrets
from gateway.messages import SendError
from gateway.netguard import RefusedAddress, UrlPolicy, guarded_connector, refused
from gateway.schemas import MODEL_TIERS
from gateway.storage import encrypted, usage
from gateway.storage.db import Database
from gateway.storage.db.schema import SchemaOutOfDate, ensure_current
from gateway.storage.projects import DEFAULT, AccountDirectory, ProjectStore
from gateway.storage.secrets import SecretBox, SecretKeyError, load_secret_box
from gateway.storage.urls import webhook_policy
from gateway.version import CoreBuildCache, probe_core

Status = Literal["PASS", "FAIL", "SKIP", "WARN"]
"""WARN: works, but not as the contract says (the exit code stays 0)."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    reason: str

    def __post_init__(self) -> None:
        # Reasons quote provider errors, and a Bot API URL holds the token.
        object.__setattr__(self, "reason", redact_secrets(self.reason))


async def run_checks(
    settings: Settings,
    project: str,
    gateway_url: str | None,
    core_build: CoreBuildCache | None = None,
) -> list[Check]:
    """The checks in order; `core_build` receives what the core reports of its build."""
    core_build = core_build if core_build is not None else CoreBuildCache()
    checks: list[Check] = []
    db = Database(settings.database_url, pool_size=2)
    try:
        try:
            await ensure_current(db)
            checks.append(Check("database", "PASS", "reachable, migrations current"))
        except SchemaOutOfDate as exc:
            return [Check("database", "FAIL", str(exc))]
        except Exception as exc:  # any reason the database cannot be used is this row's FAIL
            return [Check("database", "FAIL", f"unreachable: {type(exc).__name__}: {exc}")]
        try:
            box = load_secret_box(settings)
        except SecretKeyError as exc:
            return [*checks, Check("secret_key", "FAIL", str(exc))]
        checks.append(await _secrets(db, box))
        if checks[-1].status == "FAIL":
            return checks
        store = ProjectStore(db, box, settings)
        try:
            info = await store.project_info(project)
        except NotFound as exc:
            return [*checks, Check("project", "FAIL", str(exc))]
        directory = AccountDirectory(store)
        try:
            for account in await store.list_accounts(project):
                if account.enabled:
                    checks += await _account(directory, settings, account, gateway_url)
        finally:
            await directory.close()
        checks.append(_model(info.model))
        checks.append(await _core(info.core_base_url, info.core_api_key, info.model, core_build))
        core_build.note(await probe_core(info.core_base_url))
        checks.append(await _usage(db, info.id))
        url, secret = info.approval_webhook_url, info.approval_webhook_secret
        if project == DEFAULT and settings.approval_webhook_url:
            # What the gateway will use once it starts (the environment wins for `default`).
            url = settings.approval_webhook_url
            if settings.approval_webhook_secret is not None:
                secret = settings.approval_webhook_secret.get_secret_value()
        checks.append(await _approval_webhook(url, secret, webhook_policy(settings)))
    finally:
        await db.close()
    return checks


async def _secrets(db: Database, box: SecretBox) -> Check:
    """Every value of every encrypted column decrypts with the configured keys; a legacy
    (passphrase) key still configured is a WARN, saying whether stored values still need it."""
    async with db.engine.connect() as conn:
        rows = await encrypted.sealed_rows(conn)
    legacy = 0
    for row in rows:
        for column, token in row.tokens.items():
            try:
                box.decrypt(token)
            except Exception:  # InvalidToken and friends: the key does not open what is stored
                return Check(
                    "secret_key",
                    "FAIL",
                    f"stored secrets of {row.describe(column)} do not decrypt with {box.where} "
                    "(wrong or rotated-out key)",
                )
            legacy += box.needs_legacy_key(token)
    stored = f"{encrypted.count(rows)} stored secret(s) decrypt with {box.where}"
    if box.legacy_positions:
        which = ", ".join(f"#{n}" for n in box.legacy_positions)
        todo = (
            f"{legacy} of them still need it: run `gateway secrets rotate`, then drop it"
            if legacy
            else "no stored secret needs it any more: drop it"
        )
        return Check(
            "secret_key", "WARN", f"{stored}; key {which} is an old-format passphrase key, {todo}"
        )
    return Check("secret_key", "PASS", stored)


async def _account(
    directory: AccountDirectory, settings: Settings, account: Any, gateway_url: str | None
) -> list[Check]:
    name = f"{account.channel}:{account.account}"
    try:
        _, adapter = await directory.get(account.channel, account.account)
    except NotFound as exc:
        return [Check(f"{name} credentials", "FAIL", str(exc))]
    checks: list[Check] = []
    try:
        found = await adapter.check_credentials()
    except SendError as exc:
        return [Check(f"{name} credentials", "FAIL", exc.reason)]
    if found is None:
        checks.append(
            Check(f"{name} credentials", "SKIP", "no credentials check for this provider")
        )
    else:
        checks.append(Check(f"{name} credentials", "PASS", found))
    expected = (
        settings.public_url.rstrip("/") + webhook_path(account.channel, account.account)
        if settings.public_url
        else None
    )
    webhook = await _webhook(adapter, f"{name} webhook", expected)
    if webhook is not None:
        checks.append(webhook)
    checks.append(await _self_test(adapter, account, settings, gateway_url))
    return checks


async def _webhook(adapter: ChannelAdapter, name: str, expected: str | None) -> Check | None:
    """The registration the provider reports, against where the gateway listens (no row when
    the provider cannot be asked)."""
    try:
        registered = await adapter.webhook_registration()
    except SendError as exc:
        return Check(name, "FAIL", exc.reason)
    if registered is None:
        return None
    facts = registered.facts
    if expected is None:
        return Check(name, "SKIP", f"GATEWAY_PUBLIC_URL not set to compare with; {facts}")
    if registered.url != expected:
        where = registered.url or "(none)"
        return Check(name, "FAIL", f"registered at {where!r}, expected {expected!r}")
    return Check(name, "PASS", f"registered at {expected}; {facts}")


async def _self_test(
    adapter: ChannelAdapter, account: Any, settings: Settings, base: str | None
) -> Check:
    """A signed request the gateway accepts and no user sees (an update kind it records but
    never answers, an empty WhatsApp batch, a Twilio status for no message of ours)."""
    name = f"{account.channel}:{account.account} self-test webhook"
    base = (base or settings.public_url or "").rstrip("/")
    if not base:
        return Check(name, "SKIP", "no gateway URL: pass --gateway-url or set GATEWAY_PUBLIC_URL")
    probe = adapter.signed_probe(
        webhook_path(account.channel, account.account), settings.public_url
    )
    if probe is None:
        return Check(name, "SKIP", "no self-test request for this provider")
    path = probe.path
    started = time.monotonic()
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10), connector=guarded_connector()
            ) as http,
            http.post(base + path, data=probe.body, headers=probe.headers) as resp,
        ):
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check(name, "FAIL", f"{base}{path} unreachable: {type(exc).__name__}")
    millis = round((time.monotonic() - started) * 1000)
    if status != 200:
        return Check(name, "FAIL", f"{base}{path} answered {status} to a correctly signed request")
    return Check(name, "PASS", f"{base}{path} accepted a signed request ({millis} ms)")


def _model(model: str) -> Check:
    """A model name that is not a tier still reaches the core, but the operator then changes
    provider models in every gateway project instead of once in the core."""
    tiers = ", ".join(MODEL_TIERS)
    if model in MODEL_TIERS:
        return Check("model", "PASS", f"{model!r} is a tier ({tiers})")
    return Check(
        "model",
        "WARN",
        f"{model!r} is not a tier ({tiers}); it is sent as given (set a tier with "
        "`gateway projects set <name> --model balanced`)",
    )


async def _core(
    base_url: str, api_key: str | None, model: str, core_build: CoreBuildCache
) -> Check:
    name = "core"
    payload = {
        "model": model,
        "input": "ping",
        "metadata": {"feature": "channel_gateway_verify"},
        "stream": False,
    }
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), connector=guarded_connector()
            ) as http,
            http.post(f"{base_url}/v1/responses", json=payload, headers=headers) as resp,
        ):
            status = resp.status
            core_build.note_headers(resp.headers)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check(name, "FAIL", f"{base_url} unreachable: {type(exc).__name__}")
    if status == 200:
        return Check(name, "PASS", "project_key_execution=PASS (a real call answered 200)")
    if status in (401, 403):
        return Check(
            name, "FAIL", f"project_key_execution=FAIL: the core refused the key ({status})"
        )
    return Check(name, "FAIL", f"project_key_execution=FAIL: the core answered {status}")


async def _usage(db: Database, project_id: int) -> Check:
    """The core's latest usage.threshold signal: 80 % is a WARN (turns still work); 100 % is a
    FAIL, because users are being told the daily limit is reached until the core's day ends."""
    name = "core usage"
    async with db.session() as session:
        signal = await usage.latest(session, project_id)
    if signal is None or not signal.current():
        return Check(name, "PASS", "no usage threshold signalled by the core in the last 24 h")
    return Check(name, "FAIL" if signal.threshold >= 100 else "WARN", signal.describe())


async def _approval_webhook(url: str | None, secret: str | None, policy: UrlPolicy) -> Check:
    """POST a signed `approval.test` event: the app's receiver must accept it (2xx)."""
    name = "approval_webhook"
    if not url:
        return Check(name, "SKIP", "no approval webhook configured (APPROVAL_WEBHOOK_URL)")
    if not secret:
        return Check(name, "FAIL", "APPROVAL_WEBHOOK_URL is set but APPROVAL_WEBHOOK_SECRET is not")
    event_id = f"evt_verify_{uuid.uuid4().hex[:16]}"
    body = json.dumps(
        {"event_id": event_id, "type": "approval.test", "created_at": int(time.time()),
         "approval": None},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    headers = {"Content-Type": "application/json", HEADER: sign(secret, body)}
    try:
        policy.check_url(url)
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10), connector=guarded_connector(policy)
            ) as http,
            http.post(url, data=body, headers=headers, allow_redirects=False) as resp,
        ):
            status = resp.status
    except RefusedAddress as exc:
        return Check(name, "FAIL", f"refused: {exc}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        if refused(exc):
            return Check(name, "FAIL", f"refused: {exc.__cause__ or exc}")
        return Check(name, "FAIL", f"{url} unreachable: {type(exc).__name__}")
    if 200 <= status < 300:
        return Check(name, "PASS", f"{url} accepted a signed approval.test event ({status})")
    return Check(name, "FAIL", f"{url} answered {status} to a signed approval.test event")


def as_dicts(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(check) for check in checks]
