"""The request log exported for Loki, Elasticsearch or an OpenTelemetry collector: every gateway
request in a time range, oldest first, with its PII-masked text when the key logs content (nothing
here ever sees unmasked text). Gateway admins only; each export is audited (`request_log.export`).

- `jsonl`: one JSON object per line with stable field names (FIELDS), for Promtail/Filebeat/Logstash.
- `otlp`: OTLP/JSON logs, one `ExportLogsServiceRequest` per line (`resourceLogs[].scopeLogs[].logRecords[]`,
  up to BATCH records each): the shape the collector's `otlpjsonfile` receiver reads, and each line is
  a body an OTLP/HTTP endpoint (`POST /v1/logs`, JSON) accepts as is.

`axops logs export` (cli.py) calls the HTTP endpoint and writes a file or stdout, or pushes the lines
to an OTLP/HTTP endpoint (otlp) or Loki's push API (jsonl)."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import httpx
import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from axops.auth import audit
from axops.auth.deps import Principal, require
from axops.core.errors import Invalid
from axops.core.state import Db
from axops.core.text import content_disposition
from axops.gateway import request_logs

BATCH = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=92)  # the logs are kept 90 days
FIELDS = (
    "timestamp", "request_id", "route", "upstream", "endpoint", "status", "latency_ms", "ttft_ms", "tokens",
    "cost", "cache", "user", "api_key_prefix", "request", "response",
)  # fmt: skip
Format = Literal["jsonl", "otlp"]


def line(item: dict) -> dict:
    """One request as a JSON-lines record (FIELDS, in that order)."""
    return {
        "timestamp": item["created_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "request_id": item["request_id"],
        "route": item["model"],
        "upstream": item["upstream"],
        "endpoint": item["endpoint"],
        "status": item["status"],
        "latency_ms": item["latency_ms"],
        "ttft_ms": item["ttft_ms"],
        "tokens": {"prompt": item["prompt_tokens"], "completion": item["completion_tokens"]},
        "cost": item["cost"],
        "cache": item["cache"],
        "user": item["username"],
        "api_key_prefix": item["api_key_prefix"],
        "request": item["request"],
        "response": item["response"],
    }


def _nanos(at: datetime) -> str:
    return str((at - EPOCH) // timedelta(microseconds=1) * 1000)


def _value(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}  # OTLP/JSON writes 64-bit integers as strings
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def _severity(status: int) -> tuple[int, str]:
    return (17, "ERROR") if status >= 500 else (13, "WARN") if status >= 400 else (9, "INFO")


def otlp_record(item: dict) -> dict:
    """One request as an OTLP log record: the masked text is the body, the rest attributes."""
    rec = line(item)
    nanos = _nanos(item["created_at"])
    number, severity = _severity(rec["status"])
    body = (
        orjson.dumps({"request": rec["request"], "response": rec["response"]}).decode()
        if rec["request"] is not None
        else f"{rec['endpoint']} {rec['route']} {rec['status']}"
    )
    attributes = {
        "axops.request_id": rec["request_id"],
        "axops.route": rec["route"],
        "axops.upstream": rec["upstream"],
        "axops.endpoint": rec["endpoint"],
        "http.response.status_code": rec["status"],
        "axops.latency_ms": float(rec["latency_ms"]),
        "gen_ai.usage.input_tokens": rec["tokens"]["prompt"],
        "gen_ai.usage.output_tokens": rec["tokens"]["completion"],
        "axops.cost": float(rec["cost"]),
        "axops.cache": rec["cache"],
        "user.name": rec["user"],
        "axops.api_key_prefix": rec["api_key_prefix"],
    }
    return {
        "timeUnixNano": nanos,
        "observedTimeUnixNano": nanos,
        "severityNumber": number,
        "severityText": severity,
        "body": {"stringValue": body},
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items() if v is not None],
    }


def otlp_request(records: Iterable[dict]) -> dict:
    """An OTLP/JSON ExportLogsServiceRequest holding these log records."""
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "axops-gateway"}}]},
                "scopeLogs": [{"scope": {"name": "axops.gateway.request_log"}, "logRecords": list(records)}],
            }
        ]
    }


def bounds(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    until = until or now
    since = since or until - timedelta(hours=1)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    if since >= until:
        raise Invalid("`from` must be before `to`.")
    if until - since > MAX_SPAN:
        raise Invalid("An export covers at most 92 days.", code="request_log_export_range", max_days=MAX_SPAN.days)
    return since, until


_PAGE = f"""SELECT {request_logs._COLUMNS} {request_logs._FROM}
WHERE u.created_at >= :since AND u.created_at < :until AND (u.created_at, u.id) > (:c_at, :c_id)
ORDER BY u.created_at, u.id LIMIT :limit"""


async def export(
    sessionmaker: async_sessionmaker, since: datetime, until: datetime, fmt: Format, batch: int = BATCH
) -> AsyncIterator[bytes]:
    """Every request from `since` to `until`, oldest first, page by page (one short transaction each)."""
    cursor = (since - timedelta(microseconds=1), uuid.UUID(int=0))
    while True:
        params = {"since": since, "until": until, "c_at": cursor[0], "c_id": cursor[1], "limit": batch}
        async with sessionmaker() as session:
            rows = (await session.execute(text(_PAGE), params)).mappings().all()
        if not rows:
            return
        items = [request_logs._item(r) for r in rows]
        if fmt == "jsonl":
            yield b"".join(orjson.dumps(line(i)) + b"\n" for i in items)
        else:
            yield orjson.dumps(otlp_request(otlp_record(i) for i in items)) + b"\n"
        if len(rows) < batch:
            return
        cursor = (rows[-1]["created_at"], rows[-1]["id"])


def register(router: APIRouter) -> None:
    """Add the export route (before `/gateway/logs/{log_id}`, which would take `export` for an id)."""

    @router.get(
        "/gateway/logs/export",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines or OTLP/JSON lines"}},
    )
    async def export_request_logs(
        principal: Annotated[Principal, require("gateway:admin")],
        db: Db,
        format: Format = "jsonl",
        from_: Annotated[datetime | None, Query(alias="from", description="Default: an hour before `to`")] = None,
        to: Annotated[datetime | None, Query(description="Default: now")] = None,
    ) -> StreamingResponse:
        """Every gateway request from `from` to `to` (at most 92 days), oldest first, with the masked
        text of keys that log content: JSON lines, or OTLP/JSON ExportLogsServiceRequests one per line."""
        since, until = bounds(from_, to, datetime.now(UTC))
        summary = {"format": format, "from": since.isoformat(), "to": until.isoformat()}
        await audit.record_now(db.sessionmaker, "request_log.export", summary=summary)
        name = f"axops-request-logs-{since:%Y%m%dT%H%M}.{'jsonl' if format == 'jsonl' else 'otlp.jsonl'}"
        return StreamingResponse(
            export(db.sessionmaker, since, until, format),
            media_type="application/x-ndjson",
            headers={"content-disposition": content_disposition(name)},
        )


# --- the command line (axops logs export) --------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([smhd])$")


def parse_duration(value: str) -> timedelta:
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError("a duration is a number and s, m, h or d (e.g. 90m, 1h, 7d)")
    return timedelta(seconds=int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]])


def loki_push_body(lines: list[bytes]) -> dict:
    """JSON lines as Loki's push API body: one stream per route, the line as the log line."""
    streams: dict[str, list] = {}
    for raw in lines:
        rec = orjson.loads(raw)
        at = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00"))
        nanos = _nanos(at)
        streams.setdefault(rec["route"], []).append([nanos, raw.decode()])
    return {"streams": [{"stream": {"job": "axops-gateway", "route": r}, "values": v} for r, v in streams.items()]}


