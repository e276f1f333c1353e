"""What the deployment files (Dockerfile, compose.yaml, deploy/kubernetes/, Procfile) may name:
real `gateway` commands with real options, real settings, real routes; and a small reader for
each file kind."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from pydantic import AliasChoices
from typer.main import get_command

from gateway.cli.main import app
from gateway.config import Settings
from gateway.version import COMMIT_ENV

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = Settings.model_fields
DEFAULT_PORT = int(DEFAULTS["port"].default)
"""`serve`'s port when PORT is unset (read from the code, not this process's environment)."""
KUBERNETES = ROOT / "deploy" / "kubernetes"


def gateway_command(args: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Parse `gateway ARGS` exactly as the CLI would, without running it: the command's path
    and its parsed options. An unknown command, option or malformed value raises."""
    root = get_command(app)
    cmd, ctx, rest = root, root.context_class(root, info_name="gateway"), list(args)
    path: list[str] = []
    while hasattr(cmd, "get_command"):  # a group: its first argument names the subcommand
        assert rest, f"`gateway {' '.join(path)}` needs a subcommand"
        name, *rest = rest
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"no command `gateway {' '.join([*path, name])}`"
        path.append(name)
        cmd = sub
        if hasattr(cmd, "get_command"):
            ctx = cmd.context_class(cmd, info_name=name, parent=ctx)
    with cmd.make_context(path[-1], rest, parent=ctx) as parsed:
        return path, dict(parsed.params)


def setting_names() -> set[str]:
    """Every environment variable Settings reads (the upper-case names of its aliases)."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names |= {c.upper() for c in choices if isinstance(c, str)}
    return names


def gateway_variables() -> set[str]:
    """What a gateway container may set: the settings and the build's commit."""
    return setting_names() | {COMMIT_ENV}


def health_routes() -> set[str]:
    """The paths `gateway.web.health` serves (both `serve` and the worker's health port)."""
    from gateway.runtime import Runtime
    from gateway.web import health

    application = web.Application()
    health.add_routes(application, Runtime(Settings(database_url="sqlite+aiosqlite://")))
    return {r.resource.canonical for r in application.router.routes() if r.resource is not None}


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs), f"{path}: not YAML mappings"
    return docs


def kubernetes_objects() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object in deploy/kubernetes/, by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml_documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} twice"
            found[key] = doc
    return found


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # 0 before the first FROM, then 1, 2, ...

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's arguments; the shell form split like a shell."""
        text = self.value.strip()
        if text.startswith("["):
            parsed = yaml.safe_load(text)  # a JSON array is YAML too
            assert isinstance(parsed, list)
            return [str(p) for p in parsed]
        return shlex.split(text)


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out: list[Instruction] = []
    stage, pending = 0, ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, value = pending.strip().partition(" ")
        keyword = keyword.upper()
        stage += keyword == "FROM"
        out.append(Instruction(keyword, re.sub(r"\s+", " ", value).strip(), stage))
        pending = ""
    assert not pending, "a continuation line runs off the end"
    return out


def listening_on_all_interfaces(port: int) -> bool:
    """A socket LISTENs on 0.0.0.0:port (/proc/net/tcp: address 00000000, state 0A)."""
    for line in _proc_net_tcp():
        local, state = line[1], line[3]
        address, _, hex_port = local.partition(":")
        if int(hex_port, 16) == port and state == "0A":
            return address == "00000000"
    raise AssertionError(f"nothing listens on port {port}")


def _proc_net_tcp() -> Iterator[list[str]]:
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            yield row.split()


def own_environment() -> dict[str, str]:
    """This process's environment without any gateway setting, `NAME_FILE` or `GATEWAY_*`
    variable (a test sets its own)."""
    names = gateway_variables()
    return {
        k: v
        for k, v in os.environ.items()
        if k not in names and k.removesuffix("_FILE") not in names and not k.startswith("GATEWAY_")
    }


def image_healthcheck(port: int) -> int:
    """Run the Dockerfile's HEALTHCHECK command as Docker would in the image (PORT set there)."""
    step = next(i for i in dockerfile() if i.keyword == "HEALTHCHECK")
    options, _, command = step.value.partition(" CMD ")
    assert "--timeout=" in options and "--interval=" in options
    program, *args = Instruction("CMD", command, step.stage).exec_form()
    assert program == "python", "slim images have python, not curl"
    done = subprocess.run(
        [sys.executable, *args], env={"PORT": str(port)}, capture_output=True, timeout=30
    )
    return done.returncode
