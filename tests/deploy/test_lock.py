"""The lock files (make lock), the buildpack's requirements.txt and .python-version, and the
Procfile: everything pyproject.toml asks for is pinned with hashes, the three files agree, and
installs go through them."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.auxil.deployment import ROOT, dockerfile, gateway_command

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def _pins(name: str) -> dict[str, str]:
    """name -> version of every `name==version` line."""
    pins: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        if found := _PIN.match(line):
            pins[canonicalize_name(found[1])] = found[2]
    return pins


def _hashes_per_pin(name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    current = ""
    for line in (ROOT / name).read_text().splitlines():
        if found := _PIN.match(line):
            current = canonicalize_name(found[1])
            counts[current] = 0
        elif line.strip().startswith("--hash=sha256:"):
            counts[current] += 1
    return counts


def _assert_pinned(requirements: list[str], pins: dict[str, str], lock: str) -> None:
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock} lacks {req.name}: run `make lock`"
        assert Version(pins[name]) in req.specifier, (
            f"{lock} pins {name}=={pins[name]}, outside pyproject's {req.specifier}: `make lock`"
        )
        for extra in req.extras:  # sqlalchemy[asyncio] -> greenlet
            assert extra != "asyncio" or "greenlet" in pins, f"{lock} lacks {name}[{extra}]"


def test_the_runtime_lock_pins_every_dependency_with_hashes() -> None:
    pins = _pins("requirements.lock")
    _assert_pinned(PYPROJECT["project"]["dependencies"], pins, "requirements.lock")
    hashes = _hashes_per_pin("requirements.lock")
    assert set(hashes) == set(pins) and all(hashes.values()), "a pin without a hash"
    assert not set(pins) & {"pytest", "ruff", "mypy"}, "dev tools in the runtime lock"


def test_the_dev_lock_adds_every_dev_tool_to_the_same_runtime_pins() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    _assert_pinned(
        [
            *PYPROJECT["project"]["dependencies"],
            *PYPROJECT["project"]["optional-dependencies"]["dev"],
        ],
        dev,
        "requirements-dev.lock",
    )
    # The tools the Makefile and the tests call, whatever pyproject's extras say.
    for tool in ("pytest", "pytest-asyncio", "ruff", "mypy", "import-linter", "pip-audit"):
        assert tool in dev, tool
    for tool in ("schemathesis", "hypothesis", "pyyaml", "packaging"):
        assert tool in dev, tool
    assert {n: v for n, v in dev.items() if n in runtime} == runtime, "the two locks disagree"
    hashes = _hashes_per_pin("requirements-dev.lock")
    assert set(hashes) == set(dev) and all(hashes.values()), "a pin without a hash"


def test_the_locks_are_universal_for_the_python_the_project_supports() -> None:
    for name in ("requirements.lock", "requirements-dev.lock"):
        header = (ROOT / name).read_text().splitlines()[1]
        assert "uv pip compile --universal --python-version 3.11" in header, header
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains("3.11")


def test_the_buildpack_installs_the_same_pins_and_the_gateway() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "." in lines, "the gateway itself (puts `gateway` on PATH for the Procfile)"
    assert not any("--hash" in line for line in lines), "pip refuses hashes beside `.`"
    assert _pins("requirements.txt") == _pins("requirements.lock")
    assert (ROOT / ".python-version").read_text().strip() == "3.11"


def test_the_image_and_the_buildpack_use_the_python_the_lock_is_resolved_for() -> None:
    arg = next(i for i in dockerfile() if i.keyword == "ARG" and i.stage == 0)
    assert arg.value == "PYTHON_VERSION=" + (ROOT / ".python-version").read_text().strip()


def test_the_procfile_keeps_release_migrate_and_runs_real_commands() -> None:
    entries = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert entries["release"].strip() == "gateway migrate"
    assert {"release", "web", "worker"} <= set(entries)
    for command in entries.values():
        program, *args = command.split()
        assert program == "gateway"
        gateway_command(args)


def test_make_install_and_ci_install_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert stamp is not None
    assert set(stamp[1].split()) >= {"requirements-dev.lock", "requirements.lock", "pyproject.toml"}
    recipe = makefile[stamp.end() :].split("\n\n", 1)[0]
    assert "pip install -q --require-hashes -r requirements-dev.lock" in recipe
    assert "pip install -q --no-deps -e ." in recipe
    assert '-e ".[dev]"' not in recipe
    assert re.search(r"^lock:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # make test -> lint -> install
