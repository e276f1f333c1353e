"""Messaging channel gateway."""

from gateway.optional_imports import import_without

# structlog and httpx (which python-telegram-bot sends through) each import rich, and rich
# pygments, whenever rich is installed: structlog for its pretty console tracebacks, httpx for
# its command-line tool, which also imports click (typer carries its own copy). The gateway uses
# none of them; rich is only the CLI's table printer. Imported here, before any other module can,
# they leave rich, pygments and click out, and `serve` and `worker` run ~5 MB smaller
# (docs/decisions.md, "What a process imports").
import_without(("rich", "pygments", "click"), "structlog", "httpx")
