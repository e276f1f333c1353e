"""Importing a library without its optional extras."""

from __future__ import annotations

import importlib
import sys


def import_without(hidden: tuple[str, ...], *modules: str) -> None:
    """Import `modules` as if the `hidden` packages were not installed.

    A library that tries `import rich` and carries on without it then carries on without it;
    the hidden packages stay importable for everyone after this returns. A module already
    imported is left as it is.
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
