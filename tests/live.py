"""An axops app served by uvicorn in a thread: the suite's live server, and a second one a test can stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from tests.factories import free_port


class LiveServer:
    def __init__(self, app, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
        )
        self.server_loop = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def serve():
            self.server_loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class AxopsProcess:
    """`axops up` in its own process on the same database (no worker), on its own port: start, signal
    and restart it (same port) like an orchestrator does."""

    def __init__(
        self, database_url: str, settings, data_dir: Path, *, env: dict | None = None, args=(), https: bool = False
    ) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "AXOPS_DATABASE_URL": database_url,
            "AXOPS_DATA_DIR": str(data_dir),
            "AXOPS_SECRET_KEY": settings.secret_key,
            "AXOPS_ADMIN_PASSWORD": settings.admin_password,
            "AXOPS_LOG_LEVEL": "WARNING",
            "AXOPS_GATEWAY_HEALTH_INTERVAL_S": "0",
            **(env or {}),
        }
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"axops-{self.starts}.log"

    def start(self, timeout: float = 90) -> None:
        self.starts += 1
        self.data_dir.mkdir(parents=True, exist_ok=True)
        axops = str(Path(sys.executable).parent / "axops")
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [axops, "up", "--port", str(self.port), "--no-worker", *self.args], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                # A test's self-signed certificate: readiness only, the test checks TLS itself.
                if httpx.get(self.url + "/readyz", timeout=2, verify=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"axops up did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def axops_process(
    database_url: str, settings, data_dir: Path, *, env: dict | None = None, args=(), handle: bool = False
) -> Iterator:
    """`axops up` in its own process on the same database (no worker): its address while it runs (or,
    with `handle`, the AxopsProcess), stopped (SIGTERM) on leaving. For tests that need a server that
    really goes away; a second app in this process would share the process-wide task queue and close
    it on the way out. `env` adds AXOPS_* variables, `args` options of `axops up`."""
    process = AxopsProcess(database_url, settings, data_dir, env=env, args=args, https="--tls-cert" in args)
    process.start()
    try:
        yield process if handle else process.url
    finally:
        process.stop()
