"""Messaging channel gateway."""

from gateway.optional_imports import import_without

# structlog and httpx (which python-telegram-bot sends through) each import rich, and rich
# pygments, whenever rich is installed: structlog for its pretty console tracebacks, httpx for
# its command-line tool. The gateway uses neither; rich is only the CLI's table printer. Imported
# here, before any other module can, they leave rich out, and `serve` and `worker` run ~4 MB
# smaller (docs/decisions.md, "What a process imports").
import_without(("rich", "pygments"), "structlog", "httpx")
