"""`gateway config show` and the config sources, as the real command: each source, precedence,
masking (a secret's value never appears, not even in part), and `NAME_FILE` errors."""

from __future__ import annotations

from pathlib import Path

from tests.auxil.cli import SECRET_KEY, as_json, cli_env, failed, gateway, ok

NO_TELEGRAM = "http://127.0.0.1:9"
ADMIN_KEY = "admin-key-from-a-file-0123456789abcdef"
TOKEN = "987654:TgTokenQx7Zw3Vb9Kp2Lm5Nr8"
DB_PASSWORD = "s3cret-db-password"


def _env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    return cli_env(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}", NO_TELEGRAM, **overrides)


async def test_show_names_each_source_and_masks_every_secret(tmp_path: Path) -> None:
    (tmp_path / "admin_key").write_text(ADMIN_KEY + "\n")
    (tmp_path / "gateway.toml").write_text(
        'PORT = 9000\nGATEWAY_MODEL = "complex"\nGATEWAY_METRICS_TOKEN = "toml-metrics-token-1"\n'
    )
    env = _env(
        tmp_path,
        DATABASE_URL=f"postgres://gw:{DB_PASSWORD}@db.internal:5432/gateway",
        GATEWAY_ADMIN_KEY_FILE=str(tmp_path / "admin_key"),
        TELEGRAM_BOT_TOKEN=TOKEN,
        GATEWAY_MODEL="simple",  # the environment wins over gateway.toml
    )
    result = await gateway("config", "show", "--json", env=env, cwd=tmp_path)
    rows = {row["variable"]: row for row in as_json(result)}
    assert rows["PORT"] == {"variable": "PORT", "value": 9000, "source": "config file gateway.toml"}
    assert rows["GATEWAY_MODEL"]["value"] == "simple"
    assert rows["GATEWAY_MODEL"]["source"] == "environment"
    assert rows["GATEWAY_ADMIN_KEY"] == {
        "variable": "GATEWAY_ADMIN_KEY",
        "value": "set",
        "source": "GATEWAY_ADMIN_KEY_FILE",
    }
    assert rows["TELEGRAM_BOT_TOKEN"]["value"] == "set"
    assert rows["GATEWAY_METRICS_TOKEN"]["value"] == "set"
    assert rows["GENAUG_API_KEY"] == {
        "variable": "GENAUG_API_KEY",
        "value": "unset",
        "source": "default",
    }
    assert rows["GATEWAY_HOST"]["source"] == "default"
    assert rows["DATABASE_URL"]["value"] == "postgres://gw:***@db.internal:5432/gateway"
    table = ok(await gateway("config", "show", env=env, cwd=tmp_path))
    for output in (result.stdout + result.stderr, table.stdout + table.stderr):
        for secret in (ADMIN_KEY, TOKEN, DB_PASSWORD, "toml-metrics-token-1", SECRET_KEY):
            for piece in (secret, secret[:8], secret[-8:]):
                assert piece not in output
    assert "GATEWAY_ADMIN_KEY_FILE" in table.stdout and "environment" in table.stdout


async def test_secret_key_file_is_used_by_serve_and_migrate(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("bkAxC9a2xPTMU9QZuXW0Jr80RnUEwj4OjTTTnwjPRnc=\n")
    env = _env(tmp_path, GATEWAY_SECRET_KEY=None, GATEWAY_SECRET_KEY_FILE=str(key_file))
    ok(await gateway("migrate", env=env, cwd=tmp_path))
    shown = as_json(await gateway("projects", "list", "--json", env=env, cwd=tmp_path))
    assert [p["name"] for p in shown] == ["default"]
    assert not (tmp_path / ".gateway-secret.key").exists()  # the file's key, not a generated one


async def test_file_variable_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("x")
    both = _env(tmp_path, GATEWAY_ADMIN_KEY="y" * 40, GATEWAY_ADMIN_KEY_FILE=str(tmp_path / "key"))
    failed(
        await gateway("serve", env=both, cwd=tmp_path),
        "both GATEWAY_ADMIN_KEY and GATEWAY_ADMIN_KEY_FILE are set",
    )
    missing = _env(tmp_path, TWILIO_AUTH_TOKEN_FILE=str(tmp_path / "nope"))
    failed(
        await gateway("config", "show", env=missing, cwd=tmp_path),
        "TWILIO_AUTH_TOKEN_FILE: cannot read",
        "No such file or directory",
    )


async def test_bad_config_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text("PORT = \n")
    failed(await gateway("migrate", env=_env(tmp_path), cwd=tmp_path), "gateway.toml", "TOML")
    (tmp_path / "gateway.toml").write_text('PORT = "abc"\n')
    failed(
        await gateway("serve", env=_env(tmp_path), cwd=tmp_path),
        "PORT (from config file gateway.toml)",
    )
