"""Files the fake providers serve as inbound media (every fake shares this store).

A test or the demo registers a file (bytes, type, name) on a fake and sends its reference in a
webhook; the gateway's worker then looks it up and downloads it with the provider's
authentication. Each file counts its downloads and can be made to fail (an HTTP status for the
next requests), to answer late, or to trickle its bytes in chunks without a Content-Length (for
the fetcher's streaming cap).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["FakeFile", "MediaFiles"]

CHUNK = 64 * 1024


@dataclass
class FakeFile:
    id: str
    data: bytes
    mime_type: str
    filename: str | None = None
    downloads: int = 0
    """Requests answered with the bytes (failed or refused ones are not counted)."""
    requests: int = 0
    """Download requests that reached the file, answered or not."""
    authorizations: list[str | None] = field(default_factory=list)
    """The `Authorization` header of each download request (None: none was sent)."""
    failures: list[int] = field(default_factory=list)
    """HTTP statuses for the next download requests, in order."""
    delay: float = 0.0
    """Seconds before each download is answered."""
    trickle: float | None = None
    """Seconds between chunks: the bytes go chunked, without a Content-Length (None: at once)."""
    sent_bytes: int = 0
    """Bytes written by the last trickled download before it ended (or the client left)."""

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class MediaFiles:
    """One fake's files, by id."""

    def __init__(self, new_id: Callable[[int], str]) -> None:
        self._new_id = new_id
        self._numbers = itertools.count(1)
        self.files: dict[str, FakeFile] = {}

    def add(
        self,
        data: bytes,
        mime_type: str = "application/octet-stream",
        filename: str | None = None,
        file_id: str | None = None,
    ) -> FakeFile:
        """`file_id`: the id a recorded payload already names (else a new one)."""
        file = FakeFile(file_id or self._new_id(next(self._numbers)), data, mime_type, filename)
        self.files[file.id] = file
        return file

    def get(self, file_id: str) -> FakeFile | None:
        return self.files.get(file_id)

    def fail_next(self, file: FakeFile, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` downloads of `file` with `status`."""
        file.failures.extend([status] * times)

    async def serve(self, request: web.Request, file: FakeFile) -> web.StreamResponse:
        """One download of `file` (authentication already checked by the fake)."""
        file.requests += 1
        file.authorizations.append(request.headers.get("Authorization"))
        if file.delay > 0:
            await asyncio.sleep(file.delay)
        if file.failures:
            status = file.failures.pop(0)
            return web.json_response({"error": f"injected {status}"}, status=status)
        headers = {"Content-Type": file.mime_type}
        if file.trickle is None:
            file.downloads += 1
            return web.Response(body=file.data, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        file.sent_bytes = 0
        try:
            for start in range(0, file.size, CHUNK):
                await response.write(file.data[start : start + CHUNK])
                file.sent_bytes += len(file.data[start : start + CHUNK])
                await asyncio.sleep(file.trickle)
            await response.write_eof()
        except ConnectionError:  # the client stopped reading
            return response
        file.downloads += 1
        return response
