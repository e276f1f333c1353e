"""`gateway`: run the service and operate it (projects, accounts, provider webhooks).

The service stack (aiohttp, the runtime, the Telegram client, Alembic) is imported inside the
commands that use it, so `--help` and the operator commands start quickly.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gateway.cli.common import (
    console,
    emit,
    err,
    fail,
    load_settings,
    opened_store,
    read_secret,
    run,
    validated,
)
from gateway.config import Settings
from gateway.schemas import AccountCreate, AccountOut, ProjectCreate, ProjectOut, ProjectPatch

DEFAULT = (
    "default"  # gateway.storage.projects.DEFAULT, without importing the database layer for --help
)

app = typer.Typer(
    help="Messaging channel gateway: bridges Telegram, SMS and WhatsApp to your app's AI agent. "
    "Configuration comes from the environment (docs/operations.md).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
projects_app = typer.Typer(
    help="Projects: one app (core URL, key, model) each.", no_args_is_help=True
)
accounts_app = typer.Typer(help="Channel accounts (bots) of a project.", no_args_is_help=True)
telegram_app = typer.Typer(
    help="Register the webhook with the Telegram Bot API.", no_args_is_help=True
)
secrets_app = typer.Typer(help="Secrets at rest.", no_args_is_help=True)
twilio_app = typer.Typer(
    help="Point Twilio numbers at this gateway through the Twilio API.", no_args_is_help=True
)
identity_app = typer.Typer(
    help="Identity links: which app user each channel identity is.", no_args_is_help=True
)
allowlist_app = typer.Typer(
    help="Channel identities allowed to chat unlinked (the allowlist policy).",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The audit log: who changed what.", no_args_is_help=True)
app.add_typer(twilio_app, name="twilio")
app.add_typer(projects_app, name="projects")
app.add_typer(accounts_app, name="accounts")
app.add_typer(telegram_app, name="telegram")
app.add_typer(secrets_app, name="secrets")
app.add_typer(identity_app, name="identity")
app.add_typer(allowlist_app, name="allowlist")
app.add_typer(audit_app, name="audit")
outbox_app = typer.Typer(
    help="Dead letters: messages that were not delivered, and retrying them.",
    no_args_is_help=True,
)
inbox_app = typer.Typer(
    help="Dead letters: inbound events whose processing gave up, and replaying them.",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")
app.add_typer(inbox_app, name="inbox")
approvals_app = typer.Typer(
    help="Approvals: list, inspect and decide human-in-the-loop requests.", no_args_is_help=True
)
webhooks_app = typer.Typer(
    help="Approval lifecycle webhooks to the app: deliveries and re-sending.",
    no_args_is_help=True,
)
app.add_typer(approvals_app, name="approvals")
app.add_typer(webhooks_app, name="webhooks")
keys_app = typer.Typer(
    help="Admin API keys of one project each, for apps (the global key stays with operators).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
config_app = typer.Typer(
    help="The effective configuration (environment, NAME_FILE secrets, gateway.toml).",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


def _print_version(value: bool) -> None:
    if value:
        from gateway.version import describe

        typer.echo(describe())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the gateway's version (and commit, when known) and exit.",
        ),
    ] = False,
) -> None:
    # No docstring: the app's help stays the one given to typer.Typer above.
    pass


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
AccountOpt = Annotated[str, typer.Option("--account", "-a", help="Account id (in the URL).")]


# --- running ----------------------------------------------------------------------------------
@app.command(
    help="Serve webhooks, health, metrics and the admin API (and the worker, unless --no-worker)."
)
def serve(
    port: Annotated[int | None, typer.Option(help="HTTP port (default: PORT or 8080).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 0.0.0.0).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve HTTP only; run `gateway worker` apart.")
    ] = False,
) -> None:
    from gateway import fair_loop
    from gateway.cli import serving
    from gateway.errors import StartupError
    from gateway.web.admin_auth import admin_key_problem

    settings = load_settings()
    if (problem := admin_key_problem(settings)) is not None:
        raise StartupError(problem)
    bind_host, bind_port = host or settings.host, port or settings.port
    # With the worker beside the web, requests go first (gateway/fair_loop.py).
    loop_factory = None if no_worker else fair_loop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serving.serve(settings, bind_host, bind_port, run_worker=not no_worker))


@app.command(help="Run only the background loops (turns and sends); stops cleanly on SIGTERM.")
def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Also serve /metrics and /health/* on this port (default GATEWAY_METRICS_PORT; "
            "127.0.0.1 unless --metrics-host)."
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="Bind address for --metrics-port (default GATEWAY_METRICS_HOST)."),
    ] = None,
) -> None:
    from gateway.cli import serving

    settings = load_settings()
    port = metrics_port if metrics_port is not None else settings.metrics_port
    asyncio.run(serving.work(settings, metrics_host or settings.metrics_host, port))


@app.command(help="Apply database migrations (safe to run on every release).")
def migrate() -> None:
    from gateway.storage.db import Database
    from gateway.storage.db.reach import check_reachable
    from gateway.storage.db.schema import current_revision, head_revision, upgrade

    settings = load_settings()

    async def main() -> tuple[str | None, str]:
        db = Database(settings.database_url, pool_size=1)
        try:
            await check_reachable(db)
            before = await current_revision(db)
            await upgrade(db)
            return before, head_revision()
        finally:
            await db.close()

    before, after = run(main())
    console.print(
        f"schema {before or 'empty'} -> {after}"
        if before != after
        else f"schema already current ({after})"
    )


@app.command(
    "mock-core",
    help=(
        "Run the deterministic mock responses core (POST /v1/responses) for "
        "local and contract tests. Directives in the user text steer one "
        "answer: #status=429, #slow=2, #long=5000, #approval=tool_name."
    ),
)
def mock_core(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port (the gateway's default core URL uses 8787).")
    ] = 8787,
    quiet: Annotated[bool, typer.Option(help="Do not log each request.")] = False,
    delay: Annotated[float, typer.Option(help="Seconds to wait before every answer.")] = 0.0,
    delay_jitter: Annotated[
        float,
        typer.Option(
            help="Up to this many seconds more, drawn per message from its text (a core that "
            "answers in --delay to --delay + --delay-jitter seconds)."
        ),
    ] = 0.0,
    fail_status: Annotated[
        int | None, typer.Option(help="Answer every request with this HTTP status.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="Require this bearer key.")] = None,
) -> None:
    from gateway.dev.mock_core import run_mock_core

    run_mock_core(
        host,
        port,
        quiet=quiet,
        delay=delay,
        fail_status=fail_status,
        api_key=api_key,
        delay_jitter=delay_jitter,
    )


@app.command(
    help="Play scripted Telegram, SMS and WhatsApp conversations through a real gateway, offline."
)
def demo() -> None:
    from gateway.dev.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo()))


# --- projects ---------------------------------------------------------------------------------
PROJECT_COLUMNS = (
    "name",
    "core_base_url",
    "core_api_key_set",
    "model",
    "unlinked_policy",
    "accounts",
)


ModelOpt = Annotated[
    str | None,
    typer.Option(help="Model tier sent to the core: simple, balanced (default) or complex."),
]
CustomModelOpt = Annotated[
    bool,
    typer.Option("--custom-model", help="Accept a --model that is not a tier (sent as given)."),
]
ThreadingOpt = Annotated[
    str | None,
    typer.Option(
        help="conversation (default: the gateway's conversation id) or previous_response "
        "(chaining, for cores that only support it)."
    ),
]
FeatureOpt = Annotated[
    str | None, typer.Option(help="metadata.feature of the core calls (default channel_gateway).")
]
TranscriptionOpt = Annotated[
    str | None,
    typer.Option(
        help="Voice notes: auto (default: transcribed when the core offers it), on (always "
        "tried) or off (sent to the agent as audio files)."
    ),
]
CoreConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        help="The most core calls of the project in flight per gateway process (N processes: "
        "up to N times this; default GATEWAY_CORE_CONCURRENCY, 1000)."
    ),
]
CoreProjectOpt = Annotated[
    str | None,
    typer.Option(help="The core's id of this project (with --genaug-admin-key: core approvals)."),
]
AdminKeyOpt = Annotated[
    bool,
    typer.Option("--genaug-admin-key", help="Prompt for the core's X-Admin-Key (or read stdin)."),
]
EventSecretOpt = Annotated[
    bool,
    typer.Option(
        "--genaug-webhook-secret",
        help="Prompt for the secret of the core's signed approval events (or read stdin).",
    ),
]


def _genaug(project_id: str | None, admin_key: bool, event_secret: bool) -> dict[str, object]:
    """The core-approval options given (secrets prompted for, one line each from stdin)."""
    values: dict[str, object] = {}
    if project_id is not None:
        values["genaug_project_id"] = project_id
    if admin_key:
        values["genaug_admin_key"] = read_secret(None, "core admin key")
    if event_secret:
        values["genaug_webhook_secret"] = read_secret(None, "core webhook secret")
    return values


@projects_app.command("list", help="List projects.")
def projects_list(as_json: JsonOpt = False) -> None:
    settings = load_settings()

    async def main() -> list:
        async with opened_store(settings) as store:
            return await store.list_projects()

    emit(run(main()), as_json, PROJECT_COLUMNS, title="projects")


@projects_app.command(
    "show",
    help=(
        "Show one project: its accounts, where the core posts its usage "
        "signals (usage_webhook) and the latest one (core_usage)."
    ),
)
def projects_show(name: str, as_json: JsonOpt = False) -> None:
    settings = load_settings()

    async def main() -> ProjectOut:
        async with opened_store(settings) as store:
            return await store.get_project(name)

    emit(run(main()), as_json)


@projects_app.command("add", help="Create a project.")
def projects_add(
    name: str,
    core_url: Annotated[str | None, typer.Option(help="Responses core base URL.")] = None,
    model: ModelOpt = None,
    custom_model: CustomModelOpt = False,
    threading: ThreadingOpt = None,
    feature: FeatureOpt = None,
    transcription: TranscriptionOpt = None,
    core_concurrency: CoreConcurrencyOpt = None,
    core_key: Annotated[
        bool, typer.Option("--core-key", help="Prompt for the project's core key (or read stdin).")
    ] = False,
    genaug_project_id: CoreProjectOpt = None,
    genaug_admin_key: AdminKeyOpt = False,
    genaug_webhook_secret: EventSecretOpt = False,
    as_json: JsonOpt = False,
) -> None:
    settings = load_settings()
    key = read_secret(None, "core API key") if core_key else None
    data = validated(
        ProjectCreate,
        name=name,
        core_base_url=core_url,
        model=model,
        custom_model=custom_model,
        threading=threading,
        feature=feature,
        transcription=transcription,
        core_concurrency=core_concurrency,
        core_api_key=key,
        **_genaug(genaug_project_id, genaug_admin_key, genaug_webhook_secret),
    )

    async def main() -> ProjectOut:
        async with opened_store(settings) as store:
            return await store.create_project(data, actor="cli")

    emit(run(main()), as_json)


@projects_app.command("set", help="Change a project's settings (only the options given).")
def projects_set(
    name: str,
    core_url: Annotated[str | None, typer.Option(help="Responses core base URL.")] = None,
    model: ModelOpt = None,
    custom_model: CustomModelOpt = False,
    threading: ThreadingOpt = None,
    feature: FeatureOpt = None,
    transcription: TranscriptionOpt = None,
    core_concurrency: CoreConcurrencyOpt = None,
    unlinked_policy: Annotated[
        str | None,
        typer.Option(
            help="Unlinked senders: link_required (told how to link), channel_user "
            "(forwarded unlinked, as a stable opaque id) or allowlist."
        ),
    ] = None,
    core_key: Annotated[
        bool, typer.Option("--core-key", help="Prompt for a new core key (or read stdin).")
    ] = False,
    genaug_project_id: CoreProjectOpt = None,
    genaug_admin_key: AdminKeyOpt = False,
    genaug_webhook_secret: EventSecretOpt = False,
    as_json: JsonOpt = False,
) -> None:
    settings = load_settings()
    values: dict[str, object] = {}
    if core_url is not None:
        values["core_base_url"] = core_url
    if model is not None:
        values["model"] = model
        values["custom_model"] = custom_model
    if threading is not None:
        values["threading"] = threading
    if feature is not None:
        values["feature"] = feature
    if transcription is not None:
        values["transcription"] = transcription
    if core_concurrency is not None:
        values["core_concurrency"] = core_concurrency
    if unlinked_policy is not None:
        values["unlinked_policy"] = unlinked_policy
    if core_key:
        values["core_api_key"] = read_secret(None, "core API key")
    values.update(_genaug(genaug_project_id, genaug_admin_key, genaug_webhook_secret))
    if not values:
        fail("nothing to change: give at least one option (see --help)")
    patch = validated(ProjectPatch, **values)

    async def main() -> ProjectOut:
        async with opened_store(settings) as store:
            return await store.update_project(name, patch, actor="cli")

    emit(run(main()), as_json)


# --- accounts ---------------------------------------------------------------------------------
ACCOUNT_COLUMNS = ("project", "channel", "account", "enabled", "secrets_set", "webhook_path")


SecretOpt = Annotated[
    str | None, typer.Option(help="Omit to be prompted, or `-` to read it from stdin.")
]


@accounts_app.command(
    "add",
    help=(
        "Add a channel account to a project. Secrets are stored encrypted and "
        "never printed; each one not given is prompted for (hidden), or read "
        "from stdin one per line in the order shown by --help."
    ),
)
def accounts_add(
    channel: Annotated[
        str,
        typer.Argument(help="telegram, sms (Twilio: SMS and WhatsApp) or whatsapp (Cloud API)."),
    ],
    project: ProjectOpt = DEFAULT,
    account: AccountOpt = DEFAULT,
    token: Annotated[str | None, typer.Option(help="telegram: bot token (prompted).")] = None,
    webhook_secret: Annotated[
        str | None, typer.Option(help="telegram: secret_token; derived from the token if omitted.")
    ] = None,
    account_sid: Annotated[
        str | None, typer.Option(help="sms: Twilio account SID (AC...).")
    ] = None,
    auth_token: Annotated[
        str | None, typer.Option(help="sms: Twilio auth token (prompted).")
    ] = None,
    from_number: Annotated[
        str | None, typer.Option(help="sms: the Twilio number replies come from (+E.164).")
    ] = None,
    messaging_service_sid: Annotated[
        str | None, typer.Option(help="sms: send through this Messaging Service (MG...) instead.")
    ] = None,
    phone_number_id: Annotated[
        str | None, typer.Option(help="whatsapp: Cloud API phone number id.")
    ] = None,
    access_token: Annotated[
        str | None, typer.Option(help="whatsapp: access token (prompted).")
    ] = None,
    app_secret: Annotated[
        str | None, typer.Option(help="whatsapp: app secret that signs webhooks (prompted).")
    ] = None,
    verify_token: Annotated[
        str | None, typer.Option(help="whatsapp: webhook verify token (prompted).")
    ] = None,
    api_version: Annotated[
        str | None,
        typer.Option(help="whatsapp: Graph API version, vNN.N (default: the gateway's current)."),
    ] = None,
    api_base_url: Annotated[
        str | None, typer.Option(help="Provider API base URL (a local server, tests).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    from gateway.schemas import ACCOUNT_SHAPES

    settings = load_settings()
    if channel not in ACCOUNT_SHAPES:
        fail(f"unknown channel {channel!r}: use one of {', '.join(ACCOUNT_SHAPES)}")
    given = {
        "token": token,
        "webhook_secret": webhook_secret,
        "account_sid": account_sid,
        "auth_token": auth_token,
        "from_number": from_number,
        "messaging_service_sid": messaging_service_sid,
        "phone_number_id": phone_number_id,
        "access_token": access_token,
        "app_secret": app_secret,
        "verify_token": verify_token,
        "api_version": api_version,
        "api_base_url": api_base_url,
    }
    shape = ACCOUNT_SHAPES[channel]
    for name in shape.required:
        if name in shape.secrets:
            given[name] = read_secret(given[name], name.replace("_", " "))
    fields = {name: value for name, value in given.items() if value is not None}
    data = validated(AccountCreate, root={"channel": channel, "account": account, **fields})

    async def main() -> AccountOut:
        async with opened_store(settings) as store:
            return await store.add_account(project, data, actor="cli")

    result = run(main())
    emit(result, as_json)
    if not as_json:
        err.print(f"next: {_next_step(channel, project, account, result.webhook_path)}")


def _next_step(channel: str, project: str, account: str, path: str) -> str:
    where = f"--project {project} --account {account}"
    if channel == "telegram":
        return f"gateway telegram set-webhook {where} --url https://<public host>{path}"
    if channel == "sms":
        return f"gateway twilio set-webhook {where} --number <your Twilio number>"
    return (
        f"in the Meta app dashboard set the webhook to https://<public host>{path} with this "
        "account's verify token, and subscribe to the `messages` field"
    )


@accounts_app.command(
    "list",
    help="List a project's channel accounts (secrets are never shown, only which are set).",
)
def accounts_list(project: ProjectOpt = DEFAULT, as_json: JsonOpt = False) -> None:
    settings = load_settings()

    async def main() -> list:
        async with opened_store(settings) as store:
            return await store.list_accounts(project)

    emit(run(main()), as_json, ACCOUNT_COLUMNS, title=f"accounts of {project}")


@accounts_app.command("remove", help="Remove a channel account (its webhook then answers 404).")
def accounts_remove(
    channel: Annotated[str, typer.Argument(help="Channel: telegram, sms or whatsapp.")],
    project: ProjectOpt = DEFAULT,
    account: AccountOpt = DEFAULT,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    settings = load_settings()
    if not yes:
        typer.confirm(f"remove {channel} account {account!r} of project {project!r}?", abort=True)

    async def main() -> None:
        async with opened_store(settings) as store:
            await store.remove_account(project, channel, account, actor="cli")

    run(main())
    console.print(f"removed {channel}:{account} from {project}")


# --- commands in their own modules (telegram, twilio, identity, allowlist, audit, send) -------
from gateway.cli import (  # noqa: E402
    approval_cmds,
    config_cmds,
    identity_cmds,
    keys_cmds,
    ops_cmds,
    secrets_cmds,
    telegram_cmds,
    twilio_cmds,
)

telegram_cmds.register(telegram_app)
twilio_cmds.register(twilio_app)
identity_cmds.register(identity_app, allowlist_app, audit_app, app)
ops_cmds.register(app, outbox_app, inbox_app)
secrets_cmds.register(secrets_app)
approval_cmds.register(approvals_app, webhooks_app)
keys_cmds.register(keys_app)
config_cmds.register(config_app)


def main() -> None:
    from gateway.cli.startup import guarded

    guarded(app)


__all__ = ["Settings", "app", "main"]
