"""`gateway secrets`: make a key, and re-encrypt every stored secret under the newest one."""

from __future__ import annotations

import typer

from gateway.cli.common import console, load_settings, run


def register(secrets_app: typer.Typer) -> None:
    secrets_app.command(
        "generate-key",
        help="Print a new key for GATEWAY_SECRET_KEY (32 random bytes, urlsafe base64).",
    )(generate_key)
    secrets_app.command(
        "rotate", help="Re-encrypt every stored secret under the first key of GATEWAY_SECRET_KEY."
    )(rotate)


def generate_key() -> None:
    from gateway.storage.secrets import generate_key as new_key

    print(new_key())


def rotate() -> None:
    from gateway.ops.rotation import rotate_all

    settings = load_settings()
    count = run(rotate_all(settings))
    console.print(f"re-encrypted {count} stored secret(s) under the newest key")