def cli_export(
    *, url: str, api_key: str | None, fmt: Format, since: str, output: str, push: str | None, timeout_s: float = 60
) -> int:
    """Fetch the export and write it to `output` (- for stdout) or push it; returns an exit code."""
    now = datetime.now(UTC)
    params = {"format": fmt, "from": (now - parse_duration(since)).isoformat(), "to": now.isoformat()}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    sent = 0
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s) as http:
        with http.stream("GET", "/api/gateway/logs/export", params=params) as response:
            if response.status_code != 200:
                response.read()
                print(f"error: {response.status_code} {response.text[:500]}", file=sys.stderr)
                return 2
            lines = (raw.encode() for raw in response.iter_lines() if raw)
            if push is None:
                out = sys.stdout.buffer if output == "-" else open(output, "wb")
                try:
                    for raw in lines:
                        out.write(raw + b"\n")
                        sent += 1
                finally:
                    if out is not sys.stdout.buffer:
                        out.close()
            else:
                with httpx.Client(timeout=timeout_s) as target:
                    chunk: list[bytes] = []
                    for raw in lines:
                        if fmt == "otlp":  # each line is a whole OTLP/HTTP request body
                            target.post(
                                push, content=raw, headers={"content-type": "application/json"}
                            ).raise_for_status()
                            sent += 1
                            continue
                        chunk.append(raw)
                        if len(chunk) >= BATCH:
                            target.post(push, json=loki_push_body(chunk)).raise_for_status()
                            sent, chunk = sent + len(chunk), []
                    if chunk:
                        target.post(push, json=loki_push_body(chunk)).raise_for_status()
                        sent += len(chunk)
    print(f"exported {sent} {'lines' if fmt == 'jsonl' else 'OTLP requests'}", file=sys.stderr)
    return 0
