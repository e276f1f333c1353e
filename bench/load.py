"""Python load generators (run on the load core): open-loop acks, the end-to-end burst, checks.

- ``open_loop``: fires requests on a fixed schedule (rate/s), never waiting for answers, and
  measures each from its send to its response; reports how late the generator itself fired.
- ``send_turns``: the end-to-end burst: N chats x M messages, ``concurrency`` requests in flight,
  and a chat's message k+1 is sent only after its message k was acknowledged (as Telegram does).
- ``closed_loop_max``: the same sender's ceiling against any URL (used on a trivial server).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

SECRET = "bench-webhook-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEADERS = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}


def update_body(update_id: int, chat_id: int, text: str) -> bytes:
    """A real-shaped Telegram update: a private text message."""
    user = {
        "id": chat_id,
        "is_bot": False,
        "first_name": "Load",
        "username": f"load{chat_id}",
        "language_code": "en",
    }
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1700000000,
                "chat": {
                    "id": chat_id,
                    "type": "private",
                    "first_name": "Load",
                    "username": f"load{chat_id}",
                },
                "from": user,
                "text": text,
            },
        }
    ).encode()


def turn_text(chat_id: int, seq: int) -> str:
    return f"chat {chat_id} seq {seq}"


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class AckResult:
    rate: float
    seconds: float
    sent: int = 0
    ok: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    """time.monotonic() each measured (answered) request was sent, beside `latencies_ms`."""
    max_lag_ms: float = 0.0
    warmup_ok: int = 0

    def split_p99(self, boundary: float) -> dict[str, Any]:
        """p99 (and count) of the requests sent before and after `boundary` (monotonic)."""
        pairs = list(zip(self.latencies_ms, self.sent_at, strict=True))
        before = sorted(ms for ms, at in pairs if at < boundary)
        after = sorted(ms for ms, at in pairs if at >= boundary)
        return {
            "before": {"n": len(before), "p99_ms": round(percentile(before, 99), 2)},
            "after": {"n": len(after), "p99_ms": round(percentile(after, 99), 2)},
        }

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "rate_per_s": self.rate,
            "seconds": self.seconds,
            "sent": self.sent,
            "ok": self.ok,
            "statuses": dict(self.statuses),
            "p50_ms": round(percentile(lat, 50), 2),
            "p90_ms": round(percentile(lat, 90), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(lat[-1], 2) if lat else None,
            "generator_max_lag_ms": round(self.max_lag_ms, 2),
            "warmup_ok": self.warmup_ok,
        }


async def open_loop(
    url: str,
    *,
    rate: float,
    seconds: float,
    first_update_id: int,
    first_chat: int,
    chats: int = 1000,
    warmup_seconds: float = 1.0,
) -> AckResult:
    """Open loop at ``rate``/s: a warm-up (not measured), then ``seconds`` measured."""
    result = AckResult(rate=rate, seconds=seconds)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(index: int, scheduled: float, measured: bool) -> None:
            update_id = first_update_id + index
            chat = first_chat + index % chats
            body = update_body(update_id, chat, f"ack test {index}")
            start, sent_at = time.perf_counter(), time.monotonic()
            lag = loop.time() - scheduled
            try:
                async with session.post(url, data=body, headers=HEADERS) as resp:
                    await resp.read()
                    status = str(resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            elapsed_ms = (time.perf_counter() - start) * 1000
            if not measured:
                result.warmup_ok += status == "200"
                return
            result.sent += 1
            result.statuses[status] += 1
            result.max_lag_ms = max(result.max_lag_ms, lag * 1000)
            if status == "200":
                result.ok += 1
                result.latencies_ms.append(elapsed_ms)
                result.sent_at.append(sent_at)

        warm = int(rate * warmup_seconds)
        total = warm + int(rate * seconds)
        tasks: list[asyncio.Task[None]] = []
        begin = loop.time() + 0.05
        for index in range(total):
            scheduled = begin + index / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, scheduled, index >= warm)))
        await asyncio.gather(*tasks)
    return result


@dataclass
class BurstResult:
    started_at: float  # time.monotonic() of the first send (shared clock with the fake)
    acked_at: float
    sent: int
    statuses: Counter[str]
    acked: dict[tuple[int, int], float] = field(default_factory=dict)
    """(chat id, seq) -> when its webhook was acknowledged (the same clock)."""

    def summary(self) -> dict[str, Any]:
        seconds = self.acked_at - self.started_at
        return {
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "ack_seconds": round(seconds, 3),
            "ack_rate_per_s": round(self.sent / seconds, 1) if seconds > 0 else None,
        }


async def send_turns(
    url: str,
    *,
    chats: int,
    per_chat: int,
    first_chat: int,
    first_update_id: int,
    concurrency: int = 64,
) -> BurstResult:
    """Every chat's messages 1..per_chat, with a chat's next message sent only after the previous
    one was acknowledged. Chats are interleaved so many are in flight at once."""
    order = [(chat, seq) for seq in range(1, per_chat + 1) for chat in range(chats)]
    acked: dict[tuple[int, int], asyncio.Event] = {key: asyncio.Event() for key in order}
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for item in order:
        queue.put_nowait(item)
    statuses: Counter[str] = Counter()
    acked_times: dict[tuple[int, int], float] = {}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def sender() -> None:
            while True:
                try:
                    chat_index, seq = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if seq > 1:
                    await acked[(chat_index, seq - 1)].wait()
                chat = first_chat + chat_index
                update_id = first_update_id + (seq - 1) * chats + chat_index
                body = update_body(update_id, chat, turn_text(chat, seq))
                status = "unsent"
                for _attempt in range(3):  # as Telegram would: redeliver until acknowledged
                    try:
                        async with session.post(url, data=body, headers=HEADERS) as resp:
                            await resp.read()
                            status = str(resp.status)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        status = type(exc).__name__
                    if status == "200":
                        break
                statuses[status] += 1
                acked_times[(chat, seq)] = time.monotonic()
                acked[(chat_index, seq)].set()

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        acked_at = time.monotonic()
    return BurstResult(started, acked_at, len(order), statuses, acked_times)


async def closed_loop_max(url: str, *, seconds: float, concurrency: int = 64) -> dict[str, Any]:
    """The sender's own ceiling: as many webhook posts as it can make in ``seconds``."""
    done = 0
    connector = aiohttp.TCPConnector(limit=0)
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(offset: int) -> None:
            nonlocal done
            index = 0
            while time.monotonic() < deadline:
                body = update_body(offset * 10_000_000 + index, 900000 + index % 1000, "x")
                async with session.post(url, data=body, headers=HEADERS) as resp:
                    await resp.read()
                done += 1
                index += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.monotonic() - started
    return {"requests": done, "seconds": round(elapsed, 3), "per_second": round(done / elapsed, 1)}
