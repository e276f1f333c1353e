"""Tools for the bad-input property tests: raw HTTP, a loop bridge, a log tap and strategies.

Hypothesis runs synchronously in a worker thread (`asyncio.to_thread`); every request it makes is
handed back to the test's event loop with `LoopBridge.run`, so the gateway under test keeps
serving on that loop. Requests go over a raw socket (`raw_request`) because the interesting inputs
(invalid UTF-8 header values, lying `Content-Length`, chunked bodies, undecodable paths) are ones
a polite HTTP client refuses to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

T = TypeVar("T")

Framing = Literal["length", "chunked", "declared"]


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic, bounded, no example database (runs must not depend on earlier runs), and no
    `explain` phase (it re-runs big examples over HTTP only to annotate the report). Server
    faults are collected rather than raised (see `Faults`), so shrinking only runs for the other
    property violations."""
    return settings(
        max_examples=max_examples,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


class LoopBridge:
    """Run coroutines on the test's event loop from the thread Hypothesis runs in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float = 30.0) -> None:
        self.loop, self.timeout = loop, timeout

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout)


# --- raw HTTP/1.1 ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def from_gateway(self) -> bool:
        """Answered by the application (its middleware stamps every response with a request id),
        not by aiohttp's HTTP parser rejecting the bytes before any route ran."""
        return "x-request-id" in self.headers

    @property
    def request_id(self) -> str:
        return self.headers.get("x-request-id", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def brief(self) -> str:
        return f"{self.status} {self.body[:300]!r}"


@dataclass
class RawRequest:
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    framing: Framing = "length"
    declared_length: int | None = None

    def encode(self) -> bytes:
        lines = [self.method.encode() + b" " + self.target + b" HTTP/1.1", b"Host: 127.0.0.1"]
        lines += [name + b": " + value for name, value in self.headers]
        if self.framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            payload = b"".join(
                b"%x\r\n" % len(chunk) + chunk + b"\r\n"
                for chunk in (self.body[i : i + 65536] for i in range(0, len(self.body), 65536))
            )
            payload += b"0\r\n\r\n"
        else:
            length = len(self.body) if self.framing == "length" else self.declared_length
            lines.append(b"Content-Length: %d" % (length or 0))
            payload = self.body
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload

    def describe(self) -> str:
        heads = ", ".join(f"{n.decode()}: {v[:80]!r}" for n, v in self.headers)
        size = f"{len(self.body)} bytes ({self.framing}"
        if self.framing == "declared":
            size += f", Content-Length: {self.declared_length}"
        return f"{self.method} {self.target[:200]!r} [{heads}] body {size}) {self.body[:200]!r}" + (
            "..." if len(self.body) > 200 else ""
        )


async def raw_request(base_url: str, request: RawRequest, timeout: float = 20.0) -> Reply:
    """Send one request on a fresh connection; read one response (status, headers, body)."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

    async def send() -> None:
        # The server may answer early (413) and stop reading: a failed write is not a failure.
        with contextlib.suppress(ConnectionError):
            writer.write(request.encode())
            await writer.drain()

    sending = asyncio.create_task(send())
    try:
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ", 2)[1])
            headers: dict[str, str] = {}
            for line in header_lines:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return Reply(status, headers, body)


class ServerFault(AssertionError):
    """A 5xx (or stack trace) for a client's request: `key` names the kind of fault."""

    def __init__(self, key: str, size: int, message: str) -> None:
        super().__init__(message)
        self.key, self.size = key, size


class Faults:
    """Server faults seen during a property run, the smallest witness of each kind.

    Shrinking every distinct 5xx over HTTP costs tens of seconds; collecting them instead lets a
    run report every kind of fault it met (with its smallest request) in a couple of seconds.
    Other property violations still raise at once and are shrunk by Hypothesis.
    """

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, str, int]] = {}

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except ServerFault as fault:
            size, message, count = self.seen.get(fault.key, (fault.size + 1, "", 0))
            if fault.size < size:
                size, message = fault.size, str(fault)
            self.seen[fault.key] = (size, message, count + 1)

    def report(self) -> str:
        return "\n\n".join(
            f"[{key}] seen {count} time(s); smallest:\n{message}"
            for key, (_, message, count) in sorted(self.seen.items())
        )


# --- server log tap -------------------------------------------------------------------------------
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b", re.M)
_PROJECT_FRAME = re.compile(
    r'File "[^"]*?/((?:gateway|channels|identity|approvals)/[\w/]+\.py)", line (\d+), in (\w+)'
)


