"""`gateway telegram set-webhook | delete-webhook | webhook-info | poll`: no curl needed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from gateway.cli.common import emit, err, fail, load_settings, run, with_account_adapter

if TYPE_CHECKING:  # the Telegram client is imported when a command runs, not for --help
    from channels.telegram import TelegramAdapter
    from gateway.config import Settings

DEFAULT = "default"

T = TypeVar("T")
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
AccountOpt = Annotated[str, typer.Option("--account", "-a", help="Account id.")]


def _with_adapter(
    project: str,
    account: str,
    action: Callable[[TelegramAdapter], Awaitable[T]],
    settings: Settings | None = None,
) -> T:
    settings = settings or load_settings()

    async def main() -> T:
        return await with_account_adapter(settings, "telegram", project, account, action)

    try:
        return run(main())
    except Exception as exc:  # telegram errors: one clear line, never a traceback
        _telegram_failure(exc, project, account)
        raise


def _telegram_failure(exc: Exception, project: str, account: str) -> None:
    """Fail with one clear line when `exc` is the Bot API's answer; return otherwise."""
    from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

    from gateway.messages import SendError

    detail = getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc)
    where = f"telegram account {account!r} of project {project!r}"
    if isinstance(exc, InvalidToken):
        fail(f"Telegram rejected the bot token of {where} ({detail}); check the token")
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        fail(f"could not reach the Telegram Bot API for {where}: {detail}")
    if isinstance(exc, TelegramError | SendError):
        fail(f"Telegram refused the request for {where}: {detail}")
    return None


def _default_url(settings: Settings, account: str) -> str:
    """`GATEWAY_PUBLIC_URL` + the account's webhook path."""
    from channels import webhook_path

    if not settings.public_url:
        fail(
            "no webhook URL: give --url, or set GATEWAY_PUBLIC_URL to the gateway's public "
            f"HTTPS address (the URL is then GATEWAY_PUBLIC_URL{webhook_path('telegram', account)})"
        )
    return settings.public_url.rstrip("/") + webhook_path("telegram", account)


def register(app: typer.Typer) -> None:
    @app.command(
        "set-webhook",
        help=(
            "Point the bot at this gateway, with the account's secret token and allowed updates."
        ),
    )
    def set_webhook(
        url: Annotated[
            str | None,
            typer.Option(
                help="Public HTTPS URL ending in /webhooks/telegram/<account> "
                "(default: GATEWAY_PUBLIC_URL/webhooks/telegram/<account>)."
            ),
        ] = None,
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        drop_pending_updates: Annotated[
            bool, typer.Option(help="Discard updates Telegram is holding (default: keep them).")
        ] = False,
        max_connections: Annotated[int, typer.Option(min=1, max=100)] = 40,
    ) -> None:
        from channels.telegram import ALLOWED_UPDATES

        settings = load_settings()
        if url is None:
            url = _default_url(settings, account)
        expected = f"/webhooks/telegram/{account}"
        if not url.rstrip("/").endswith(expected):
            err.print(f"[yellow]warning:[/] the URL does not end with {expected}")
        hook = url
        run_result = _with_adapter(
            project,
            account,
            lambda a: a.set_webhook(
                hook, drop_pending_updates=drop_pending_updates, max_connections=max_connections
            ),
            settings,
        )
        if not run_result:
            fail("Telegram did not accept the webhook")
        typer.echo(
            f"webhook set: {url} (allowed updates: {', '.join(ALLOWED_UPDATES)}; "
            f"pending updates {'dropped' if drop_pending_updates else 'kept'})"
        )

    @app.command("delete-webhook", help="Remove the bot's webhook.")
    def delete_webhook(
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        drop_pending_updates: Annotated[
            bool, typer.Option(help="Also discard updates Telegram is holding.")
        ] = False,
    ) -> None:
        _with_adapter(
            project, account, lambda a: a.delete_webhook(drop_pending_updates=drop_pending_updates)
        )
        typer.echo(
            "webhook deleted" + (" (pending updates dropped)" if drop_pending_updates else "")
        )

    @app.command(
        "webhook-info", help="Show what Telegram has registered: URL, pending updates, last error."
    )
    def webhook_info(
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        info = _with_adapter(project, account, lambda a: a.webhook_info())
        data: dict[str, Any] = {
            "url": info.url,
            "pending_update_count": info.pending_update_count,
            "max_connections": info.max_connections,
            "allowed_updates": list(info.allowed_updates or []),
            "last_error_message": info.last_error_message,
            "last_error_date": info.last_error_date.isoformat() if info.last_error_date else None,
        }
        emit(data, as_json)

    @app.command(
        "poll",
        help=(
            "Read the bot's updates with getUpdates (long polling) instead of a "
            "webhook: a real bot without a public URL. Runs the worker too, "
            "unless --no-worker; stops on Ctrl-C / SIGTERM."
        ),
    )
    def poll(
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        no_worker: Annotated[
            bool,
            typer.Option("--no-worker", help="Only store updates; run `gateway worker` apart."),
        ] = False,
        timeout: Annotated[
            int, typer.Option(min=1, max=50, help="Seconds one getUpdates waits for an update.")
        ] = 25,
    ) -> None:
        _poll(project, account, worker=not no_worker, timeout=timeout)


def _poll(project: str, account: str, *, worker: bool, timeout: int) -> None:
    from gateway.errors import Invalid, NotFound
    from gateway.runtime import Runtime
    from gateway.storage.db.schema import SchemaOutOfDate
    from gateway.storage.secrets import SecretKeyError
    from gateway.web.polling import Poller, PollingRefused, WebhookActive

    settings = load_settings()
    where = f"telegram account {account!r} of project {project!r}"

    async def start(runtime: Runtime) -> Poller:
        await runtime.prepare()
        owner, _ = await runtime.directory.get("telegram", account)
        if owner.name != project:
            raise NotFound(f"telegram account {account!r} belongs to project {owner.name!r}")
        poller = Poller(runtime, "telegram", account, timeout=timeout)
        await poller.check()
        if worker:
            runtime.start_loops()
        err.print(
            f"polling {where} ({'with the worker' if worker else 'storing only'}); Ctrl-C to stop",
            soft_wrap=True,
        )
        return poller

    async def main() -> None:
        runtime = Runtime(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            poller = await _until_stopped(start(runtime), stop)
            if poller is not None:
                await _until_stopped(poller.run(), stop)
                err.print("polling stopped; worker draining..." if worker else "polling stopped")
        finally:
            await runtime.close(grace=15)

    try:
        asyncio.run(main())
    except WebhookActive as exc:
        hint = "" if project == DEFAULT else f" --project {project}"
        fail(
            f"{where} has a webhook set ({exc.url}), and Telegram refuses getUpdates while it "
            f"has: remove it with `gateway telegram delete-webhook{hint} --account {account}` "
            "(pending updates are kept), then poll again"
        )
    except PollingRefused as exc:
        fail(f"Telegram refused to be polled for {where}: {exc}")
    except (SchemaOutOfDate, SecretKeyError, Invalid) as exc:
        fail(str(exc), 2)
    except NotFound as exc:
        fail(str(exc))
    except Exception as exc:
        _telegram_failure(exc, project, account)
        raise


async def _until_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None once `stop` is set first (`work` is then cancelled: a poll in
    flight is abandoned, which confirms nothing to Telegram)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None
