"""The slow-core scenario (issue 22): the same 2,000 turns over 1,000 chats, against a mock core
that answers each message in `CORE_DELAY_S` to `CORE_DELAY_S + CORE_JITTER_S` seconds (uniform,
drawn from the message's text: `core_delay`), so what bounds a system is how many turns it holds
in flight, not its CPU.

Pure figures and rendering; the systems are run by bench/run.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import statistics
from collections import defaultdict
from typing import Any

CORE_DELAY_S = float(os.environ.get("BENCH_CORE_DELAY", "1.0"))
CORE_JITTER_S = float(os.environ.get("BENCH_CORE_JITTER", "4.0"))
SCALE_OUT_IN_FLIGHT = 250
"""Turns in flight per worker process in the scale-out rows: small enough that one process
cannot hold the whole burst, so added processes have work to share."""
SCALE_OUT = (1, 2, 4)

TARGETS = {
    "slow_e2e_vs_aiogram": 2.0,
    "slow_latency_p99_s": 0.5,
    "slow_serve_peak_rss_mb": 200.0,
    "slow_ack_p99_vs_idle": 2.0,
}

_TURN_RE = re.compile(r"chat (\d+) seq (\d+)")


def core_delay(text: str) -> float:
    """The mock core's delay for `text` (gateway/dev/mock_core.py `answer_delay`, the same
    formula: `--delay` plus `--delay-jitter` times a fraction from the text's SHA-256)."""
    if CORE_JITTER_S <= 0:
        return CORE_DELAY_S
    fraction = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64
    return CORE_DELAY_S + CORE_JITTER_S * fraction


def turn_text(chat: int, seq: int) -> str:
    return f"chat {chat} seq {seq}"


def reply_latencies(
    messages: list[list[Any]], acked: dict[tuple[int, int], float]
) -> dict[str, Any]:
    """Per reply, the time beyond the core's own delay: from when the turn could start (its
    webhook acknowledged, and the chat's previous reply sent: a chat's turns run in order) to
    its reply at the fake Bot API, minus the core's delay for that message."""
    replies: dict[tuple[int, int], float] = {}
    for chat_id, text, at in messages:
        match = _TURN_RE.search(text)
        if match is not None and int(match.group(1)) == chat_id:
            replies.setdefault((chat_id, int(match.group(2))), at)
    beyond = []
    for (chat, seq), at in replies.items():
        ready = acked.get((chat, seq))
        if ready is None:
            continue
        previous = replies.get((chat, seq - 1))
        start = max(ready, previous) if previous is not None else ready
        beyond.append(at - start - core_delay(turn_text(chat, seq)))
    if not beyond:
        return {"count": 0}
    beyond.sort()
    return {
        "count": len(beyond),
        "p50_s": round(statistics.median(beyond), 3),
        "p99_s": round(beyond[min(len(beyond) - 1, int(len(beyond) * 0.99))], 3),
        "max_s": round(beyond[-1], 3),
    }


def chats_messages(messages: list[list[Any]], chats: range) -> list[list[Any]]:
    return [m for m in messages if m[0] in chats]