class LogTap(logging.Handler):
    """Collects ERROR records (structlog event dicts included) so a failure can show the server's
    side of the story: the event, the request id and the exception's last lines."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @staticmethod
    def _fields(record: logging.LogRecord) -> dict[str, Any]:
        if isinstance(record.msg, dict):
            return dict(record.msg)
        return {"event": record.getMessage()}

    def _describe(self, record: logging.LogRecord) -> list[str]:
        fields = self._fields(record)
        exception = str(fields.pop("exception", "") or "")
        if not exception and record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            exception = f"{type(error).__name__}: {error}"
        tail = [line for line in exception.strip().splitlines() if line.strip()][-6:]
        event = fields.pop("event", "")
        keep = ("path", "request_id", "row_id", "error")
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if k in keep)
        return [f"[{record.name}] {event} {extra}".rstrip()] + [f"    {line}" for line in tail]

    def excerpt(self, request_id: str = "", limit: int = 3) -> str:
        chosen = [
            r
            for r in self.records
            if not request_id or self._fields(r).get("request_id") == request_id
        ][-limit:]
        return "\n".join(line for r in chosen for line in self._describe(r)) or "(nothing logged)"

    def _site(self, record: logging.LogRecord) -> str:
        fields = self._fields(record)
        exception = str(fields.get("exception", "") or "")
        named = _EXCEPTION_LINE.findall(exception)
        if not named:
            return str(fields.get("error") or fields.get("event") or "?")
        sites = _PROJECT_FRAME.findall(exception)
        where = f" at {sites[-1][0]}:{sites[-1][1]} {sites[-1][2]}()" if sites else ""
        return named[-1].rsplit(".", 1)[-1] + where

    def signature(self, request_id: str) -> str:
        """What failed on the server, in a few words: the exception type and the innermost
        project frame (or the logged event when no exception was logged)."""
        for record in reversed(self.records):
            if self._fields(record).get("request_id") == request_id:
                return self._site(record)
        return "nothing logged"

    def crashes(self) -> dict[str, str]:
        """Background work that blew up (`*.handler_crashed`): one excerpt per kind of crash."""
        found: dict[str, str] = {}
        for record in self.records:
            if str(self._fields(record).get("event", "")).endswith("handler_crashed"):
                found.setdefault(self._site(record), "\n".join(self._describe(record)))
        return found


@contextlib.contextmanager
def log_tap() -> Iterator[LogTap]:
    tap = LogTap()
    root = logging.getLogger()
    root.addHandler(tap)
    try:
        yield tap
    finally:
        root.removeHandler(tap)


# --- strategies -----------------------------------------------------------------------------------
SPECIAL_STRINGS = (
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ufeff",
    "\u202eevil",
    "🙂" * 50,
    "Z̸̢͚a̷l̴g̶o̷",
    "\r\n\t",
    "%00",
    "../..",
    "x" * 5000,
    "/start",
    "/start@other_bot abc",
    "@gateway_bot",
)

HUGE_INTS = (
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    2**64,
    2**64 + 1,
    -(2**64),
    10**30,
    -(10**40),
    2**256,
    10**200,
)

# Literal tokens spliced into a serialized JSON body where a value would be.
RAW_TOKENS = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-0",
    b"1.0",
    b"1E400",
    b"9" * 4301,
    b"-" + b"9" * 5000,
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"[" * 200 + b"]" * 200,
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b'"\\uDEAD"',
    b'"\xff\xfe"',
    b'"\xc3\x28"',
    b'"\xed\xa0\x80"',
)

unicode_text = st.text(
    st.characters() | st.characters(categories=["Cs"]) | st.sampled_from("\x00\u0085\u2028"),
    max_size=40,
) | st.sampled_from(SPECIAL_STRINGS)

huge_ints = st.sampled_from(HUGE_INTS) | st.integers(2**63, 2**80) | st.integers(-(2**80), -(2**63))
any_int = st.integers() | st.sampled_from(HUGE_INTS) | st.integers(-(2**70), 2**70)

json_leaves = (
    st.none()
    | st.booleans()
    | any_int
    | st.floats(allow_nan=True, allow_infinity=True)
    | unicode_text
)

json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(unicode_text, inner, max_size=4),
    max_leaves=12,
)


@dataclass(frozen=True)
class Raw:
    """A literal JSON token placed in a document before serialization (see `serialize`)."""

    token: bytes


def serialize(document: Any, *, ascii_only: bool = True) -> bytes:
    """JSON bytes for a document that may hold `Raw` tokens; lone surrogates survive either as
    `\\ud800` escapes or (not ASCII) as the invalid UTF-8 bytes a broken client would send."""
    tokens: list[bytes] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Raw):
            tokens.append(value.token)
            return f"@@raw{len(tokens) - 1}@@"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(document), ensure_ascii=ascii_only)
    data = text.encode("utf-8", "surrogatepass")
    for i, token in enumerate(tokens):
        data = data.replace(f'"@@raw{i}@@"'.encode(), token, 1)
    return data


def plain_text(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """What Telegram itself sends: any text but NUL (and, like all Python text, no surrogates)."""
    return st.text(st.characters(exclude_characters="\x00"), min_size=min_size, max_size=max_size)


def valid_users() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.integers(1, 2**40),
            "is_bot": st.booleans(),
            "first_name": plain_text(min_size=1, max_size=12),
        },
        optional={
            "last_name": plain_text(max_size=12),
            "username": st.from_regex(r"[a-z][a-z0-9_]{3,12}", fullmatch=True),
            "language_code": st.sampled_from(["en", "pt", "de"]),
        },
    )


def valid_chats() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.integers(-(10**13), 10**12).filter(bool),
            "type": st.sampled_from(["private", "group", "supergroup", "channel"]),
        },
        optional={"title": plain_text(max_size=12), "first_name": plain_text(max_size=12)},
    )


@st.composite
def valid_messages(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(plain_text(max_size=60) | st.sampled_from(["/start", "/help", "/new", "hi @bot"]))
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 2**31)),
        "date": draw(st.integers(0, 2**31)),
        "chat": draw(valid_chats()),
        "from": draw(valid_users()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if draw(st.booleans()):
        message["reply_to_message"] = {
            "message_id": draw(st.integers(1, 2**31)),
            "date": draw(st.integers(0, 2**31)),
            "chat": message["chat"],
            "from": draw(valid_users()),
            "text": "earlier",
        }
    return message


@st.composite
def valid_updates(draw: st.DrawFn, update_ids: st.SearchStrategy[int]) -> dict[str, Any]:
    update_id = draw(update_ids)
    kind = draw(st.sampled_from(["message", "edited_message", "callback_query", "channel_post"]))
    if kind == "callback_query":
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(draw(st.integers(1, 2**62))),
                "chat_instance": str(draw(st.integers(-(2**62), 2**62))),
                "from": draw(valid_users()),
                "message": draw(valid_messages()),
                "data": draw(plain_text(max_size=64)),
            },
        }
    message = draw(valid_messages())
    if kind == "edited_message":
        message["edit_date"] = message["date"]
    return {"update_id": update_id, kind: message}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replace(node[head], rest, value)
    return copy


def _drop(node: Any, path: tuple[Any, ...]) -> Any:
    head, rest = path[0], path[1:]
    if not rest:
        if isinstance(node, dict):
            return {k: v for k, v in node.items() if k != head}
        return [v for i, v in enumerate(node) if i != head]
    if isinstance(node, dict):
        return {**node, head: _drop(node[head], rest)}
    copy = list(node)
    copy[head] = _drop(node[head], rest)
    return copy


raw_tokens = st.sampled_from(RAW_TOKENS).map(Raw) | st.integers(1, 60).map(
    lambda depth: Raw(b"[" * depth + b"1" + b"]" * depth)
)

# What a mutation puts in place of a value; each kind is drawn explicitly so none is starved.
REPLACEMENTS: dict[str, st.SearchStrategy[Any]] = {
    "wrong_type": json_values,
    "null": st.none(),
    "huge_int": huge_ints,
    "text": unicode_text,
    "raw_token": raw_tokens,
}


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[Any], max_mutations: int = 4) -> Any:
    """A document with a few keys dropped or added, values swapped for wrong types, huge or odd
    numbers, hostile strings, nulls, deep nesting or literal tokens JSON readers may choke on."""
    document = draw(documents)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(document)
        action = draw(st.sampled_from(["drop", "add", "drop", "add", *REPLACEMENTS]))
        if action == "drop":
            droppable = [p for p in paths if p]
            if droppable:
                document = _drop(document, draw(st.sampled_from(droppable)))
        elif action == "add":
            containers = [p for p in paths if isinstance(_get(document, p), dict)]
            if containers:
                where = draw(st.sampled_from(containers))
                kind = draw(st.sampled_from(list(REPLACEMENTS)))
                extra = {draw(unicode_text): draw(REPLACEMENTS[kind])}
                document = _replace(document, where, {**_get(document, where), **extra})
        else:
            if action == "huge_int":  # mostly where a number was: ids, dates, offsets
                numbers = [p for p in paths if type(_get(document, p)) is int]
                paths = numbers or paths
            leaves = [p for p in paths if p] or paths  # the root only when nothing else is left
            path = draw(st.sampled_from(leaves))
            document = _replace(document, path, draw(REPLACEMENTS[action]))
    return document


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


UPDATE_FIELDS = (
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "inline_query",
    "poll",
    "poll_answer",
    "message_reaction",
    "business_message",
    "pre_checkout_query",
)


def update_shaped(update_ids: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that pass the `update_id` gate and then carry anything in Update's fields."""
    return st.builds(
        lambda uid, extra: {"update_id": uid, **extra},
        update_ids,
        st.dictionaries(st.sampled_from(UPDATE_FIELDS), json_values, max_size=3),
    )


header_value_bytes = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=120).map(str.encode),
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=60).map(str.encode),
    st.binary(max_size=60).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F)),
    st.binary(min_size=1, max_size=40).map(lambda b: bytes(0x80 | c for c in b)),
    st.integers(100, 7000).map(lambda n: b"k" * n),
)
"""Header values the HTTP parser lets through: printable ASCII, UTF-8, obs-text (latin-1 bytes
that are not UTF-8) and long values (below aiohttp's 8 KiB line limit)."""
