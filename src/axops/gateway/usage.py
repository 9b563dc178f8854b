"""Usage records leave the request path through an in-memory queue and reach PostgreSQL in
batches (COPY), a few times a second; what is queued at shutdown is written before exit."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

from axops.core.logging import event

log = logging.getLogger("axops.gateway")

COLUMNS = ("created_at", "request_id", "api_key_id", "user_id", "team_id", "endpoint", "model", "upstream", "stream",
           "status", "error", "prompt_tokens", "completion_tokens", "cost", "latency_ms", "ttft_ms", "attempts", "cache", "saved_cost")  # fmt: skip
MAX_QUEUE = 200_000


class UsageWriter:
    def __init__(self, db, interval_s: float = 0.25, batch: int = 5000) -> None:
        self.db = db
        self.interval_s = interval_s
        self.batch = batch
        self.queue: list[tuple] = []
        self.dropped = 0
        self.written = 0
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def record(self, *, request_id: str | None, api_key_id: uuid.UUID | None, user_id: uuid.UUID | None, team_id: uuid.UUID | None,
               endpoint: str, model: str, upstream: str | None, stream: bool, status: int, error: str | None,
               prompt_tokens: int, completion_tokens: int, cost: float, latency_ms: float, ttft_ms: float | None,
               attempts: int, cache: str = "off", saved_cost: float = 0.0) -> None:  # fmt: skip
        if len(self.queue) >= MAX_QUEUE:  # the database is down for long: keep memory bounded, say so
            self.dropped += 1
            return
        self.queue.append((datetime.now(UTC), request_id, api_key_id, user_id, team_id, endpoint, model, upstream, stream,
                           status, (error or None) and error[:300], prompt_tokens, completion_tokens, cost, latency_ms, ttft_ms,
                           attempts, cache, saved_cost))  # fmt: skip
        if len(self.queue) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self.queue:
            if not await self.flush():
                break

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        if not self.queue:
            return True
        rows, self.queue = self.queue[: self.batch], self.queue[self.batch :]
        try:
            async with self.db.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                await raw.copy_records_to_table("usage_records", records=rows, columns=COLUMNS)
        except Exception as exc:  # noqa: BLE001 — keep the rows for the next try; the gateway keeps serving
            self.queue = rows + self.queue
            event(log, "gateway.usage_write_failed", logging.WARNING, rows=len(rows), error=type(exc).__name__)
            return False
        self.written += len(rows)
        return True
