"""Where settings come from besides the environment: `NAME_FILE` secrets and `gateway.toml`.

Precedence, first wins: the environment (`NAME`, or `NAME_FILE`: the path of a file holding the
value, as Docker and Kubernetes mount secrets), then the config file (`GATEWAY_CONFIG`, else
`./gateway.toml` when present), then the default. Each source records which settings it gave,
so `gateway config show` can say where every value came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

CONFIG_VARIABLE = "GATEWAY_CONFIG"
CONFIG_FILE = "gateway.toml"
DEFAULT = "default"
ENVIRONMENT = "environment"
FILE_SUFFIX = "_FILE"
FILE_ALSO = ("database_url",)
"""Not a SecretStr, but its URL usually holds the database password."""


class ConfigError(ValueError):
    """A configuration source cannot be read; the message is one line naming it and the fix."""


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable of a setting (its first alias), e.g. `GATEWAY_SECRET_KEY`."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return alias if isinstance(alias, str) else name.upper()


def is_secret(field: FieldInfo) -> bool:
    annotation = field.annotation
    if get_origin(annotation) in (Union, UnionType):
        return SecretStr in get_args(annotation)
    return annotation is SecretStr


def file_variables(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Setting name -> its `NAME_FILE` variable: every secret, and DATABASE_URL."""
    return {
        name: variable(name, field) + FILE_SUFFIX
        for name, field in settings_cls.model_fields.items()
        if is_secret(field) or name in FILE_ALSO
    }


def spellings(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Every spelling a source may use (aliases, field names), lower-cased -> setting name."""
    names: dict[str, str] = {}
    for name, field in settings_cls.model_fields.items():
        names[name.lower()] = name
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update({c.lower(): name for c in choices if isinstance(c, str)})
    return names


_RECORD: ContextVar[list[tuple[str, set[str]]] | None] = ContextVar(
    "settings_sources", default=None
)


class Recorded(PydanticBaseSettingsSource):
    """Wraps a source, noting which settings it gave (under `recording()`)."""

    def __init__(self, inner: PydanticBaseSettingsSource, label: str) -> None:
        super().__init__(inner.settings_cls)
        self.inner, self.label = inner, label

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        record = _RECORD.get()
        if record is not None:
            names = spellings(self.settings_cls)
            record.append((self.label, {names.get(k.lower(), k) for k in data}))
        return data


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Within: settings built fill the yielded mapping, setting name -> where it came from."""
    record: list[tuple[str, set[str]]] = []
    token = _RECORD.set(record)
    origins: dict[str, str] = {}
    try:
        yield origins
    finally:
        _RECORD.reset(token)
        for label, names in reversed(record):  # the first source (highest priority) wins
            origins.update(dict.fromkeys(names, label))


class SecretFiles(PydanticBaseSettingsSource):
    """`NAME_FILE=/run/secrets/name`: the file's content (one trailing newline dropped)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every file at once

    def __call__(self) -> dict[str, Any]:
        environment = {k.upper() for k in os.environ}
        values: dict[str, Any] = {}
        for name, file_variable in file_variables(self.settings_cls).items():
            path = os.environ.get(file_variable)
            if path is None:
                continue
            plain = file_variable.removesuffix(FILE_SUFFIX)
            if plain in environment:
                raise ConfigError(f"both {plain} and {file_variable} are set: unset one of them")
            try:
                content = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigError(
                    f"{file_variable}: cannot read {path}: {reason}: check the path and "
                    "that this user may read it"
                ) from None
            values[name] = content.removesuffix("\n").removesuffix("\r")
        return values


def config_file() -> Path | None:
    """`GATEWAY_CONFIG` (which must exist), else `./gateway.toml` when present."""
    given = os.environ.get(CONFIG_VARIABLE)
    if given:
        path = Path(given)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_VARIABLE}={given}: no such file: fix the path or unset it")
        return path
    path = Path(CONFIG_FILE)
    return path if path.is_file() else None


class ConfigFile(PydanticBaseSettingsSource):
    """A flat TOML table keyed by the environment variables' names (`PORT = 8080`)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"config file {self.path}: cannot read it: {reason}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {self.path}: not valid TOML: {exc}") from None
        names = spellings(self.settings_cls)
        for key, value in data.items():
            if key.lower() not in names or isinstance(value, dict):
                raise ConfigError(
                    f"config file {self.path}: unknown setting {key!r}: use the environment "
                    "variables' names (docs/operations.md#configuration)"
                )
        return data


def customised_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources in priority order, each recorded (`Settings.settings_customise_sources`)."""
    path = config_file()
    return (
        Recorded(init_settings, "argument"),
        Recorded(env_settings, ENVIRONMENT),
        Recorded(SecretFiles(settings_cls), "file"),
        Recorded(ConfigFile(settings_cls, path), f"config file {path}"),
    )
