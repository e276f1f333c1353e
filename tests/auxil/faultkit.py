"""The rig the fault tests share: a known set of turns, a poster that redelivers like Telegram, the
ledger that counts replies per update, and the gateway processes under test.

Every planned turn carries a unique sequence number in its text (`seq 17`); the mock core answers
`Echo: seq 17` (plus ` (turn N)` once the chat has history), so each reply the fake Bot API accepted
names the update it answers. A test is green only when every planned update was acknowledged and
answered exactly once, in order within its chat.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.dev.fake_telegram import FakeTelegram
from gateway.storage.db.models import InboxEvent, OutboundMessage, Turn
from tests.auxil import updates
from tests.auxil.harness import WEBHOOK_SECRET
from tests.auxil.process import GatewayProcess, gateway_env

# Pacing wide open (the tests count replies, not rates), short leases, fast retries.
FAST_ENV: dict[str, str] = {
    "GATEWAY_TELEGRAM_RATE_PER_BOT": "100000",
    "GATEWAY_TELEGRAM_RATE_PER_CHAT": "100000",
    "GATEWAY_TELEGRAM_CHAT_BURST": "100000",
    "GATEWAY_TELEGRAM_GROUP_PER_MINUTE": "1000000",
    "GATEWAY_LEASE_SECONDS": "3",
    "GATEWAY_POLL_INTERVAL_SECONDS": "0.1",
    "GATEWAY_RETRY_BASE_SECONDS": "0.1",
    "GATEWAY_RETRY_CAP_SECONDS": "1",
}
LEASE_SECONDS = float(FAST_ENV["GATEWAY_LEASE_SECONDS"])
SETTLE_SECONDS = 3 * LEASE_SECONDS + 1.0
"""After the last reply: long enough for any lease to run out and a duplicate to show."""

REPLY_RE = re.compile(r"^Echo: seq (\d+)(?: \(turn \d+\))?$")


def fault_env(db_url: str, telegram_url: str, core_url: str, **extra: Any) -> dict[str, str]:
    return gateway_env(db_url, telegram_url, core_url, **{**FAST_ENV, **extra})


def outage_seconds() -> float:
    """How long the provider/core outages last (FAULTS_OUTAGE_SECONDS, default a minute)."""
    return float(os.environ.get("FAULTS_OUTAGE_SECONDS", "60"))


# ------------------------------------------------------------------------------ the known turns


@dataclass(frozen=True)
class Planned:
    seq: int
    chat_id: int
    update_id: int
    body: bytes


def plan_turns(count: int, chats: int, *, first_chat: int = 5_000_001) -> list[Planned]:
    """`count` private-chat turns spread round-robin over `chats` chats, texts `seq <n>`."""
    plan = []
    for seq in range(count):
        chat_id = first_chat + seq % chats
        user = {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}"}
        update = updates.message(f"seq {seq}", chat_id=chat_id, user=user)
        plan.append(Planned(seq, chat_id, update["update_id"], json.dumps(update).encode()))
    return plan


def by_chat(plan: list[Planned]) -> dict[int, list[Planned]]:
    chats: dict[int, list[Planned]] = defaultdict(list)
    for item in plan:
        chats[item.chat_id].append(item)
    return dict(chats)


# ------------------------------------------------------------------------------ the poster


@dataclass
class Attempt:
    at: float
    seq: int
    outcome: int | str  # HTTP status, or the client error's name when no answer came
    detail: str = ""  # the start of the body of a non-200 answer


class Poster:
    """Posts planned updates to the gateway's webhook; `deliver` redelivers until a 200, as
    Telegram does, one update at a time per chat (so a chat's updates arrive in order)."""

    def __init__(self, port: int, *, connections: int = 40, timeout: float = 20.0) -> None:
        self.url = f"http://127.0.0.1:{port}/webhooks/telegram/default"
        self.attempts: list[Attempt] = []
        self.acked: set[int] = set()
        self._connections, self._timeout = connections, timeout
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Poster:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections),
            # Like Telegram (max_connections 40 by default): at most `connections` requests in
            # flight; the timeout covers the gateway's answer, not the wait for a free connection.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=self._timeout),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def post_once(self, item: Planned) -> int | str:
        assert self._http is not None
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
        }
        outcome: int | str
        detail = ""
        try:
            async with self._http.post(self.url, data=item.body, headers=headers) as resp:
                body = await resp.read()
                outcome = resp.status
                if outcome != 200:
                    detail = body[:200].decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome, detail = type(exc).__name__, str(exc)[:200]
        self.attempts.append(Attempt(time.monotonic(), item.seq, outcome, detail))
        if outcome == 200:
            self.acked.add(item.seq)
        return outcome

    async def deliver(self, item: Planned, *, deadline: float, backoff: float = 0.25) -> bool:
        while True:
            if await self.post_once(item) == 200:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(backoff)

    async def deliver_chat(self, items: list[Planned], *, deadline: float, gap: float) -> None:
        for index, item in enumerate(items):
            if index and gap:
                await asyncio.sleep(gap)
            if not await self.deliver(item, deadline=deadline):
                return  # Telegram would not move on either; reported as unacknowledged

    async def deliver_all(self, plan: list[Planned], *, within: float, gap: float = 0.0) -> None:
        """Every chat's updates in order, chats concurrently; bounded by `within` seconds."""
        deadline = time.monotonic() + within
        await asyncio.gather(
            *(
                self.deliver_chat(items, deadline=deadline, gap=gap)
                for items in by_chat(plan).values()
            )
        )

    def outcomes(self) -> Counter[int | str]:
        return Counter(a.outcome for a in self.attempts)

    def samples(self) -> dict[int | str, str]:
        """One answer body (or client error) per non-200 outcome, for failure messages."""
        found: dict[int | str, str] = {}
        for attempt in self.attempts:
            if attempt.outcome != 200:
                found.setdefault(attempt.outcome, attempt.detail)
        return found

    def unacked(self, plan: list[Planned]) -> list[int]:
        return [item.seq for item in plan if item.seq not in self.acked]


