"""Replica logs of the local executor: where a replica's log file lives under the serving directory,
its last lines, and a follow of it as server-sent events. The executor writes the files; the API
reads them through here (so serving never imports an executor)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson

READ_BACK_BYTES = 256 * 1024  # the tail is read from at most this much of the file's end


def replica_log(work_dir: Path, deployment_id: uuid.UUID, replica: int) -> Path:
    return work_dir / str(deployment_id) / f"replica-{replica}.log"


def read_log(work_dir: Path, deployment_id: uuid.UUID, replica: int, tail: int) -> list[str]:
    path = replica_log(work_dir, deployment_id, replica)
    if not path.is_file():
        return []
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - READ_BACK_BYTES))
        return f.read().decode("utf-8", "replace").splitlines()[-tail:]


async def follow(
    work_dir: Path,
    deployment_id: uuid.UUID,
    replica: int,
    first: list[str],
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """Server-sent events: the `first` lines, then each line as it is written, until `disconnected()`."""
    for line in first:
        yield b"data: " + orjson.dumps(line) + b"\n\n"
    path = replica_log(work_dir, deployment_id, replica)
    position = path.stat().st_size if path.exists() else 0
    pending = b""
    while not await disconnected():
        await asyncio.sleep(0.5)
        if not path.exists():
            continue
        size = path.stat().st_size
        if size < position:  # a new process started the file over
            position = 0
        if size > position:
            with path.open("rb") as f:
                f.seek(position)
                pending += f.read(size - position)
            position = size
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield b"data: " + orjson.dumps(line.decode("utf-8", "replace")) + b"\n\n"
        else:
            yield b": keep-alive\n\n"
