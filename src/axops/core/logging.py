"""Structured JSON logs on stdout, one event per line, with the request id bound from context."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

from axops import pii
from axops.core import context

# Values of these keys never reach a log line, whatever the caller passed.
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie", re.IGNORECASE)


def redact(value):
    """Secrets by key name; personal data (resident numbers, phones, e-mails, cards...) by content."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if _SECRET_KEYS.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return pii.redact(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = context.current()
        event = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": pii.redact(record.getMessage()),
        }
        if ctx.request_id:
            event["request_id"] = ctx.request_id
        if ctx.actor_id:
            event["user_id"] = ctx.actor_id
        fields = getattr(record, "fields", None)
        if fields:
            event.update(redact(fields))
        if record.exc_info:
            event["exc"] = pii.redact(self.formatException(record.exc_info))
        return orjson.dumps(event, default=str).decode()


def configure(level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields) -> None:
    """Log an event-style message (`user.created`) with structured fields."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})