# ------------------------------------------------------------------------------ the ledger


@dataclass
class Verdict:
    answered: int
    missing: list[int] = field(default_factory=list)
    doubled: dict[int, int] = field(default_factory=dict)
    out_of_order: dict[int, list[int]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.doubled or self.out_of_order or self.unexpected)

    def describe(self) -> str:
        return (
            f"answered {self.answered}; missing {len(self.missing)} {self.missing[:20]}; "
            f"doubled {len(self.doubled)} {dict(list(self.doubled.items())[:20])}; "
            f"out of order in {len(self.out_of_order)} chats "
            f"{dict(list(self.out_of_order.items())[:5])}; "
            f"unexpected texts {len(self.unexpected)} {self.unexpected[:5]}"
        )


def replies(telegram: FakeTelegram) -> list[tuple[int, str]]:
    """(chat id, text) of every sendMessage the fake accepted, in arrival order."""
    return [
        (int(call.params.get("chat_id", 0)), str(call.params.get("text", "")))
        for call in telegram.calls_to("sendMessage")
        if call.status == 200
    ]


def seq_of(text: str) -> int | None:
    """The sequence number a reply answers (` (turn N)` stripped), None for any other text."""
    match = REPLY_RE.match(text)
    return int(match.group(1)) if match else None


def answered_seqs(telegram: FakeTelegram) -> set[int]:
    return {seq for _, text in replies(telegram) if (seq := seq_of(text)) is not None}


def _accepted_copies(telegram: FakeTelegram, verdict: Verdict) -> dict[int, list[float]]:
    """When the Bot API accepted each copy of every doubled reply, in arrival order."""
    accepted: dict[int, list[float]] = {}
    for call in telegram.calls_to("sendMessage"):
        seq = seq_of(str(call.params.get("text", "")))
        if call.status == 200 and seq in verdict.doubled:
            accepted.setdefault(seq, []).append(call.at)
    return accepted


