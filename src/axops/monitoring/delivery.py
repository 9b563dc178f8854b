"""Sending alert notifications to channels, with retries.

`dispatch` runs every 15 s (delivery_tasks.py) and right after the alert engine commits notifications:
1. every notification of the last day gets one `alert_deliveries` row per channel it names that still
   exists (`INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so two workers make each row once);
2. due rows (pending, `next_attempt_at` passed) are claimed with `FOR UPDATE SKIP LOCKED` and leased
   (`next_attempt_at` moved `LEASE` ahead) in one short transaction, so another worker skips them and a
   worker that dies mid-send leaves them to be retried after the lease;
3. they are sent concurrently (each send at most senders.TIMEOUT_S), and each outcome is written:
   sent, or retried after BACKOFF[attempt - 1], or failed after the last attempt.
A bad channel (unreachable, refused address, lost secret) fails its own delivery, never the loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import column, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from axops.auth.scoping import team_ids_param
from axops.core.db import Database
from axops.core.logging import event
from axops.core.pagination import decode_cursor, page_of
from axops.monitoring import senders
from axops.monitoring.channel_models import AlertChannel
from axops.monitoring.channels import read_secrets

log = logging.getLogger("axops.monitoring.delivery")

BACKOFF = (timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(seconds=60)
BATCH = 200
NOTIFICATION_WINDOW = timedelta(days=1)  # older notifications are not sent to channels added since


@dataclass
class _Config:
    secret_key: str | None = None
    allowed_networks: Any = None  # a Settings-like object read at each dispatch, or None


_config = _Config()


def configure(secret_key: str, settings: Any) -> None:
    """The process's key for channel secrets and its settings (AXOPS_ALERT_ALLOWED_NETWORKS), set when
    the app or the worker starts, so callers of `dispatch` need only the database."""
    _config.secret_key = secret_key
    _config.allowed_networks = settings


def _resolved() -> tuple[str, str]:
    if _config.secret_key is None:
        from axops.settings import get_settings

        settings = get_settings()
        configure(settings.resolved_secret_key(), settings)
    return _config.secret_key or "", getattr(_config.allowed_networks, "alert_allowed_networks", "")


_CREATE_SQL = """
INSERT INTO alert_deliveries (id, notification_id, channel_id, team_id, status, attempts, next_attempt_at,
                              created_at, updated_at)
SELECT gen_random_uuid(), n.id, c.id, c.team_id, 'pending', 0, :now, :now, :now
FROM alert_notifications n
CROSS JOIN LATERAL unnest(n.channel_ids) AS wanted(id)
JOIN alert_channels c ON c.id = wanted.id
WHERE n.created_at >= :since
  AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.notification_id = n.id AND d.channel_id = c.id)
