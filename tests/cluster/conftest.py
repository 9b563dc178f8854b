"""A real `redis-server` per test module (random port, nothing saved to disk) that a test can kill and
start again on the same port. Skipped only where the Debian binary is missing."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.factories import free_port

REDIS_SERVER = Path("/usr/bin/redis-server")


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """Gone at once, as in a crash: the data with it (nothing is saved)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def redis_server():
    if not REDIS_SERVER.exists():
        pytest.fail("redis-server is missing: `make browser` installs it (Debian package redis-server)")
    server = RedisServer()
    server.start()
    yield server
    server.kill()
