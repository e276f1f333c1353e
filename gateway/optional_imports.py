"""Importing a library without its optional extras."""

from __future__ import annotations

import importlib
import sys


def import_without(hidden: tuple[str, ...], *modules: str) -> None:
    """Import `modules` as if the `hidden` packages were not installed.

    A library that imports one of them optionally (`try: import rich` / `except ImportError`)
    then goes without it, whatever form its import takes (a submodule imported before is no
    way around it: its package fails first). The hidden packages are back for everyone once
    this returns. A module already imported is left as it is.
    """
    saved = {name: sys.modules[name] for name in hidden if name in sys.modules}
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        for module in modules:
            importlib.import_module(module)
    finally:
        for name in hidden:
            del sys.modules[name]
        sys.modules.update(saved)
