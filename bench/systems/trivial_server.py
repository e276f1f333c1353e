"""A trivial aiohttp server that answers every POST with 200 and does nothing else.

Used only to show the load generators are not the bottleneck: whatever rate they reach here, on
the same cores and in the same run, is their ceiling.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
