"""Stopping an API process under steady gateway load loses nothing: on SIGTERM its /readyz turns 503,
it keeps serving through the drain period while the balancer stops sending it requests, finishes
what is in flight, writes the usage record of every answer it sent, then exits 0. A tiny round-robin
client stands in for an Ingress/Service: it sends only to backends whose /readyz answers 200."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from tests.conftest import _reset_database
from tests.factories import ADMIN_PASSWORD, login_headers, make_key
from tests.live import AxopsProcess
from tests.mocks import MockUpstream

ROUTE = "chat-rolling"
CLIENTS = 16


@dataclass
class Load:
    """`CLIENTS` concurrent clients sending chat requests to the ready backends, round robin."""

    backends: list[AxopsProcess]
    key: str
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    by_backend: dict[int, int] = field(default_factory=dict)
    ready: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def poll_readiness(self) -> None:
        with httpx.Client(timeout=1) as probe:
            while not self.stop.is_set():
                for b in self.backends:
                    try:
                        up = probe.get(b.url + "/readyz").status_code == 200
                    except httpx.TransportError:
                        up = False
                    (self.ready.add if up else self.ready.discard)(b.port)
                time.sleep(0.05)

    async def _client(self, http: httpx.AsyncClient, n: int) -> None:
        body = {"model": ROUTE, "messages": [{"role": "user", "content": f"hello from client {n}"}]}
        headers = {"Authorization": f"Bearer {self.key}"}
        turn = n
        while not self.stop.is_set():
            ready = sorted(self.ready)
            if not ready:
                await asyncio.sleep(0.01)
                continue
            port = ready[turn % len(ready)]
            turn += 1
            try:
                r = await http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=headers)
            except httpx.TransportError as exc:
                self.failed.append(f"{port}: {type(exc).__name__}")
                continue
            if r.status_code == 200:
                self.ok += 1
                self.by_backend[port] = self.by_backend.get(port, 0) + 1
            else:
                self.failed.append(f"{port}: {r.status_code} {r.text[:200]}")

    def run(self) -> None:
        async def main() -> None:
            limits = httpx.Limits(max_connections=CLIENTS * 2, max_keepalive_connections=CLIENTS * 2)
            async with httpx.AsyncClient(timeout=30, limits=limits) as http:
                await asyncio.gather(*(self._client(http, n) for n in range(CLIENTS)))

        asyncio.run(main())

    @contextlib.contextmanager
    def running(self):
        threads = [threading.Thread(target=self.poll_readiness), threading.Thread(target=self.run)]
        for t in threads:
            t.start()
        try:
            yield self
        finally:
            self.stop.set()
            for t in threads:
                t.join(60)


def _usage_rows(database_url: str, key_id: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 200) FROM usage_records WHERE api_key_id = %s",
            (key_id,),
        ).fetchone()
    return row[0], row[1]


@pytest.fixture
def world(database_url, settings, tmp_path):
    """A route to a mock upstream and an API key, made through a first process (also the fixture's
    returned backends' database)."""
    _reset_database(database_url, settings)
    upstream = MockUpstream("R")
    yield upstream
    upstream.stop()


def _setup(backend: AxopsProcess, upstream: MockUpstream) -> tuple[str, str]:
    with httpx.Client(base_url=backend.url, timeout=30) as c:
        admin = login_headers(c, "admin", ADMIN_PASSWORD)
        p = c.post("/api/gateway/providers", json={"name": "up", "base_url": upstream.url}, headers=admin)
        assert p.status_code == 201, p.text
        target = {"provider_id": p.json()["id"], "model": "tiny", "input_price": 1.0, "output_price": 2.0}
        r = c.post("/api/gateway/routes", json={"model_name": ROUTE, "targets": [target]}, headers=admin)
        assert r.status_code == 201, r.text
        key = make_key(c, admin, f"load-{uuid.uuid4().hex[:6]}")
    return key["key"], key["id"]


def _models(backend: AxopsProcess, key: str) -> list[str]:
    r = httpx.get(backend.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    return [m["id"] for m in r.json()["data"]]


def _until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _stop(backend: AxopsProcess, load: Load, sig: int = signal.SIGTERM) -> dict:
    """Signal a backend and wait for it to exit; what happened, for the operations figures."""
    before = load.ok
    sent = time.monotonic()
    backend.signal(sig)
    _until(lambda: backend.port not in load.ready, timeout=5)  # readiness turns at once
    unready = time.monotonic() - sent
    if backend.env.get("AXOPS_SHUTDOWN_DRAIN_SECONDS"):  # draining: not ready, and still serving
        ready = httpx.get(backend.url + "/readyz", timeout=5)
        assert (ready.status_code, ready.json()["status"]) == (503, "stopping")
        assert httpx.get(backend.url + "/healthz", timeout=5).status_code == 200
    code = backend.wait(timeout=120)
    return {
        "exit": code,
        "not_ready_after_s": round(unready, 2),
        "exited_after_s": round(time.monotonic() - sent, 2),
        "answers_meanwhile": load.ok - before,
    }


def test_rolling_restart_of_two_processes_under_load_loses_nothing(world, database_url, settings, tmp_path):
    env = {"AXOPS_SHUTDOWN_DRAIN_SECONDS": "1"}  # the readiness poll (50 ms) needs far less
    a = AxopsProcess(database_url, settings, tmp_path / "a", env=env)
    b = AxopsProcess(database_url, settings, tmp_path / "b", env=env)
    a.start()
    b.start()
    try:
        key, key_id = _setup(a, world)
        for backend in (a, b):  # B hears of the new route by NOTIFY, a moment later
            _until(lambda backend=backend: ROUTE in _models(backend, key), timeout=10)
        load = Load([a, b], key)
        figures = {}
        with load.running():
            _until(lambda: len(load.by_backend) == 2 and load.ok > 200)  # both serving
            figures["a_stop"] = _stop(a, load)
            answered_by_b = load.ok
            a.start()  # the new version of A, same port
            _until(lambda: load.by_backend[a.port] > 0 and load.ok > answered_by_b + 200)
            served_by_a = load.by_backend[a.port]
            _until(lambda: load.by_backend[a.port] > served_by_a + 100)  # A is really back in rotation
            figures["b_stop"] = _stop(b, load)
            settled = load.ok
            _until(lambda: load.ok > settled + 200)  # A alone carries the load
        figures["a_final_stop"] = _stop_quietly(a)
        print(f"\nrolling restart: {load.ok} answers, {len(load.failed)} failed, {figures}")
        assert load.failed == []
        # uvicorn re-raises SIGTERM once its graceful shutdown is done: the exit status says "terminated".
        assert figures["a_stop"]["exit"] == figures["b_stop"]["exit"] == -signal.SIGTERM
        assert figures["a_stop"]["answers_meanwhile"] > 0 and figures["b_stop"]["answers_meanwhile"] > 0
        assert _usage_rows(database_url, key_id) == (load.ok, load.ok)
    finally:
        a.stop()
        b.stop()


def _stop_quietly(backend: AxopsProcess) -> int:
    backend.signal(signal.SIGTERM)
    return backend.wait(timeout=120)


def test_ctrl_c_under_load_writes_the_usage_of_every_answer(world, database_url, settings, tmp_path):
    """No drain (the laptop default): SIGINT mid-load. Requests after it fail, but every answer that
    was sent has its usage record."""
    one = AxopsProcess(database_url, settings, tmp_path / "one")
    one.start()
    try:
        key, key_id = _setup(one, world)
        load = Load([one], key)
        with load.running():
            _until(lambda: load.ok > 500)
            figures = _stop(one, load, signal.SIGINT)
        print(f"\nctrl-c: {load.ok} answers, {len(load.failed)} refused after the stop, {figures}")
        assert figures["exit"] == 0
        assert load.ok > 500
        assert _usage_rows(database_url, key_id) == (load.ok, load.ok)
    finally:
        one.stop()
