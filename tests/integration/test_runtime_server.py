"""The model server as a process: ready only after warm-up, /v1 only with its token, a full queue
answers 429, a client that hangs up frees its slot, SIGTERM lets running requests finish and
refuses new ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import orjson
import pytest

from axops.gateway.openai_schemas import ChatCompletion, Completion, ErrorResponse, ModelList
from tests.factories import free_port

TOKEN = "axs_test-serve-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def runtime(demo_dirs):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "axops.runtime.serve",
            "--model-dir",
            str(demo_dirs[0]),
            "--port",
            str(port),
            "--max-batch",
            "1",
            "--max-queue",
            "2",
            "--served-name",
            "demo",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "AXOPS_RUNTIME_SERVE_TOKEN": TOKEN},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the runtime did not get ready"
        time.sleep(0.1)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_queue_full_disconnect_and_drain(runtime):
    proc, url = runtime
    health = httpx.get(url + "/health").json()
    assert health["ready"] is True and health["queued"] == 0 and health["load_seconds"] > 0
    assert ModelList.model_validate(httpx.get(url + "/v1/models", headers=AUTH).json()).data[0].id == "demo"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):  # /v1 answers its gateway only
        r = httpx.post(url + "/v1/completions", json={"prompt": "hi"}, headers=headers)
        assert r.status_code == 401 and ErrorResponse.model_validate(r.json()).error.code == "invalid_api_key"
    # the answers have the shapes the gateway declares for /v1 (gateway/openai_schemas.py)
    short = {"max_tokens": 2, "temperature": 0}
    Completion.model_validate(httpx.post(url + "/v1/completions", json={"prompt": "hi", **short}, headers=AUTH).json())
    chat = {"messages": [{"role": "user", "content": "hi"}], **short}
    ChatCompletion.model_validate(httpx.post(url + "/v1/chat/completions", json=chat, headers=AUTH).json())
    assert httpx.get(url + "/v1/models").status_code == 401

    # one running, two waiting: the fourth and later are refused with 429 and Retry-After
    body = {"prompt": "hello", "max_tokens": 100, "temperature": 0}  # greedy: the demo model runs to max_tokens
    statuses: list[int] = []

    def call():
        statuses.append(httpx.post(url + "/v1/completions", json=body, headers=AUTH, timeout=60).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) >= 3 and 429 in statuses
    refused = httpx.post(url + "/v1/completions", json=body, headers=AUTH, timeout=60)
    assert refused.status_code in (200, 429)

    # a streaming client that hangs up after the first chunk: its sequence leaves the batch
    with httpx.stream(
        "POST", url + "/v1/completions", json={**body, "stream": True, "max_tokens": 120}, headers=AUTH, timeout=60
    ) as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 10
    while httpx.get(url + "/health").json()["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(url + "/health").json()["running"] == 0
    metrics = httpx.get(url + "/metrics").text  # open: Prometheus scrapes it (counts and load, no content)
    assert 'axops_runtime_requests_total{endpoint="completions",status="499"}' in metrics
    assert "axops_runtime_batch_size_bucket" in metrics and "axops_runtime_ttft_seconds_bucket" in metrics

    # SIGTERM while a slow reader streams: it gets its whole answer, then the process exits cleanly
    lines: list[str] = []

    def slow_reader():
        with httpx.stream(
            "POST", url + "/v1/completions", json={**body, "stream": True, "max_tokens": 60}, headers=AUTH, timeout=60
        ) as r:
            for line in r.iter_lines():
                lines.append(line)
                time.sleep(0.01)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    reader.join(30)
    assert (lines and lines[-2] == "data: [DONE]") or lines[-1] == "data: [DONE]", lines[-3:]
    for line in lines:
        if line.startswith("data: {"):
            Completion.model_validate(orjson.loads(line[6:]))  # a streamed completion's chunks
    assert proc.wait(30) == 0