def doubled_before_kills(
    telegram: FakeTelegram, verdict: Verdict, kills: list[tuple[float, str]]
) -> str:
    """For each doubled reply: how long before the next kill its first copy was accepted."""
    firsts = {seq: times[0] for seq, times in _accepted_copies(telegram, verdict).items()}
    gaps = []
    for seq, at in sorted(firsts.items()):
        later = [k for k, _ in kills if k >= at - IN_FLIGHT_SECONDS]
        gaps.append(f"{seq}: {round(min(later) - at, 3) if later else None}s")
    return "first copy accepted this long before the next kill: " + ", ".join(gaps)


KILL_WINDOW_SECONDS = 2.0
"""How long before a SIGKILL a provider-accepted send may still be unrecorded (the row is marked
`sent` right after the provider answers; under test load that mark has taken up to ~0.9 s)."""
IN_FLIGHT_SECONDS = 0.5
"""A request the killed process had already written to its socket still reaches the fake after
the death (the kernel delivers what was sent), stamped when the fake's busy event loop reads it.
A dead process sends nothing new, so a copy stamped this soon after a kill left before it."""


def unexplained_doubles(
    telegram: FakeTelegram, verdict: Verdict, kills: list[tuple[float, str]]
) -> dict[int, int]:
    """Doubled replies NOT explained by kills. Explained means: every copy but the last was
    accepted by the Bot API within KILL_WINDOW_SECONDS before a distinct SIGKILL (a row can be
    caught by two kills in a row). The Bot API has no idempotency key, so a send accepted in that
    window cannot be told apart from one that never left; resending it is the gateway's documented
    choice (at-least-once, never lost). Any other extra copy is a bug."""
    accepted = _accepted_copies(telegram, verdict)
    kill_times = sorted(k for k, _ in kills)
    unexplained = {}
    for seq, count in verdict.doubled.items():
        copies = accepted.get(seq, [])
        used: set[float] = set()
        for at in copies[:-1]:
            kill = next(
                (
                    k
                    for k in kill_times
                    if k not in used and -IN_FLIGHT_SECONDS <= k - at <= KILL_WINDOW_SECONDS
                ),
                None,
            )
            if kill is None:
                unexplained[seq] = count
                break
            used.add(kill)
    return unexplained


def judge(telegram: FakeTelegram, plan: list[Planned], *, order: bool = True) -> Verdict:
    planned = {item.seq: item for item in plan}
    counts: Counter[int] = Counter()
    per_chat: dict[int, list[int]] = defaultdict(list)
    unexpected = []
    for chat_id, text in replies(telegram):
        seq = seq_of(text)
        if seq is None or seq not in planned or planned[seq].chat_id != chat_id:
            unexpected.append(f"{chat_id}: {text[:120]}")
            continue
        counts[seq] += 1
        per_chat[chat_id].append(seq)
    verdict = Verdict(answered=len(counts), unexpected=unexpected)
    verdict.missing = sorted(seq for seq in planned if counts[seq] == 0)
    verdict.doubled = {seq: n for seq, n in sorted(counts.items()) if n > 1}
    if order:
        for chat_id, seqs in per_chat.items():
            firsts = list(dict.fromkeys(seqs))  # seqs grow with the posting order in a chat
            if firsts != sorted(firsts):
                verdict.out_of_order[chat_id] = seqs
    return verdict


async def wait_for_replies(
    telegram: FakeTelegram,
    plan: list[Planned],
    *,
    timeout: float,
    settle: float = SETTLE_SECONDS,
    order: bool = True,
) -> Verdict:
    """Until every planned turn has a reply (bounded), then `settle` more seconds so a duplicate
    sent after a lease ran out shows up too; the verdict is judged after that."""
    wanted = {item.seq for item in plan}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted <= answered_seqs(telegram):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(settle)
    return judge(telegram, plan, order=order)


# ------------------------------------------------------------------------------ diagnosis