def per_chat_counts(messages: list[list[Any]]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for chat_id, _text, _at in messages:
        counts[chat_id] += 1
    return counts


ROWS = [
    ("slow_gateway", "gateway serve (1 process)"),
    *(
        (
            f"slow_workers_{n}",
            f"gateway web + {n} worker{'s' * (n > 1)} ({SCALE_OUT_IN_FLIGHT} in flight each)",
        )
        for n in SCALE_OUT
    ),
    ("slow_ptb", "python-telegram-bot 22 peer"),
    ("slow_aiogram", "aiogram 3 peer"),
]


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def render_table(systems: dict[str, Any]) -> str:
    header = (
        "system (slow core)",
        "turns/s",
        "beyond core p50/p99 s",
        "peak at core",
        "2,000 turns: replies, per-chat order",
        "ack p99 idle/busy ms",
        "peak RSS MB",
    )
    rows: list[tuple[str, ...]] = []
    for key, label in ROWS:
        data = systems.get(key)
        if data is None:
            continue
        if "error" in data:
            rows.append((label, "FAILED: " + data["error"][:60], *[""] * 5))
            continue
        e2e = data.get("e2e", {})
        check = e2e.get("check", {})
        verdict = (
            f"{check.get('replies', '?')}/{check.get('expected', '?')} "
            f"{'exact' if check.get('exactly_once') else 'NOT exact'}, "
            f"{'order held' if check.get('order_held') else 'order broken'}"
        )
        latency = e2e.get("beyond_core", {})
        idle, busy = _get(data, "ack_idle", "p99_ms"), _get(data, "ack_busy", "p99_ms")
        rows.append(
            (
                label,
                _num(e2e.get("turns_per_s"), 1),
                f"{_num(latency.get('p50_s'), 2)} / {_num(latency.get('p99_s'), 2)}",
                _num(e2e.get("core_peak_in_flight")),
                verdict,
                f"{_num(idle, 1)} / {_num(busy, 1)}" if idle is not None else "-",
                _num(data.get("peak_rss_mb")),
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def figures(s: dict[str, Any]) -> dict[str, Any]:
    gateway = _get(s, "slow_gateway", "e2e", "turns_per_s")
    aiogram = _get(s, "slow_aiogram", "e2e", "turns_per_s")
    idle = _get(s, "slow_gateway", "ack_idle", "p99_ms")
    busy = _get(s, "slow_gateway", "ack_busy", "p99_ms")
    return {
        "slow_e2e_vs_aiogram": round(gateway / aiogram, 2) if gateway and aiogram else None,
        "slow_latency_p99_s": _get(s, "slow_gateway", "e2e", "beyond_core", "p99_s"),
        "slow_latency_p99_with_acks_s": _get(
            s, "slow_gateway", "e2e_with_acks", "beyond_core", "p99_s"
        ),
        "slow_serve_peak_rss_mb": _get(s, "slow_gateway", "peak_rss_mb"),
        "slow_ack_p99_vs_idle": round(busy / idle, 2) if idle and busy else None,
        "slow_e2e_vs_ptb": (
            round(gateway / ptb, 2)
            if gateway and (ptb := _get(s, "slow_ptb", "e2e", "turns_per_s"))
            else None
        ),
        **{
            f"slow_workers_{n}_turns_per_s": _get(s, f"slow_workers_{n}", "e2e", "turns_per_s")
            for n in SCALE_OUT
        },
    }


def verdicts(values: dict[str, Any]) -> dict[str, bool | None]:
    met: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = values.get(key)
        if value is None:
            met[key] = None
        elif key == "slow_e2e_vs_aiogram":
            met[key] = value >= target
        elif key == "slow_serve_peak_rss_mb":
            met[key] = value < target
        else:
            met[key] = value <= target
    return met


def summary_line(values: dict[str, Any], met: dict[str, bool | None]) -> str:
    def mark(key: str) -> str:
        return {True: "ok", False: "MISS", None: "n/a"}[met[key]]

    def show(value: Any, unit: str = "x") -> str:
        return "-" if value is None else f"{value}{unit}"

    scale = ", ".join(
        f"{n}: {show(values.get(f'slow_workers_{n}_turns_per_s'), '')}" for n in SCALE_OUT
    )
    return (
        f"slow core ({CORE_DELAY_S:g}-{CORE_DELAY_S + CORE_JITTER_S:g} s): e2e gateway/aiogram "
        f"{show(values['slow_e2e_vs_aiogram'])} (>= 2x: {mark('slow_e2e_vs_aiogram')}), "
        f"gateway/PTB {show(values['slow_e2e_vs_ptb'])} | reply p99 beyond the core "
        f"{show(values['slow_latency_p99_s'], ' s')} (<= 0.5 s: {mark('slow_latency_p99_s')}; "
        f"{show(values.get('slow_latency_p99_with_acks_s'), ' s')} with acks at 200/s alongside) | "
        f"serve peak RSS {show(values['slow_serve_peak_rss_mb'], ' MB')} "
        f"(< 200 MB: {mark('slow_serve_peak_rss_mb')}) | ack p99 busy/idle "
        f"{show(values['slow_ack_p99_vs_idle'])} (<= 2x: {mark('slow_ack_p99_vs_idle')}) | "
        f"turns/s by worker processes {scale}"
    )
