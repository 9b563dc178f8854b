"""Writes the gateway's usage records and content logs (usage_queries.py reads them back).

Usage records (and content logs) leave the request path through in-memory queues and reach
PostgreSQL in batches (COPY), a few times a second; what is queued at shutdown is written before
exit. Content logs are PII-masked in the writer, off the request path."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import orjson

from axops.core.logging import event

log = logging.getLogger("axops.gateway")

COLUMNS = (
    "created_at",
    "request_id",
    "api_key_id",
    "user_id",
    "team_id",
    "endpoint",
    "model",
    "upstream",
    "stream",
    "status",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "cache",
    "saved_cost",
    "prompt_name",
    "prompt_version",
    "prompt_experiment_id",
    "prompt_chars",
    "hangul_ratio",
    "latin_ratio",
    "client_ip",
)
MAX_QUEUE = 200_000


class BatchWriter:
    """Rows queued in memory, written by COPY into `table` when the batch fills or every interval."""

    table = "usage_records"
    columns = COLUMNS

    def __init__(self, db, interval_s: float = 0.25, batch: int = 5000) -> None:
        self.db = db
        self.interval_s = interval_s
        self.batch = batch
        self.queue: list[tuple] = []
        self.dropped = 0
        self.written = 0
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._closing = False

    def prepare(self, rows: list[tuple]) -> list[tuple]:
        return rows

    def record(
        self,
        *,
        request_id: str | None,
        api_key_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
        team_id: uuid.UUID | None,
        endpoint: str,
        model: str,
        upstream: str | None,
        stream: bool,
        status: int,
        error: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        latency_ms: float,
        ttft_ms: float | None,
        attempts: int,
        cache: str = "off",
        saved_cost: float = 0.0,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
        prompt_experiment_id: uuid.UUID | None = None,
        features: tuple[int, float | None, float | None] | None = None,
        client_ip: str | None = None,
    ) -> None:
        if len(self.queue) >= MAX_QUEUE:  # the database is down for long: keep memory bounded, say so
            self.dropped += 1
            return
        self.queue.append(
            (
                datetime.now(UTC),
                request_id,
                api_key_id,
                user_id,
                team_id,
                endpoint,
                model,
                upstream,
                stream,
                status,
                (error or None) and error[:300],
                prompt_tokens,
                completion_tokens,
                cost,
                latency_ms,
                ttft_ms,
                attempts,
                cache,
                saved_cost,
                prompt_name,
                prompt_version,
                prompt_experiment_id,
                *(features or (None, None, None)),
                client_ip,
            )
        )
        if len(self.queue) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Write everything queued. The loop is asked to end, not cancelled: cancelling it in the
        middle of a COPY lost that whole batch (a quarter second of usage on every graceful stop)."""
        self._closing = True
        self._wake.set()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)
        while self.queue:
            if not await self.flush():
                break

    async def _run(self) -> None:
        while not self._closing:
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
            records = await asyncio.to_thread(self.prepare, rows)
            async with self.db.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                await raw.copy_records_to_table(self.table, records=records, columns=self.columns)
        except Exception as exc:
            self.queue = rows + self.queue
            event(
                log,
                "gateway.batch_write_failed",
                logging.WARNING,
                table=self.table,
                rows=len(rows),
                error=type(exc).__name__,
            )
            return False
        self.written += len(rows)
        return True


UsageWriter = BatchWriter


def _deleting_all_but(kept: set[int]) -> bytes:
    return bytes(b for b in range(256) if b not in kept)


# UTF-8 lead bytes stand for characters, so counting bytes counts characters (C speed, no regex):
# ASCII letters; 0xC3-0xC9 Latin-1 and Latin Extended letters; 0xEA-0xED U+A000-U+D7FF, which is
# Hangul syllables (and the rare Yi); other letters are the other lead bytes but 0xC2 (Latin-1
# symbols) and 0xE2 (general punctuation and symbols): Cyrillic, Greek, CJK, kana, Hangul jamo...
_ASCII_LETTERS = _deleting_all_but(set(range(65, 91)) | set(range(97, 123)))
_LATIN_EXTENDED = _deleting_all_but(set(range(0xC3, 0xCA)))
_HANGUL = _deleting_all_but(set(range(0xEA, 0xEE)))
_OTHER_LETTERS = _deleting_all_but(set(range(0xCA, 0xE2)) | set(range(0xE3, 0xEA)) | set(range(0xEE, 0xF5)))


def _prompt_text(body: dict) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        parts = []
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        return "\n".join(parts)
    prompt = body.get("prompt", body.get("input"))
    if isinstance(prompt, list):
        return "\n".join(p for p in prompt if isinstance(p, str))
    return prompt if isinstance(prompt, str) else ""


def prompt_features(body: dict) -> tuple[int, float | None, float | None]:
    """(characters, Hangul share of letters, Latin share of letters) of a request's prompt text, for
    input drift: a few microseconds per kilobyte (bench: ~5 µs for 1,000 mixed characters)."""
    text = _prompt_text(body)
    if not text:
        return 0, None, None
    raw = text.encode("utf-8", "surrogatepass")
    hangul = len(raw.translate(None, _HANGUL))
    latin = len(raw.translate(None, _ASCII_LETTERS)) + len(raw.translate(None, _LATIN_EXTENDED))
    letters = hangul + latin + len(raw.translate(None, _OTHER_LETTERS))
    if not letters:
        return len(text), None, None
    return len(text), hangul / letters, latin / letters


class ContentLogWriter(BatchWriter):
    """Request and response text of keys that log content, masked before it is stored."""

    table = "gateway_request_logs"
    columns = ("created_at", "request_id", "api_key_id", "user_id", "model", "status", "request", "response")

    def log(
        self, *, request_id: str | None, api_key_id, user_id, model: str, status: int, request: dict, response: str
    ) -> None:
        if len(self.queue) < MAX_QUEUE:
            self.queue.append((datetime.now(UTC), request_id, api_key_id, user_id, model, status, request, response))
        else:
            self.dropped += 1

    def prepare(self, rows: list[tuple]) -> list[tuple]:
        from axops import pii

        out = []
        for created, request_id, key, user, model, status, request, response in rows:
            messages = [
                {**m, "content": pii.redact(m["content"])} if isinstance(m.get("content"), str) else m
                for m in request.get("messages") or []
                if isinstance(m, dict)
            ]
            masked = (
                {"messages": messages}
                if messages
                else {"prompt": pii.redact(str(request.get("prompt") or request.get("input") or ""))}
            )
            out.append(
                (
                    created,
                    request_id,
                    key,
                    user,
                    model,
                    status,
                    orjson.dumps(masked).decode(),
                    pii.redact(response)[:100_000],
                )
            )
        return out