async def explain(
    db_url: str,
    plan: list[Planned],
    verdict: Verdict,
    telegram: FakeTelegram,
    logs: Sequence[Path] = (),
    limit: int = 6,
) -> str:
    """Inbox, outbox and Bot API evidence for the first few missing or doubled turns."""
    seqs = [*verdict.missing[:limit], *list(verdict.doubled)[:limit]]
    if not seqs:
        return ""
    planned = {item.seq: item for item in plan}
    lines: list[str] = []
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            for seq in seqs:
                item = planned[seq]
                inbox = (
                    await conn.execute(
                        select(
                            InboxEvent.id,
                            InboxEvent.status,
                            InboxEvent.attempts,
                            InboxEvent.claimed_by,
                            InboxEvent.last_error,
                        ).where(InboxEvent.event_id == str(item.update_id))
                    )
                ).all()
                lines.append(f"seq {seq} (update {item.update_id}, chat {item.chat_id}):")
                lines.append(f"  inbox {[tuple(r) for r in inbox]}")
                for inbox_row in inbox:
                    outbox = (
                        await conn.execute(
                            select(
                                OutboundMessage.id,
                                OutboundMessage.status,
                                OutboundMessage.attempts,
                                OutboundMessage.claimed_by,
                                OutboundMessage.last_error,
                            ).where(OutboundMessage.inbox_event_id == inbox_row.id)
                        )
                    ).all()
                    lines.append(f"  outbox {[tuple(r) for r in outbox]}")
                    for out in outbox:
                        pattern = re.compile(rf'"outbox_id": {out.id}[,}}]')
                        for log in logs:
                            for line in log.read_text(errors="replace").splitlines():
                                if pattern.search(line):
                                    lines.append(f"  {log.name}: {line[:300]}")
                    turns = (
                        await conn.execute(
                            select(Turn.id, Turn.status).where(Turn.inbox_event_id == inbox_row.id)
                        )
                    ).all()
                    lines.append(f"  turns {[tuple(r) for r in turns]}")
                calls = [
                    (round(c.at, 3), c.status)
                    for c in telegram.calls_to("sendMessage")
                    if seq_of(str(c.params.get("text", ""))) == seq
                ]
                lines.append(f"  sendMessage calls (monotonic, status) {calls}")
    finally:
        await engine.dispose()
    return "\n".join(lines)


async def stored_event_ids(db_url: str) -> set[str]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(select(InboxEvent.event_id))).scalars().all())
    finally:
        await engine.dispose()


async def turn_keys(db_url: str) -> Counter[str]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            return Counter((await conn.execute(select(Turn.idempotency_key))).scalars().all())
    finally:
        await engine.dispose()


def event_key(item: Planned) -> str:
    return f"gw:default:telegram:default:{item.update_id}"


# ------------------------------------------------------------------------------ processes


class Fleet:
    """The gateway processes of one test; every wait on them runs in a thread so the fakes, which
    live in the test's event loop, keep answering."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env = log_dir, env
        self.procs: list[GatewayProcess] = []
        self.kills: list[tuple[float, str]] = []

    def start(self, name: str, args: list[str], **extra: Any) -> GatewayProcess:
        env = {**self.env, **{k: str(v) for k, v in extra.items()}}
        proc = GatewayProcess(args, env, self.log_dir / f"{len(self.procs):02d}-{name}.log")
        self.procs.append(proc)
        return proc

    async def serve(self, name: str, port: int, *args: str, **extra: Any) -> GatewayProcess:
        proc = self.start(name, ["serve", *args], PORT=port, **extra)
        await asyncio.to_thread(proc.wait_ready, port, 30.0)
        return proc

    async def kill(self, proc: GatewayProcess) -> None:
        """SIGKILL and wait for the death; the time recorded is when the process was surely dead
        (taken before the signal, it let a dying process's last sends look like later ones)."""
        await asyncio.to_thread(proc.kill)
        self.kills.append((time.monotonic(), proc.log_path.name))

    async def close(self) -> None:
        for proc in self.procs:
            await asyncio.to_thread(proc.close)

    def logs(self) -> list[Path]:
        return [proc.log_path for proc in self.procs]

    def tail(self, lines: int = 15) -> str:
        out = []
        for proc in self.procs:
            text = proc.output().splitlines()[-lines:]
            out.append(f"--- {proc.log_path.name} (exit {proc.proc.poll()})\n" + "\n".join(text))
        return "\n".join(out)
