"""Gateway benchmark: the same chat request sent directly to a fast mock upstream, through nginx,
through a bare Python pass-through proxy (the ceiling for one Python worker), through the axops
gateway (auth by API key, routing, rate limits and usage logging on) and through the LiteLLM
proxy — interleaved in one run, at concurrency 1 and 64, non-streaming (wrk) and streaming (TTFT,
an asyncio client). The axops gateway is also sent the same request naming a saved prompt
(`prompt_id`, non-streaming only): the difference is what resolving and rendering it costs.

    make bench-gateway          (or: .venv/bin/python bench/gateway/run.py)

Knobs: BENCH_DURATION (8s), BENCH_ROUNDS (2), BENCH_LITELLM (1: install LiteLLM into its own
venv under the data dir and include it; 0: skip). nginx is used when on the PATH.
Results are printed and written to bench/gateway/results.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
sys.path.insert(0, str(ROOT / "bench" / "api"))
sys.path.insert(0, str(ROOT / "src"))

from run import free_port, start_server

from axops.core.db import libpq_url
from axops.core.embedded import start_embedded_postgres

DURATION = os.environ.get("BENCH_DURATION", "8s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
WITH_LITELLM = os.environ.get("BENCH_LITELLM", "1") == "1"
PASSWORD = "bench-admin-password"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Hello, how are you today?"}]}
# A saved customer-support prompt as teams write them (a condition, a loop), for the same request
# with `prompt_id`: the gateway resolves, renders and puts it before the caller's message.
PROMPT_TEMPLATE = [
    {
        "role": "system",
        "content": "당신은 {{ company }}의 고객 지원 상담원입니다. 항상 존댓말을 쓰고, 확실하지 않은 내용은 "
        "추측하지 말고 상담원 연결을 안내하세요.\n오늘 날짜: {{ today }}\n"
        "{% if tier == 'vip' %}이 고객은 VIP 등급입니다. 가장 먼저 처리하세요.\n{% endif %}",
    },
    {
        "role": "user",
        "content": "고객 이름: {{ customer }}\n주문 번호: {{ order_id }}\n최근 주문:\n"
        "{% for item in items %}- {{ item.name }} ({{ item.qty }}개)\n{% endfor %}문의 내용: {{ question }}",
    },
]
PROMPT_VARIABLES = [
    {"name": "company", "type": "string", "required": False, "default": "악소프스"},
    {"name": "today", "type": "string"},
    {"name": "tier", "type": "string", "required": False, "default": "standard"},
    {"name": "customer", "type": "string"},
    {"name": "order_id", "type": "string"},
    {"name": "items", "type": "list"},
    {"name": "question", "type": "string"},
]
PROMPT_VALUES = {
    "today": "2026년 12월 4일",
    "tier": "vip",
    "customer": "김민수",
    "order_id": "A-20261204-0042",
    "items": [{"name": "무선 이어폰", "qty": 1}, {"name": "충전 케이블", "qty": 2}],
    "question": "이어폰 한쪽이 충전되지 않아요. 교환할 수 있나요?",
}
PROMPTED = {**BODY, "prompt_id": "support@production", "prompt_variables": PROMPT_VALUES}
PY = sys.executable


def wait_port(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/v1/chat/completions", json=BODY, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wrk_script(path: Path, body: dict) -> Path:
    """A wrk script POSTing `body` (in a long bracket string: no Lua escapes, UTF-8 as is)."""
    path.write_text(
        "wrk.method = 'POST'\n"
        f"wrk.body = [==[{json.dumps(body, ensure_ascii=False)}]==]\n"
        "wrk.headers['Content-Type'] = 'application/json'\n",
        encoding="utf-8",
    )
    return path


def create_prompt(c: httpx.Client, h: dict) -> None:
    """The saved prompt PROMPTED names (v1, labelled production)."""
    version = {"kind": "chat", "template": PROMPT_TEMPLATE, "variables": PROMPT_VARIABLES}
    c.post(
        "/api/prompts", json={"name": "support", "version": version, "labels": ["production"]}, headers=h
    ).raise_for_status()


def wrk(url: str, key: str | None, concurrency: int, script: Path) -> dict:
    headers = ["-H", f"Authorization: Bearer {key}"] if key else []
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(concurrency),
            "-d",
            DURATION,
            "--latency",
            "-s",
            str(script),
            *headers,
            url + "/v1/chat/completions",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0),
    }


async def stream_run(url: str, key: str | None, concurrency: int, seconds: float) -> dict:
    """Streaming requests: time to first content byte and requests/s, with an aiohttp client."""
    import aiohttp

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    body = json.dumps({**BODY, "stream": True}).encode()
    ttfts: list[float] = []
    done = errors = 0
    stop = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker():
            nonlocal done, errors
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    async with session.post(url + "/v1/chat/completions", data=body, headers=headers) as r:
                        first = None
                        async for _ in r.content.iter_any():
                            first = first or time.perf_counter()
                        if r.status != 200:
                            errors += 1
                            continue
                    ttfts.append((first - started) * 1000)
                    done += 1
                except aiohttp.ClientError:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    ttfts.sort()
    q = (lambda p: ttfts[min(len(ttfts) - 1, int(p * len(ttfts)))]) if ttfts else (lambda p: None)
    return {"req_per_s": done / elapsed, "ttft_p50_ms": q(0.5), "ttft_p99_ms": q(0.99), "errors": errors}


def start_nginx(tmp: Path, upstream_port: int) -> tuple[subprocess.Popen | None, str | None]:
    if not shutil.which("nginx"):
        return None, None
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {tmp}/nb; proxy_temp_path {tmp}/np; fastcgi_temp_path {tmp}/nf;
  uwsgi_temp_path {tmp}/nu; scgi_temp_path {tmp}/ns;
  upstream mock {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }} }}
}}""")
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return proc, f"http://127.0.0.1:{port}"


