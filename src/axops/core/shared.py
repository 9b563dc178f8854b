"""The Redis that several API replicas share (`AXOPS_REDIS_URL`): one client per process and event
loop, used by the gateway's limiter and exact cache and by the login and two-factor throttles.

Redis going away must not take the platform with it. Every call goes through `SharedRedis.call`,
which turns connection errors and timeouts into `Unavailable` and then skips Redis for a second
(no request waits on a dead server); the callers fall back — the throttles and, by default, the
limiter to this process's own counts, the cache to a miss. Calls resume by themselves when Redis
answers again: nothing to restart."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger("axops.shared")
T = TypeVar("T")

RETRY_AFTER_FAILURE_S = 1.0  # how long a failed call makes the others skip Redis


class Unavailable(Exception):
    """Redis could not be reached (or did not answer in time)."""


class SharedRedis:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Short timeouts and no retries: a caller that cannot reach Redis falls back at once.
        self.client = redis.from_url(
            url,
            socket_connect_timeout=0.5,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=10,
        )
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError, TimeoutError)
        self._down_until = 0.0
        self.down = False

    async def call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """`await fn(client)`, or `Unavailable` while Redis is down."""
        if self.down and time.monotonic() < self._down_until:
            raise Unavailable
        try:
            result = await fn(self.client)
        except self._errors as exc:
            if not self.down:
                log.warning("redis.unavailable", extra={"error": type(exc).__name__})
            self.down, self._down_until = True, time.monotonic() + RETRY_AFTER_FAILURE_S
            raise Unavailable from exc
        if self.down:
            log.warning("redis.recovered")
            self.down = False
        return result

    def script(self, source: str):
        return self.client.register_script(source)

    async def close(self) -> None:
        await self.client.aclose()


# One client per URL and event loop (a client's connections belong to the loop that opened them).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedRedis]] = weakref.WeakKeyDictionary()


def get(url: str) -> SharedRedis:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_loop:
        per_loop[url] = SharedRedis(url)
    return per_loop[url]


async def close(url: str) -> None:
    """Close this loop's client for `url` (the lifespan's end); a second call does nothing."""
    client = _clients.get(asyncio.get_running_loop(), {}).pop(url, None)
    if client is not None:
        await client.close()
