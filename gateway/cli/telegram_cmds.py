"""`gateway telegram set-webhook | delete-webhook | webhook-info`: no curl needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from gateway.cli.common import emit, err, fail, load_settings, run, with_account_adapter

if TYPE_CHECKING:  # the Telegram client is imported when a command runs, not for --help
    from channels.telegram import TelegramAdapter

DEFAULT = "default"

T = TypeVar("T")
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
AccountOpt = Annotated[str, typer.Option("--account", "-a", help="Account id.")]


def _with_adapter(
    project: str, account: str, action: Callable[[TelegramAdapter], Awaitable[T]]
) -> T:
    from gateway.messages import SendError

    settings = load_settings()

    async def main() -> T:
        return await with_account_adapter(settings, "telegram", project, account, action)

    try:
        return run(main())
    except Exception as exc:  # telegram errors: one clear line, never a traceback
        from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

        detail = getattr(exc, "message", None) or str(exc)
        where = f"telegram account {account!r} of project {project!r}"
        if isinstance(exc, InvalidToken):
            fail(f"Telegram rejected the bot token of {where} ({detail}); check the token")
        if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
            fail(f"could not reach the Telegram Bot API for {where}: {detail}")
        if isinstance(exc, TelegramError | SendError):
            fail(f"Telegram refused the request for {where}: {detail}")
        raise


def register(app: typer.Typer) -> None:
    @app.command("set-webhook")
    def set_webhook(
        url: Annotated[
            str, typer.Option(help="Public HTTPS URL ending in /webhooks/telegram/<account>.")
        ],
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        drop_pending_updates: Annotated[
            bool, typer.Option(help="Discard updates Telegram is holding (default: keep them).")
        ] = False,
        max_connections: Annotated[int, typer.Option(min=1, max=100)] = 40,
    ) -> None:
        """Point the bot at this gateway, with the account's secret token and allowed updates."""
        from channels.telegram import ALLOWED_UPDATES

        expected = f"/webhooks/telegram/{account}"
        if not url.rstrip("/").endswith(expected):
            err.print(f"[yellow]warning:[/] the URL does not end with {expected}")
        run_result = _with_adapter(
            project,
            account,
            lambda a: a.set_webhook(
                url, drop_pending_updates=drop_pending_updates, max_connections=max_connections
            ),
        )
        if not run_result:
            fail("Telegram did not accept the webhook")
        typer.echo(
            f"webhook set: {url} (allowed updates: {', '.join(ALLOWED_UPDATES)}; "
            f"pending updates {'dropped' if drop_pending_updates else 'kept'})"
        )

    @app.command("delete-webhook")
    def delete_webhook(
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        drop_pending_updates: Annotated[
            bool, typer.Option(help="Also discard updates Telegram is holding.")
        ] = False,
    ) -> None:
        """Remove the bot's webhook."""
        _with_adapter(
            project, account, lambda a: a.delete_webhook(drop_pending_updates=drop_pending_updates)
        )
        typer.echo(
            "webhook deleted" + (" (pending updates dropped)" if drop_pending_updates else "")
        )

    @app.command("webhook-info")
    def webhook_info(
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show what Telegram has registered: URL, pending updates, last error."""
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