def start_litellm(tmp: Path, upstream: str) -> tuple[subprocess.Popen | None, str | None, str | None]:
    venv = ROOT / ".axops" / "bench-litellm-venv"
    if not (venv / "bin" / "litellm").exists():
        print("installing LiteLLM into its own venv (once) ...", flush=True)
        subprocess.run([PY, "-m", "venv", str(venv)], check=True)
        r = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=False, capture_output=True, text=True
        )
        if r.returncode:
            print("LiteLLM could not be installed; skipped:", r.stderr[-500:])
            return None, None, None
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(
        f"model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n"
        f"      api_base: {upstream}/v1\n      api_key: none\n"
    )
    log = (tmp / "litellm.log").open("w")
    master_key = "sk-bench-" + uuid.uuid4().hex  # its own auth on, as axops's is
    proc = subprocess.Popen(
        [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        stdout=log,
        stderr=log,
        env={**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": master_key},
    )
    return proc, f"http://127.0.0.1:{port}", master_key


def setup_axops(tmp: Path, upstream: str) -> tuple[subprocess.Popen, str, str, object]:
    pg, server_url = start_embedded_postgres(tmp / "pg", database="postgres")
    name = f"axops_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = make_url(libpq_url(server_url)).set(database=name).render_as_string(hide_password=False)
    env = {
        **os.environ,
        "AXOPS_DATABASE_URL": db_url,
        "AXOPS_DATA_DIR": str(tmp / "data"),
        "AXOPS_ADMIN_PASSWORD": PASSWORD,
        "AXOPS_LOG_LEVEL": "WARNING",
    }
    axops = str(Path(PY).parent / "axops")
    subprocess.run([axops, "migrate"], env=env, check=True, capture_output=True)
    server, base = start_server(env, axops, tmp / "axops.log")
    c = httpx.Client(base_url=base, timeout=30)
    h = {
        "Authorization": "Bearer "
        + c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()["access_token"]
    }
    provider = c.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream + "/v1"}, headers=h).json()
    c.post(
        "/api/gateway/routes",
        json={
            "model_name": "bench",
            "targets": [{"provider_id": provider["id"], "model": "bench", "input_price": 0.5, "output_price": 1.5}],
        },
        headers=h,
    ).raise_for_status()
    key = c.post("/api/apikey/create", json={"name": "bench", "models": ["bench"]}, headers=h).json()
    # A limit high enough never to refuse, so the limiter runs on every request as in production.
    c.put(
        f"/api/gateway/limits/key/{key['id']}", json={"rpm": 10_000_000, "tpm": 1_000_000_000}, headers=h
    ).raise_for_status()
    create_prompt(c, h)
    return server, base, key["key"], (pg, c, h, env)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="axops-bench-gateway-"))
    procs: list[subprocess.Popen] = []
    results: dict = {"duration": DURATION, "rounds": ROUNDS, "non_streaming": {}, "streaming": {}}
    pg = None
    try:
        mock_port = free_port()
        procs.append(subprocess.Popen([PY, str(HERE / "mock_upstream.py"), str(mock_port)]))
        mock = f"http://127.0.0.1:{mock_port}"
        wait_port(mock)
        targets: dict[str, tuple[str, str | None]] = {"direct": (mock, None)}
        nginx, nginx_url = start_nginx(tmp, mock_port)
        if nginx:
            procs.append(nginx)
            wait_port(nginx_url)
            targets["nginx"] = (nginx_url, None)
        pt_port = free_port()
        procs.append(subprocess.Popen([PY, str(HERE / "passthrough.py"), str(pt_port), mock]))
        targets["python pass-through"] = (f"http://127.0.0.1:{pt_port}", None)
        wait_port(targets["python pass-through"][0])
        server, base, key, (pg, client, admin, _env) = setup_axops(tmp, mock)
        procs.append(server)
        targets["axops gateway"] = (base, key)
        targets["axops gateway + prompt_id"] = (base, key)
        if WITH_LITELLM:
            litellm, litellm_url, litellm_key = start_litellm(tmp, mock)
            if litellm:
                procs.append(litellm)
                wait_port(litellm_url, timeout=180)
                targets["litellm"] = (litellm_url, litellm_key)

        script = wrk_script(tmp / "post.lua", BODY)
        scripts = {"axops gateway + prompt_id": wrk_script(tmp / "prompted.lua", PROMPTED)}
        for name, (url, k) in targets.items():  # warm up every connection pool and code path
            wrk(url, k, 16, scripts.get(name, script))
        for concurrency in (1, 64):
            runs: dict[str, list[dict]] = {name: [] for name in targets}
            for _ in range(ROUNDS):
                for name, (url, k) in targets.items():
                    runs[name].append(wrk(url, k, concurrency, scripts.get(name, script)))
            for name, rs in runs.items():
                r = {m: round(statistics.median(x[m] for x in rs), 3) for m in ("req_per_s", "p50_ms", "p99_ms")}
                r["errors"] = sum(x["errors"] for x in rs)
                results["non_streaming"].setdefault(f"c{concurrency}", {})[name] = r
                print(
                    f"c={concurrency:<3} {name:26s} {r['req_per_s']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
                    f"  errors {r['errors']}",
                    flush=True,
                )
        for concurrency in (1, 64):
            for name, (url, k) in targets.items():
                if name in scripts:
                    continue  # streaming is measured with the plain request only
                r = asyncio.run(stream_run(url, k, concurrency, 5.0))
                results["streaming"].setdefault(f"c{concurrency}", {})[name] = {
                    k2: round(v, 3) if v else v for k2, v in r.items()
                }
                print(
                    f"stream c={concurrency:<3} {name:26s} {r['req_per_s']:8.0f} req/s  TTFT p50 {r['ttft_p50_ms']:.2f} ms  "
                    f"p99 {r['ttft_p99_ms']:.2f} ms  errors {r['errors']}",
                    flush=True,
                )
        c1, c64 = results["non_streaming"]["c1"], results["non_streaming"]["c64"]
        results["summary"] = {
            "axops_added_p50_ms_at_c1": round(c1["axops gateway"]["p50_ms"] - c1["direct"]["p50_ms"], 3),
            "prompt_id_added_p50_ms_at_c1": round(
                c1["axops gateway + prompt_id"]["p50_ms"] - c1["axops gateway"]["p50_ms"], 3
            ),
            "axops_vs_passthrough_rps_at_c64": round(
                c64["axops gateway"]["req_per_s"] / c64["python pass-through"]["req_per_s"], 3
            ),
            **(
                {
                    "axops_vs_litellm_rps_at_c64": round(
                        c64["axops gateway"]["req_per_s"] / c64["litellm"]["req_per_s"], 1
                    )
                }
                if "litellm" in c64
                else {}
            ),
        }
        time.sleep(1)
        usage = client.get("/api/metrics/usage", headers=admin).json()
        results["summary"]["usage_records_written"] = sum(t["requests"] for t in usage["totals"])
        print(json.dumps(results["summary"]), flush=True)
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
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
