"""moto's standalone S3 server as a real process, for the tests that store in S3 (storage, backup).

moto_server lives in its own virtualenv (.venv/moto, made by `make moto`): its botocore pins
python-dateutil < 3, which the kubernetes client of the main environment does not accept."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "axops-test",
    "AWS_SECRET_ACCESS_KEY": "axops-test-secret",
    "AWS_REGION": "us-east-1",
}


def moto_server_binary() -> Path:
    binary = Path(
        os.environ.get("AXOPS_TEST_MOTO_SERVER") or Path(sys.executable).parent.parent / "moto/bin/moto_server"
    )
    if not binary.exists():
        pytest.fail(f"{binary} is missing: `make moto` installs moto's server in .venv/moto")
    return binary


@contextlib.contextmanager
def moto_server(log_dir: Path, *buckets: str) -> Iterator[str]:
    """Start moto's S3 server on a free port with these buckets; its endpoint while it runs."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with (log_dir / "moto.log").open("w") as log:
        proc = subprocess.Popen([str(moto_server_binary()), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.put(f"{endpoint}/{buckets[0]}").status_code == 200:  # CreateBucket
                        break
                assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
            for bucket in buckets[1:]:
                httpx.put(f"{endpoint}/{bucket}").raise_for_status()
            yield endpoint
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def environment(endpoint: str) -> dict[str, str]:
    """What obstore (and so axops) reads to reach this server."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", **CREDENTIALS}
