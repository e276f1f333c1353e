"""Does `serve`'s memory stay flat under steady load? (gateway/heap.py, `HeapTrim`)

`bench/.venv/bin/python -m bench.steady` (after `make bench` set up bench/.venv once): one
`gateway serve` on a fresh PostgreSQL database, the fake Bot API and the zero-latency mock core,
webhooks at 200/s (a new chat each, every one a turn) for `BENCH_STEADY_S` seconds (180), twice
in one run: as configured (the C heap trimmed every 10 s) and with `GATEWAY_HEAP_TRIM_SECONDS=0`
as the baseline. Reports RSS when ready, after a 30 s warm-up and at the end, the growth per
minute after the warm-up, and the acknowledgement p99. Writes bench/results/steady.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import load, run
from bench.rig import Rig, RssSampler, fresh_database

SECONDS = float(os.environ.get("BENCH_STEADY_S", "180"))
WARMUP_S = 30.0
RATE = 200.0
VARIANTS = {"trimmed": {}, "untrimmed (baseline)": {"GATEWAY_HEAP_TRIM_SECONDS": "0"}}


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def measure(rig: Rig, log_dir: Path, name: str, extra: dict[str, str]) -> dict[str, Any]:
    tag = "steady-" + name.split()[0]
    db = "gw_bench_" + tag.replace("-", "_")
    await fresh_database(db)
    fakes = await run.start_fakes(rig, tag)
    await run.gateway_migrate(run.gateway_env(db, fakes, 0), log_dir)
    ctx = run.Ctx(rig, RssSampler(), log_dir)  # RSS is read here once a second instead
    proc, url, _ = await run.start_gateway(
        ctx, f"{tag}-serve", db, fakes, no_worker=False, extra_env=extra
    )
    ready = _rss_mb(proc.pid)
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    traffic = asyncio.create_task(
        load.open_loop(
            url, rate=RATE, seconds=SECONDS, first_update_id=40_000_000, first_chat=2_000_000
        )
    )
    while not traffic.done():
        await asyncio.sleep(1.0)
        samples.append((time.monotonic() - started, _rss_mb(proc.pid)))
    acks = (await traffic).summary()
    rig.stop(proc)
    for fake in fakes.procs:
        rig.stop(fake)
    warm = [rss for at, rss in samples if at >= WARMUP_S]
    minutes = (samples[-1][0] - WARMUP_S) / 60 if warm else 0.0
    return {
        "rss_ready_mb": round(ready, 1),
        "rss_after_warmup_mb": round(warm[0], 1) if warm else None,
        "rss_end_mb": round(samples[-1][1], 1),
        "rss_peak_mb": round(max(rss for _, rss in samples), 1),
        "growth_mb_per_min": round((warm[-1] - warm[0]) / minutes, 2) if minutes > 0 else None,
        "ack_p99_ms": acks.get("p99_ms"),
        "acknowledged": acks.get("ok"),
    }


async def main() -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="gw-steady-"))
    rig = Rig(log_dir)
    results: dict[str, Any] = {"rate_per_s": RATE, "seconds": SECONDS, "warmup_s": WARMUP_S}
    try:
        for name, extra in VARIANTS.items():
            print(f"{name}: {SECONDS:g} s at {RATE:g} webhooks/s ...", flush=True)
            results[name] = await measure(rig, log_dir, name, extra)
            print(f"  {results[name]}", flush=True)
    finally:
        rig.stop_all()
    trimmed, baseline = (results[name]["growth_mb_per_min"] for name in VARIANTS)
    print(f"growth after warm-up: {trimmed} MB/min trimmed, {baseline} MB/min untrimmed")
    print(f"wrote {_write(results)}; logs in {log_dir}")


def _write(results: dict[str, Any]) -> Path:
    out = Path(__file__).resolve().parent / "results"  # ignored by git
    out.mkdir(exist_ok=True)
    path = out / "steady.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


if __name__ == "__main__":
    asyncio.run(main())
