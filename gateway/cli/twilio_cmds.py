"""`gateway twilio set-webhook --number +1...`: point a Twilio number's messaging webhook and
status callback at this gateway through the Twilio API, so nobody edits them by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import emit, fail, load_settings, run, with_account_adapter

DEFAULT = "default"
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
AccountOpt = Annotated[str, typer.Option("--account", "-a", help="The sms account id.")]


def register(app: typer.Typer) -> None:
    @app.command(
        "set-webhook",
        help=(
            "Set the number's incoming-message webhook (POST) and status callback "
            "to this gateway. Twilio signs requests over exactly these URLs: they "
            "must be what Twilio can reach."
        ),
    )
    def set_webhook(
        number: Annotated[str, typer.Option(help="The Twilio phone number, +E.164.")],
        project: ProjectOpt = DEFAULT,
        account: AccountOpt = DEFAULT,
        public_url: Annotated[
            str | None,
            typer.Option(help="This gateway's public base URL; default GATEWAY_PUBLIC_URL."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        from gateway.messages import SendError

        settings = load_settings()
        base = (public_url or settings.public_url or "").rstrip("/")
        if not base.startswith("https://") and not base.startswith("http://"):
            fail("no public URL: pass --public-url https://<host> or set GATEWAY_PUBLIC_URL")
        sms_url = f"{base}/webhooks/twilio/{account}"
        status_url = f"{sms_url}/status"

        async def main() -> dict:
            return await with_account_adapter(
                settings,
                "sms",
                project,
                account,
                lambda adapter: adapter.configure_number(number, sms_url, status_url),
            )

        try:
            result = run(main())
        except SendError as exc:
            fail(f"Twilio refused to update {number}: {exc.reason}")
        emit(
            {"number": number, "sms_url": sms_url, "status_callback": status_url, **result}, as_json
        )
