"""Sending alert notifications to channels (placeholder: the channels work fills this in)."""

from __future__ import annotations

from datetime import datetime

from axops.core.db import Database


async def dispatch(db: Database, now: datetime | None = None) -> int:
    """Send what is due: new notifications to each of their channels, failed deliveries whose retry time
    has come. Returns the deliveries attempted."""
    return 0
