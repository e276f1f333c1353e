"""A long-running process leaves out what only the CLI's tables use: structlog and httpx would
import rich (and rich pygments) just because it is installed, and httpx click for its own
command-line tool (docs/decisions.md, "What a process imports")."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.optional_imports import import_without

ROOT = Path(__file__).resolve().parents[1]

SERVE_IMPORTS = """
import json, sys
import gateway.cli.main, gateway.cli.serving, gateway.runtime, gateway.web.app, channels.telegram
loaded = {name.split(".")[0] for name in sys.modules}
print(json.dumps(sorted(loaded & {"rich", "pygments", "click", "structlog", "httpx", "telegram"})))
from rich.table import Table  # the CLI's tables still work in the same process
import click  # and click for whoever wants it (typer carries its own copy)
print(Table.__module__, click.__name__)
"""


def test_what_serve_imports_leaves_rich_pygments_and_click_out() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVE_IMPORTS], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded, table_module = result.stdout.splitlines()
    assert json.loads(loaded) == ["httpx", "structlog", "telegram"]
    assert table_module == "rich.table click"


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Path]:
    """`extra` (an optional dependency) and `user_a`/`user_b` (libraries that use it if they
    can), importable from a temporary directory and forgotten afterwards."""
    (tmp_path / "extra.py").write_text("VALUE = 1\n")
    for user in ("user_a", "user_b"):
        (tmp_path / f"{user}.py").write_text(
            "try:\n    import extra\nexcept ImportError:\n    extra = None\n"
        )
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("extra", "user_a", "user_b"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("modules")
def test_the_library_goes_without_and_everyone_else_still_has_it() -> None:
    import_without(("extra",), "user_a", "user_b")
    assert sys.modules["user_a"].extra is None
    assert sys.modules["user_b"].extra is None
    assert "extra" not in sys.modules
    import extra  # type: ignore[import-not-found]

    assert extra.VALUE == 1


@pytest.mark.usefixtures("modules")
def test_an_extra_imported_before_is_the_same_module_after() -> None:
    import extra  # type: ignore[import-not-found]

    import_without(("extra",), "user_a")
    assert sys.modules["user_a"].extra is None
    assert sys.modules["extra"] is extra


@pytest.mark.usefixtures("modules")
def test_a_module_imported_before_is_left_as_it_is() -> None:
    import user_a  # type: ignore[import-not-found]

    assert user_a.extra is not None
    import_without(("extra",), "user_a")
    assert sys.modules["user_a"] is user_a
    assert user_a.extra is not None


@pytest.mark.usefixtures("modules")
def test_a_submodule_imported_before_does_not_unhide_its_package(modules: Path) -> None:
    (modules / "extra_pkg").mkdir()
    (modules / "extra_pkg" / "__init__.py").write_text("")
    (modules / "extra_pkg" / "part.py").write_text("VALUE = 2\n")
    (modules / "user_c.py").write_text(
        "try:\n    import extra_pkg.part as part\nexcept ImportError:\n    part = None\n"
    )
    import extra_pkg.part  # type: ignore[import-not-found]

    try:
        import_without(("extra_pkg",), "user_c")
        assert sys.modules["user_c"].part is None
        assert sys.modules["extra_pkg.part"] is extra_pkg.part
    finally:
        for name in ("extra_pkg", "extra_pkg.part", "user_c"):
            sys.modules.pop(name, None)
