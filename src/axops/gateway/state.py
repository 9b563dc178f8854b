"""The gateway's process-wide state, built in the app's lifespan: the route table, limits, answer
cache, token counter, usage writers and the one pooled aiohttp session every upstream call goes
through; and the health loop that probes upstreams in the background."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import orjson

from axops.gateway import cache, semantic_cache
from axops.gateway.guarding import Guarding
from axops.gateway.limits import Limits
from axops.gateway.table import RouteTable, failure_kind
from axops.gateway.tokens import TokenCounter, Tokenizers
from axops.gateway.usage_writer import ContentLogWriter, UsageWriter

log = logging.getLogger("axops.gateway")


class Gateway:
    """Process-wide gateway state, built in the app's lifespan."""

    def __init__(
        self, db, secret: str, redis_url: str | None = None, health_interval_s: float = 15.0, storage=None
    ) -> None:
        self.db = db
        self.health_interval_s = health_interval_s
        self._health: asyncio.Task | None = None
        self.secret = secret
        self.limits = Limits(redis_url)
        self.tokenizers = Tokenizers(db, storage)
        self.counter = TokenCounter(self.tokenizers)
        self.table = RouteTable(self.limits, self.tokenizers)
        self.cache = cache.RedisCache(redis_url) if redis_url else cache.LocalCache()
        self.semantic = semantic_cache.SemanticCache()  # per process, also with Redis (docs/MONITORING.md)
        self.usage = UsageWriter(db)
        self.logs = ContentLogWriter(db, interval_s=1.0, batch=1000)
        self.guarding = Guarding(db)  # guardrail policies and the decisions they make
        self.client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
        self.client = aiohttp.ClientSession(
            connector=connector,
            json_serialize=lambda v: orjson.dumps(v).decode(),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
        )
        self.counter.start()
        self.usage.start()
        self.logs.start()
        self.guarding.start()
        if self.health_interval_s > 0:
            self._health = asyncio.create_task(self._health_loop())

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            try:
                await self.table.ensure(self.db, self.secret)
                await self.check_health()
            except Exception:  # a failed round is retried next interval; the gateway keeps serving
                log.exception("gateway.health_check_failed")

    async def check_health(self) -> dict[str, bool]:
        """Ask every upstream in use for its model list: failures count towards its circuit
        breaker, an answer closes the circuit — so a dead upstream is skipped before a client
        meets it, and a recovered one comes back without waiting for traffic."""
        upstreams = {t.upstream.key: t.upstream for r in self.table.routes.values() for t in [*r.targets, *r.fallbacks]}

        async def probe(up) -> bool:
            url = up.adapter.models_url(up)
            headers = {k: v for k, v in up.headers.items() if k != "Content-Type"}
            error, status = None, None
            try:
                async with self.client.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as r:
                    if r.status >= 500:
                        error, status = "status", r.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = failure_kind(exc)
            if error is None:
                up.succeeded()
            else:
                up.failed(error, status)
            return error is None

        results = await asyncio.gather(*(probe(up) for up in upstreams.values()))
        return dict(zip(upstreams, results, strict=True))

    async def stop(self) -> None:
        if self._health:
            self._health.cancel()
        await self.counter.stop()  # the calls still being counted, then their usage records are written
        await self.usage.stop()
        await self.logs.stop()
        await self.guarding.stop()
        if self.client:
            await self.client.close()
        for backend in (self.limits.buckets, self.cache):
            if hasattr(backend, "close"):
                await backend.close()
