"""Sandbox start-to-result: `run_python` of a trivial tool (`def add(a, b): return a + b`), one call at
a time, from the call to its Result — temp dir, bwrap, namespaces, the interpreter's start, the
harness, the envelope, clean-up. Also the same with the allowlist proxy on, and a tool importing duckdb.

    .venv/bin/python bench/agents/sandbox.py        # knobs: BENCH_RUNS (200), BENCH_WARMUP (10)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from axops.sandbox.runner import available, run_python

RUNS = int(os.environ.get("BENCH_RUNS", "200"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "10"))
TRIVIAL = "def add(a, b):\n    return a + b\n"
DUCKDB = "import duckdb\ndef q(n):\n    return duckdb.sql(f'select {int(n)} * 2').fetchall()[0][0]\n"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _measure(name: str, source: str, function: str, arguments: dict, runs: int, **kw) -> dict:
    for _ in range(WARMUP):
        await run_python(source, function, arguments, **kw)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await run_python(source, function, arguments, **kw)
        times.append((time.perf_counter() - started) * 1000)
        assert result.ok, result
    row = {
        "case": name,
        "runs": runs,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_pct(times, 95), 1),
        "mean_ms": round(statistics.fmean(times), 1),
    }
    print(json.dumps(row))
    return row


async def _bare_start(runs: int) -> dict:
    """The floor: the same interpreter started with -I -S, no sandbox (on this machine, at this load)."""
    real = os.path.realpath(sys.executable)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(real, "-I", "-S", "-c", "pass")
        await proc.wait()
        times.append((time.perf_counter() - started) * 1000)
    row = {"case": "bare interpreter start (no sandbox)", "runs": runs, "p50_ms": round(statistics.median(times), 1)}
    row["p95_ms"] = round(_pct(times, 95), 1)
    print(json.dumps(row))
    return row


async def main() -> None:
    assert available(), "bubblewrap cannot create a sandbox here"
    load = os.getloadavg()[0]
    rows = [
        await _bare_start(max(RUNS // 4, 10)),
        await _measure("trivial", TRIVIAL, "add", {"a": 1, "b": 2}, RUNS),
        await _measure(
            "trivial + proxy", TRIVIAL, "add", {"a": 1, "b": 2}, max(RUNS // 4, 10), allow_hosts=["127.0.0.1:9"]
        ),
        await _measure("duckdb query", DUCKDB, "q", {"n": 21}, max(RUNS // 10, 10)),
    ]
    out = Path(__file__).with_name("sandbox_results.json")
    out.write_text(
        json.dumps(
            {"uid": os.geteuid(), "cpus": os.cpu_count(), "load_1m": [load, os.getloadavg()[0]], "rows": rows}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    asyncio.run(main())
