"""In-memory cache of resolved principals, keyed by the bearer token.

Saves the token check's database round trip on every request. Entries live at most `ttl`
seconds and never past the token's own expiry; any change to users, teams, sessions or keys
clears the cache in every process (core.notify), and nothing is cached while the invalidation
listener is down.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from axops.core import notify

TOPIC = "auth"


class PrincipalCache:
    def __init__(self, ttl: float = 60.0, maxsize: int = 50_000) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, token: str) -> Any | None:
        entry = self._entries.get(token)
        if entry is None or not notify.caching_allowed():
            return None
        expires, value = entry
        if expires <= time.monotonic():
            self._entries.pop(token, None)
            return None
        return value

    def put(self, token: str, value: Any, generation: int, not_after: float | None = None) -> None:
        """Store unless the cache was cleared since `generation` was read (the value may be stale)."""
        if generation != self.generation or not notify.caching_allowed():
            return
        expires = time.monotonic() + self.ttl
        if not_after is not None:
            expires = min(expires, not_after)
        self._entries[token] = (expires, value)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


principals = PrincipalCache()
notify.subscribe(TOPIC, principals.clear)


async def invalidate(session: AsyncSession) -> None:
    """Call in any transaction that changes who someone is or what they may do."""
    await notify.publish(session, TOPIC)
