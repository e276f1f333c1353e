"""Settings sources in-process: `NAME_FILE` secrets, gateway.toml, precedence, origins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.settings_sources import ConfigError, file_variables, recording

OWN = ("GATEWAY_", "TELEGRAM_", "GENAUG_", "TWILIO_", "WHATSAPP_", "APPROVAL_")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No gateway variables from the test process; a working directory without gateway.toml."""

    for name in list(os.environ):
        if name.upper().startswith(OWN) or name.upper() in ("DATABASE_URL", "PORT"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_every_secret_setting_has_a_file_variable() -> None:
    names = set(file_variables(Settings).values())
    for expected in (
        "GATEWAY_ADMIN_KEY_FILE",
        "GATEWAY_SECRET_KEY_FILE",
        "GENAUG_API_KEY_FILE",
        "GENAUG_ADMIN_KEY_FILE",
        "GENAUG_WEBHOOK_SECRET_FILE",
        "TELEGRAM_BOT_TOKEN_FILE",
        "TELEGRAM_WEBHOOK_SECRET_FILE",
        "TWILIO_AUTH_TOKEN_FILE",
        "WHATSAPP_ACCESS_TOKEN_FILE",
        "WHATSAPP_APP_SECRET_FILE",
        "WHATSAPP_VERIFY_TOKEN_FILE",
        "APPROVAL_WEBHOOK_SECRET_FILE",
        "GATEWAY_METRICS_TOKEN_FILE",
        "DATABASE_URL_FILE",
    ):
        assert expected in names
    assert "PORT_FILE" not in names


def test_file_variable_reads_the_file_without_its_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text("123456:from-a-docker-secret\n")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(secret))
    with recording() as origins:
        settings = Settings()
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123456:from-a-docker-secret"
    assert origins["telegram_bot_token"] == "file"


def test_both_set_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("x")
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", "y")
    monkeypatch.setenv("GATEWAY_ADMIN_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ConfigError, match="both GATEWAY_ADMIN_KEY and GATEWAY_ADMIN_KEY_FILE"):
        Settings()


def test_unreadable_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"GATEWAY_SECRET_KEY_FILE: cannot read .*missing"):
        Settings()


def test_config_file_in_the_working_directory_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "gateway.toml").write_text(
        'PORT = 9000\nGATEWAY_MODEL = "complex"\ngateway_log_level = "WARNING"\n'
    )
    monkeypatch.setenv("GATEWAY_MODEL", "simple")
    with recording() as origins:
        settings = Settings()
    assert (settings.port, settings.core_model, settings.log_level) == (9000, "simple", "WARNING")
    assert origins["port"] == "config file gateway.toml"
    assert origins["core_model"] == "environment"
    assert "host" not in origins  # the default


def test_gateway_config_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc" / "gw.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("PORT = 9100\n")
    (tmp_path / "gateway.toml").write_text("PORT = 9000\n")  # not read: GATEWAY_CONFIG wins
    monkeypatch.setenv("GATEWAY_CONFIG", str(elsewhere))
    assert Settings().port == 9100
    monkeypatch.setenv("GATEWAY_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"GATEWAY_CONFIG=.*nope\.toml: no such file"):
        Settings()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("PORT = ", "not valid TOML"),
        ("DATABSE_URL = 'x'\n", "unknown setting 'DATABSE_URL'"),
        ("[gateway]\nPORT = 1\n", "unknown setting 'gateway'"),
    ],
)
def test_bad_config_file_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "gateway.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        Settings()


def test_keyword_arguments_still_win(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text("PORT = 9000\n")
    assert Settings(port=1).port == 1
