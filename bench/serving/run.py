"""Serving benchmark: the axops runtime (`python -m axops.runtime.serve`) on the project's demo
model and on a ~50M-parameter model built the same way, with continuous batching on
(`--max-batch 16`) and off (`--max-batch 1`), at 1, 4 and 16 concurrent streaming clients:
completion tokens/s, requests/s and time to first token (p50/p99).

    make bench-serving          (or: .venv/bin/python bench/serving/run.py)

Knobs: BENCH_DURATION (seconds per cell, 8), BENCH_MAX_TOKENS (64), BENCH_MODELS (demo,50m).
Results are printed and written to bench/serving/results.json.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from axops.registry.demo import build_demo_model

DURATION = float(os.environ.get("BENCH_DURATION", "8"))
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "64"))
MODELS = os.environ.get("BENCH_MODELS", "demo,50m").split(",")
CONCURRENCY = (1, 4, 16)
PROMPTS = [
    "안녕하세요, 주문한 상품이 아직 도착하지 않았습니다.",
    "Summarise the quarterly report in two lines.",
    "모델 배포 절차를 알려 주세요.",
    "What is the capital of Korea?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(kind: str, root: Path) -> tuple[Path, int]:
    if kind == "demo":
        d = build_demo_model(root / "demo")
    else:  # same builder, larger: 10 layers x 640 wide (untrained: throughput does not care)
        d = build_demo_model(root / "50m", layers=10, hidden=640, steps=0)
    from safetensors import safe_open

    with safe_open(str(d / "model.safetensors"), framework="pt") as f:
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    return d, params


def start(model_dir: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "axops.runtime.serve",
            "--model-dir",
            str(model_dir),
            "--port",
            str(port),
            "--max-batch",
            str(max_batch),
            "--served-name",
            "bench",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("runtime did not get ready")


async def load(url: str, clients: int, duration: float) -> dict:
    ttfts: list[float] = []
    tokens = requests = 0
    stop_at = time.perf_counter() + duration

    async def client(i: int, session: aiohttp.ClientSession) -> None:
        nonlocal tokens, requests
        n = 0
        while time.perf_counter() < stop_at:
            body = {
                "model": "bench",
                "messages": [{"role": "user", "content": PROMPTS[(i + n) % len(PROMPTS)]}],
                "max_tokens": MAX_TOKENS,
                "temperature": 0,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            n += 1
            started = time.perf_counter()
            first = None
            async with session.post(url + "/v1/chat/completions", json=body) as r:
                async for line in r.content:
                    if first is None and line.startswith(b"data: {") and b'"content"' in line:
                        first = time.perf_counter() - started
                    if b'"usage"' in line and line.startswith(b"data: {"):
                        tokens += json.loads(line[6:])["usage"]["completion_tokens"]
            requests += 1
            if first is not None:
                ttfts.append(first * 1000)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(client(i, session) for i in range(clients)))
    elapsed = time.perf_counter() - started
    ttfts.sort()
    return {
        "tokens_per_s": round(tokens / elapsed, 1),
        "requests_per_s": round(requests / elapsed, 2),
        "ttft_p50_ms": round(statistics.median(ttfts), 1) if ttfts else None,
        "ttft_p99_ms": round(ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))], 1) if ttfts else None,
        "requests": requests,
    }


def main() -> None:
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "max_tokens": MAX_TOKENS,
        "duration_s": DURATION,
        "cpus": os.cpu_count(),
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for kind in MODELS:
            model_dir, params = build(kind, Path(tmp))
            rows = {}
            for max_batch in (1, 16):
                proc, url = start(model_dir, max_batch)
                try:
                    asyncio.run(load(url, 2, 1.0))  # warm the server and the client path
                    for clients in CONCURRENCY:
                        rows[f"batch{max_batch}_c{clients}"] = row = asyncio.run(load(url, clients, DURATION))
                        print(
                            f"{kind:5} ({params / 1e6:.1f}M) max_batch={max_batch:2} clients={clients:2}: {row}",
                            flush=True,
                        )
                finally:
                    proc.terminate()
                    proc.wait(30)
            for clients in CONCURRENCY:
                off, on = rows[f"batch1_c{clients}"]["tokens_per_s"], rows[f"batch16_c{clients}"]["tokens_per_s"]
                rows[f"speedup_c{clients}"] = round(on / off, 2) if off else None
            results["models"][kind] = {"parameters": params, **rows}
            print(f"{kind}: batching speed-up at 16 clients = {rows['speedup_c16']}x", flush=True)
    (Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
