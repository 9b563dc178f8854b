"""Cache invalidation across processes: PostgreSQL NOTIFY on commit, LISTEN in every process.

Hot paths (auth, later the gateway) keep what they read in memory. A change publishes its topic
in its own transaction: PostgreSQL delivers the notification only if the change commits, and the
local process also drops its cache right after its commit (before the response is sent), so a
client never reads its own stale write. If the listening connection is lost, caches are bypassed
until it is back, then cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from axops.core.db import libpq_url

log = logging.getLogger("axops.notify")
CHANNEL = "axops_invalidate"

_handlers: dict[str, list[Callable[[], None]]] = defaultdict(list)
_listening = False


def subscribe(topic: str, handler: Callable[[], None]) -> None:
    if handler not in _handlers[topic]:
        _handlers[topic].append(handler)


def caching_allowed() -> bool:
    """Caches may serve only while the listener is connected (so they hear every change)."""
    return _listening


def _dispatch(topic: str) -> None:
    for handler in _handlers.get(topic, ()):
        handler()


def _dispatch_all() -> None:
    for topic in list(_handlers):
        _dispatch(topic)


async def publish(session: AsyncSession, topic: str) -> None:
    """Announce a change of `topic`, delivered to every process when the session commits."""
    await session.execute(text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic})
    hooks = session.info.setdefault("after_commit", [])
    if topic not in session.info.setdefault("published", set()):
        session.info["published"].add(topic)
        hooks.append(lambda: _dispatch(topic))


class Listener:
    def __init__(self, database_url: str) -> None:
        self.dsn = libpq_url(database_url)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        global _listening
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: _dispatch(payload))
                _dispatch_all()  # whatever happened while we were not listening
                _listening = True
                while not lost.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=15)
                    if not lost.is_set():
                        await conn.execute("SELECT 1")  # notice a dead connection promptly
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify.listener_lost", extra={"fields": {"error": type(exc).__name__}})
            finally:
                _listening = False
                _dispatch_all()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(1)

    async def stop(self) -> None:
        global _listening
        _listening = False
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
