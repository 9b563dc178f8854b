"""Agent loop overhead: what one step of the loop costs beyond the model's and the tool's own time.

One `axops up` process (embedded PostgreSQL, as bench/gateway), an upstream that answers every chat
at once with one tool call, and a trivial HTTP tool answering at once, both on aiohttp in this process.
An agent with `max_steps = BENCH_STEPS` runs until the limit: each step is a model call through the
gateway (`/v1` over HTTP with the run's key) and one tool call through the tool registry.

    overhead per step = (run latency − Σ model-call latency − Σ tool-call latency) / steps

The run latency is the loop's own clock (`agent_runs.latency_ms`: first model call to the end);
model-call latency is measured by the agent's gateway client (so the gateway's own work counts as the
model's time), tool latency by the tool runner. What is left is the loop: limit and cancel checks,
queuing the trace's writes (they run behind the loop; the last one is settled before the run ends),
PII masking, the messages. The run's start (key issue, prompt and tool resolution) is reported
separately as `start_ms` (client wall − run latency). Also, load-independent: the server process's CPU
per step, the gateway's per `/v1` call of the same shape, and their difference (README.md).

    .venv/bin/python bench/agents/loop.py        # knobs: BENCH_STEPS (20), BENCH_RUNS (10)
Target: ≤ 2 ms per step. Results: bench/agents/loop_results.json.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
_spec = importlib.util.spec_from_file_location("gateway_bench", ROOT / "bench" / "gateway" / "run.py")
gateway_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gateway_bench)

from run import free_port  # bench/api/run.py (put on the path by the gateway bench)

STEPS = int(os.environ.get("BENCH_STEPS", "20"))
RUNS = int(os.environ.get("BENCH_RUNS", "10"))


def serve_in_thread(app: web.Application, port: int) -> None:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def up():
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(up(), loop).result(10)


async def chat(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response(
        {
            "id": "b",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"c{len(body['messages'])}",
                                "type": "function",
                                "function": {"name": "ping", "arguments": "{}"},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
        }
    )


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"pong": True})


def server_cpu(proc: psutil.Process) -> float:
    """User + system seconds of the server process and its children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def gateway_cpu_per_call(c, key: str, proc: psutil.Process) -> float:
    """The server's CPU per `/v1` chat call of the same shape as the loop's (its mid-run conversation
    and the tool entry), with the bench's key: what the gateway spends, to subtract from the step's."""
    headers = {"Authorization": f"Bearer {key}"}
    messages = [{"role": "system", "content": "You are a benchmark."}, {"role": "user", "content": "ping"}]
    for n in range(STEPS // 2):
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": f"c{n}", "type": "function", "function": {"name": "ping", "arguments": "{}"}}],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": '{"pong": true}'})
    tools = [{"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}]
    body = {"model": "bench", "messages": messages, "tools": tools}
    for _ in range(5):
        c.post("/v1/chat/completions", json=body, headers=headers).raise_for_status()
    calls = 20 * STEPS
    cpu0 = server_cpu(proc)
    for _ in range(calls):
        c.post("/v1/chat/completions", json=body, headers=headers).raise_for_status()
    return (server_cpu(proc) - cpu0) * 1000 / calls


def main() -> None:
    upstream_port, tool_port = free_port(), free_port()
    up = web.Application()
    up.router.add_post("/v1/chat/completions", chat)
    serve_in_thread(up, upstream_port)
    tools = web.Application()
    tools.router.add_get("/ping", ping)
    serve_in_thread(tools, tool_port)

    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-agents-"))
    server = pg = None
    try:
        server, _base, key, (pg, c, admin, _env) = gateway_bench.setup_axops(tmp, f"http://127.0.0.1:{upstream_port}")
        tool = c.post(
            "/api/tool/tools",
            json={
                "name": "ping",
                "kind": "http",
                "allow_hosts": ["127.0.0.1"],
                "spec": {"method": "GET", "base_url": f"http://127.0.0.1:{tool_port}", "path": "/ping", "params": {}},
            },
            headers=admin,
        )
        tool.raise_for_status()
        agent = c.post(
            "/api/agent/agents",
            json={
                "name": "bench-loop",
                "version": {
                    "route": "bench",
                    "system_prompt": "You are a benchmark.",
                    "tool_ids": [tool.json()["id"]],
                    "limits": {"max_steps": STEPS, "max_seconds": 600},
                },
            },
            headers=admin,
        )
        agent.raise_for_status()
        url = f"/api/agent/agents/{agent.json()['id']}/runs"
        proc = psutil.Process(server.pid)
        rows = []
        for i in range(RUNS + 1):
            cpu0 = server_cpu(proc)
            started = time.perf_counter()
            r = c.post(url, json={"input": "ping until told to stop"}, headers=admin, timeout=600)
            wall = (time.perf_counter() - started) * 1000
            cpu = (server_cpu(proc) - cpu0) * 1000
            r.raise_for_status()
            run = r.json()
            assert run["status"] == "limit_reached" and run["steps"] == STEPS, run
            model = sum(s["latency_ms"] or 0 for s in run["trace"] if s["kind"] == "model")
            tool_ms = sum(s["latency_ms"] or 0 for s in run["trace"] if s["kind"] == "tool")
            row = {
                "overhead_per_step_ms": (run["latency_ms"] - model - tool_ms) / STEPS,
                "model_per_step_ms": model / STEPS,
                "tool_per_step_ms": tool_ms / STEPS,
                "start_ms": wall - run["latency_ms"],
                # load-independent: the server process's CPU time per step (loop, gateway and tool
                # registry; the run's start and HTTP included), and below the gateway's alone per call
                "server_cpu_per_step_ms": cpu / STEPS,
            }
            if i:  # the first run warms the server up
                rows.append(row)
                print(json.dumps({k: round(v, 2) for k, v in row.items()}), flush=True)
        summary = {
            k: {"p50": round(statistics.median(r[k] for r in rows), 2), "max": round(max(r[k] for r in rows), 2)}
            for k in rows[0]
        }
        gateway_cpu = gateway_cpu_per_call(c, key, proc)
        summary["gateway_cpu_per_call_ms"] = round(gateway_cpu, 2)
        summary["loop_cpu_per_step_ms"] = round(summary["server_cpu_per_step_ms"]["p50"] - gateway_cpu, 2)
        summary.update(steps=STEPS, runs=RUNS, cpus=os.cpu_count(), load_1min=os.getloadavg()[0])
        print(json.dumps(summary, indent=2))
        Path(__file__).with_name("loop_results.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if pg is not None:
            pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
