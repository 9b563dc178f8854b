"""Stopping the gateway's usage writer while it is in the middle of writing a batch loses nothing:
the batch being written lands, then the rest of the queue (a graceful stop used to cancel the
writer there, dropping that whole batch)."""

from __future__ import annotations

import asyncio
import threading
import uuid

from sqlalchemy import text

from axops.gateway.usage_writer import UsageWriter


class SlowWriter(UsageWriter):
    """Says when a batch is being written, and takes its time about it."""

    def __init__(self, db) -> None:
        super().__init__(db, interval_s=0.01, batch=50)
        self.writing = threading.Event()

    def prepare(self, rows):
        self.writing.set()
        threading.Event().wait(0.3)  # in the worker thread, as masking content logs can be
        return rows


def _record(writer: UsageWriter, request_id: str) -> None:
    writer.record(
        request_id=request_id,
        api_key_id=None,
        user_id=None,
        team_id=None,
        endpoint="chat",
        model="stop-test",
        upstream=None,
        stream=False,
        status=200,
        error=None,
        prompt_tokens=1,
        completion_tokens=1,
        cost=0.0,
        latency_ms=1.0,
        ttft_ms=None,
        attempts=1,
    )


async def test_stop_during_a_batch_writes_every_record(database):
    prefix = f"stop-{uuid.uuid4().hex[:8]}-"
    writer = SlowWriter(database)
    for i in range(120):  # more than two batches
        _record(writer, f"{prefix}{i}")
    writer.start()
    await asyncio.to_thread(writer.writing.wait, 10)  # the first batch is on its way
    await writer.stop()
    async with database.engine.connect() as conn:
        written = await conn.scalar(
            text("SELECT count(*) FROM usage_records WHERE request_id LIKE :p"), {"p": prefix + "%"}
        )
    assert (written, writer.written, writer.queue) == (120, 120, [])
