"""Prompts benchmark: what saved prompts cost and how fast a label move goes live.

    make bench-prompts          (or: .venv/bin/python bench/prompts/run.py)

1. render: p50/p99 of rendering a typical Korean chat template (compiled and cached), in-process,
   alone and with the body rewrite and serialisation the gateway adds;
2. gateway, one `axops up` process against the fast mock upstream of bench/gateway, wrk at
   concurrency 1, interleaved rounds: the same chat request without and with `prompt_id` (the
   added p50 is what resolving, rendering and rewriting cost);
3. requests without `prompt_id` at concurrency 64: this gateway against the one of BENCH_BEFORE
   (default: the commit before the prompt hook) interleaved — the hot path must not move;
4. label move → live: a second `axops up` process on the same database; the label is moved through
   the API of the first, the second is asked until it serves the new version (NOTIFY).

Knobs: BENCH_DURATION (3s), BENCH_ROUNDS (5), BENCH_BEFORE (a commit; "" skips step 3), BENCH_MOVES (20).
Results are printed and written to bench/prompts/results.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
sys.path.insert(0, str(ROOT / "src"))
_spec = importlib.util.spec_from_file_location("gateway_bench", ROOT / "bench" / "gateway" / "run.py")
gateway_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gateway_bench)  # also puts bench/api on the path (start_server, free_port)

from run import free_port, start_server  # bench/api/run.py

from axops import templating
from axops.gateway import prompting

os.environ.setdefault("BENCH_DURATION", "3s")
gateway_bench.DURATION = os.environ["BENCH_DURATION"]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BEFORE = os.environ.get("BENCH_BEFORE", "ac8f8d0^")
MOVES = int(os.environ.get("BENCH_MOVES", "20"))
PY = sys.executable

TEMPLATE, VARIABLES, VALUES = gateway_bench.PROMPT_TEMPLATE, gateway_bench.PROMPT_VARIABLES, gateway_bench.PROMPT_VALUES
PLAIN, WITH_PROMPT = gateway_bench.BODY, gateway_bench.PROMPTED


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def timed(fn, n: int = 10_000, repeats: int = 5) -> dict:
    """p50 and p99 of `fn` in each of `repeats` runs of `n` calls: the median run's, and the best
    run's p50 (other work on a shared machine only ever adds time)."""
    for _ in range(1000):
        fn()
    runs = []
    for _ in range(repeats):
        times = []
        for _ in range(n):
            t = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - t) / 1000)
        runs.append((quantile(times, 0.5), quantile(times, 0.99)))
    return {
        "p50_us": round(statistics.median(r[0] for r in runs), 1),
        "best_p50_us": round(min(r[0] for r in runs), 1),
        "p99_us": round(statistics.median(r[1] for r in runs), 1),
        "calls": n * repeats,
    }


def rewrite() -> bytes:
    """What the gateway does with a cached prompt on top of the plain request: render, rewrite, serialise."""
    rendered = templating.render("chat", TEMPLATE, VARIABLES, VALUES)
    body = prompting.apply_rendered(WITH_PROMPT, "chat", rendered.text, rendered.messages, {})
    return orjson.dumps(body)


def interleaved(cases: dict[str, tuple[str, str, Path]], concurrency: int) -> dict:
    """Each case once per round, rounds one after another (so the machine's load drifts over all
    alike); medians over the rounds, and `paired`: per round, each case's p50 and req/s minus the
    first case's, the median of those (steadier than a difference of medians on a busy machine)."""
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (url, key, lua) in cases.items():
            runs[name].append(gateway_bench.wrk(url, key, concurrency, lua))
    first = runs[next(iter(cases))]
    paired = {
        name: {
            "p50_ms": round(statistics.median(r["p50_ms"] - f["p50_ms"] for r, f in zip(rs, first, strict=True)), 3),
            "req_per_s_ratio": round(
                statistics.median(r["req_per_s"] / f["req_per_s"] for r, f in zip(rs, first, strict=True)), 3
            ),
        }
        for name, rs in list(runs.items())[1:]
    }
    out = {"paired_vs_first": paired}
    for name, rs in runs.items():
        out[name] = {m: round(statistics.median(x[m] for x in rs), 3) for m in ("req_per_s", "p50_ms", "p99_ms")}
        out[name]["errors"] = sum(x["errors"] for x in rs)
        r = out[name]
        print(
            f"c={concurrency:<3} {name:34s} {r['req_per_s']:8.0f} req/s  p50 {r['p50_ms']:6.3f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}",
            flush=True,
        )
    print(f"c={concurrency:<3} per-round differences from the first case: {paired}", flush=True)
    return out