ON CONFLICT (notification_id, channel_id) DO NOTHING
"""

_CLAIM_SQL = """
UPDATE alert_deliveries d SET attempts = d.attempts + 1, next_attempt_at = :lease, updated_at = :now
WHERE d.id IN (
    SELECT id FROM alert_deliveries
    WHERE status = 'pending' AND next_attempt_at <= :now
    ORDER BY next_attempt_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
RETURNING d.id, d.notification_id, d.channel_id, d.attempts
"""

_RECORD_SQL = """
UPDATE alert_deliveries SET status = :status, next_attempt_at = :next, last_error = :error,
       response_status = :code, sent_at = :sent_at, updated_at = :now
WHERE id = :id
"""


async def dispatch(db: Database, now: datetime | None = None) -> int:
    """Send what is due: new notifications to each of their channels, failed deliveries whose retry time
    has come. Returns the deliveries attempted."""
    now = now or datetime.now(UTC)
    key, networks = _resolved()
    async with db.sessionmaker() as session:
        await session.execute(text(_CREATE_SQL), {"now": now, "since": now - NOTIFICATION_WINDOW})
        claimed = (await session.execute(text(_CLAIM_SQL), {"now": now, "lease": now + LEASE, "batch": BATCH})).all()
        await session.commit()
        if not claimed:
            return 0
        channel_ids = list({row.channel_id for row in claimed})
        channels = {
            c.id: c for c in await session.scalars(select(AlertChannel).where(AlertChannel.id.in_(channel_ids)))
        }
        notifications = text("SELECT id, payload FROM alert_notifications WHERE id = ANY(:ids)").columns(
            column("id", UUID(as_uuid=True)), column("payload", JSONB)
        )
        ids = list({row.notification_id for row in claimed})
        payloads = {r.id: r.payload for r in (await session.execute(notifications, {"ids": ids})).all()}
        await session.commit()
    allowed = senders.parse_networks(networks)

    async def one(row) -> tuple[Any, senders.Outcome]:
        channel = channels.get(row.channel_id)
        payload = payloads.get(row.notification_id)
        if channel is None or payload is None:
            return row, senders.Outcome(False, None, "The channel or the notification was deleted.")
        try:
            secrets = read_secrets(channel, key)
        except Exception:
            secrets = {}
        try:
            outcome = await asyncio.wait_for(
                senders.send(client, channel.kind, channel.config, secrets, payload, allowed),
                senders.TIMEOUT_S * 2.5,
            )
        except TimeoutError:
            outcome = senders.Outcome(False, None, f"timed out after {senders.TIMEOUT_S * 2.5:g} s")
        return row, outcome

    async with httpx.AsyncClient(follow_redirects=False) as client:
        results = await asyncio.gather(*(one(row) for row in claimed))
    async with db.sessionmaker() as session:
        for row, outcome in results:
            await session.execute(text(_RECORD_SQL), _record(row.id, row.attempts, outcome, now))
        await session.commit()
    failed = sum(1 for _, outcome in results if not outcome.ok)
    event(log, "alerts.delivered", attempted=len(results), failed=failed)
    return len(results)


def _record(delivery_id, attempts: int, outcome: senders.Outcome, now: datetime) -> dict:
    values: dict[str, Any] = {"id": delivery_id, "now": now, "code": outcome.status, "error": outcome.error}
    if outcome.ok:
        return {**values, "status": "sent", "next": None, "sent_at": now, "error": None}
    if attempts >= MAX_ATTEMPTS:
        return {**values, "status": "failed", "next": None, "sent_at": None}
    return {**values, "status": "pending", "next": now + BACKOFF[attempts - 1], "sent_at": None}


# --- reads --------------------------------------------------------------------------------------------

_RECENT_SQL = """
SELECT d.id, d.notification_id, d.channel_id, c.name AS channel_name, c.kind AS channel_kind, d.status,
       d.attempts, d.next_attempt_at, d.last_error, d.response_status, d.sent_at, d.created_at,
       n.payload->>'rule_name' AS rule_name, n.status AS notification_status
FROM alert_deliveries d
JOIN alert_channels c ON c.id = d.channel_id
LEFT JOIN alert_notifications n ON n.id = d.notification_id
WHERE (CAST(:teams AS uuid[]) IS NULL OR d.team_id = ANY(CAST(:teams AS uuid[])))
  AND (CAST(:status AS text) IS NULL OR d.status = :status)
  AND (CAST(:channel AS uuid) IS NULL OR d.channel_id = :channel)
  AND (CAST(:before_at AS timestamptz) IS NULL OR (d.created_at, d.id) < (:before_at, :before_id))
ORDER BY d.created_at DESC, d.id DESC
LIMIT :limit
"""


async def recent(session, principal, status: str | None, channel_id, cursor: str | None, limit: int) -> dict:
    """Deliveries to the caller's teams' channels (every one for an Admin), newest first."""
    before_at, before_id = decode_cursor(cursor) if cursor else (None, None)
    params = {
        "teams": team_ids_param(principal),
        "status": status,
        "channel": channel_id,
        "before_at": before_at,
        "before_id": before_id,
        "limit": limit + 1,
    }
    rows = (await session.execute(text(_RECENT_SQL), params)).mappings().all()
    items, next_cursor = page_of(list(rows), limit, key=lambda r: (r["created_at"], r["id"]))
    return {"items": [dict(r) for r in items], "next_cursor": next_cursor}
