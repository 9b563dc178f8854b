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


@contextlib.contextmanager
def axops_process(database_url: str, settings, data_dir: Path) -> Iterator[str]:
    """`axops up` in its own process on the same database (no worker): its address while it runs,
    stopped (SIGTERM) on leaving. For tests that need a server that really goes away; a second app in
    this process would share the process-wide task queue and close it on the way out."""
    port = free_port()
    env = {
        **os.environ,
        "AXOPS_DATABASE_URL": database_url,
        "AXOPS_DATA_DIR": str(data_dir),
        "AXOPS_SECRET_KEY": settings.secret_key,
        "AXOPS_ADMIN_PASSWORD": settings.admin_password,
        "AXOPS_LOG_LEVEL": "WARNING",
        "AXOPS_GATEWAY_HEALTH_INTERVAL_S": "0",
    }
    axops = str(Path(sys.executable).parent / "axops")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "axops.log").open("w")
    proc = subprocess.Popen([axops, "up", "--port", str(port), "--no-worker"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"axops up did not start: {(data_dir / 'axops.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