def old_gateway(tmp: Path, env: dict) -> tuple[subprocess.Popen, str] | None:
    """`axops up` from the source of BENCH_BEFORE (extracted with git archive), on the same database."""
    if not BEFORE:
        return None
    src = tmp / "before"
    src.mkdir()
    archive = subprocess.run(["git", "archive", BEFORE, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    launcher = tmp / "axops-before"
    launcher.write_text(
        f"#!/bin/sh\nPYTHONPATH={src / 'src'} exec {PY} -c 'import sys; from axops.cli import app; sys.exit(app())' \"$@\"\n"
    )
    launcher.chmod(0o755)
    proc, base = start_server(env, str(launcher), tmp / "axops-before.log")
    try:
        ready = httpx.get(base + "/readyz").status_code == 200
    except httpx.TransportError:
        ready = False
    if not ready:
        print(f"the gateway of {BEFORE} did not start; skipped:", (tmp / "axops-before.log").read_text()[-2000:])
        proc.terminate()
        return None
    return proc, base


def label_moves(admin_client: httpx.Client, admin: dict, first: str, second: str, key: str) -> dict:
    """Move `production` between v1 and v2 through the first process; ask the second (and the first)
    until each serves the new version."""
    headers = {"Authorization": f"Bearer {key}"}
    after_return_ms, first_try_same_process = [], 0
    with httpx.Client(timeout=10) as c:

        def serves(url: str) -> str:
            r = c.post(url + "/v1/chat/completions", json=WITH_PROMPT, headers=headers)
            r.raise_for_status()
            return r.headers["x-axops-prompt"]

        current = 1
        for _ in range(MOVES):
            target = 2 if current == 1 else 1
            admin_client.put(
                "/api/prompts/support/labels/production", json={"version": target}, headers=admin
            ).raise_for_status()
            returned = time.perf_counter()
            if serves(first) == f"support:{target}":
                first_try_same_process += 1
            while serves(second) != f"support:{target}":
                if time.perf_counter() - returned > 10:
                    raise RuntimeError("the second process never served the moved label")
            after_return_ms.append((time.perf_counter() - returned) * 1000)
            current = target
            time.sleep(0.2)
    return {
        "moves": MOVES,
        "other_process_live_p50_ms": round(quantile(after_return_ms, 0.5), 2),
        "other_process_live_max_ms": round(max(after_return_ms), 2),
        "same_process_live_on_first_call": f"{first_try_same_process}/{MOVES}",
    }


def main() -> None:
    results: dict = {"duration": gateway_bench.DURATION, "rounds": ROUNDS}
    results["render"] = timed(lambda: templating.render("chat", TEMPLATE, VARIABLES, VALUES))
    results["render_and_rewrite"] = timed(rewrite)
    for name in ("render", "render_and_rewrite"):
        r = results[name]
        print(f"{name}: p50 {r['p50_us']} µs (best run {r['best_p50_us']} µs)  p99 {r['p99_us']} µs", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-prompts-"))
    procs: list[subprocess.Popen] = []
    pg = None
    try:
        mock_port = free_port()
        procs.append(subprocess.Popen([PY, str(ROOT / "bench" / "gateway" / "mock_upstream.py"), str(mock_port)]))
        mock = f"http://127.0.0.1:{mock_port}"
        gateway_bench.wait_port(mock)
        server, base, key, (pg, client, admin, env) = gateway_bench.setup_axops(tmp, mock)  # v1 of "support"
        procs.append(server)
        version = {"kind": "chat", "template": TEMPLATE, "variables": VARIABLES}
        moved = [{**TEMPLATE[0], "content": TEMPLATE[0]["content"] + "답변은 세 문장 이내로 하세요."}, TEMPLATE[1]]
        client.post(
            "/api/prompts/support/versions", json={**version, "template": moved}, headers=admin
        ).raise_for_status()
        probe = httpx.post(
            base + "/v1/chat/completions", json=WITH_PROMPT, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert probe.status_code == 200 and probe.headers["x-axops-prompt"] == "support:1", probe.text

        plain = gateway_bench.wrk_script(tmp / "plain.lua", PLAIN)
        prompted = gateway_bench.wrk_script(tmp / "prompted.lua", WITH_PROMPT)
        gateway_bench.wrk(base, key, 16, plain)  # warm up
        gateway_bench.wrk(base, key, 16, prompted)
        c1 = interleaved({"without prompt_id": (base, key, plain), "with prompt_id": (base, key, prompted)}, 1)
        results["c1"] = c1
        results["prompt_added_p50_ms_at_c1"] = c1["paired_vs_first"]["with prompt_id"]["p50_ms"]

        before = old_gateway(tmp, env)
        if before is not None:
            procs.append(before[0])
            gateway_bench.wrk(before[1], key, 16, plain)
            c64 = interleaved(
                {"without prompt_id (this commit)": (base, key, plain), f"without ({BEFORE})": (before[1], key, plain)},
                64,
            )
            results["c64"] = c64
            before[0].terminate()
            before[0].wait(timeout=20)

        second, second_base = start_server(env, str(Path(PY).parent / "axops"), tmp / "axops-2.log")
        procs.append(second)
        results["label_move"] = label_moves(client, admin, base, second_base, key)
        print(json.dumps(results["label_move"]), flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if pg is not None:
            pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
