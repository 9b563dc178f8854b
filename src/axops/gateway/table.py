"""The routing table the hot path reads: routes and providers held in memory, reloaded when an
admin changes them (PostgreSQL NOTIFY on topic `gateway`), plus per-upstream live state —
in-flight count, latency moving average, circuit breaker."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy import select

from axops.core import crypto, notify
from axops.core.ids import parse_uuid
from axops.gateway.models import Provider, Route
from axops.gateway.providers import ADAPTERS, Adapter
from axops.gateway.schemas import effective_prices

TOPIC = "gateway"
FAILURES_TO_OPEN = 3
COOL_DOWN_S = 30.0


@dataclass
class Upstream:
    """One (provider, upstream model) pair and what we have seen of it."""

    key: str
    provider: str
    base_url: str
    model: str
    api_key: str | None
    timeout_s: float
    kind: str = "openai"
    api_version: str | None = None
    external: bool = False  # outside the organisation (the provider's flag): policy may keep requests off it
    in_flight: int = 0
    latency_ms: float | None = None  # exponentially weighted moving average
    failures: int = 0
    open_until: float = 0.0  # circuit open (cooling down) until this monotonic time
    probing: bool = False
    # What the routes list shows (this process's view): the last failure and when (wall clock), the last success.
    last_error: str | None = None  # a stable kind: connect, timeout, status, invalid_answer, stream_broken
    last_error_status: int | None = None  # the HTTP status of a `status` failure
    last_error_at: float | None = None
    last_ok_at: float | None = None
    # What calling it takes, from its provider kind's adapter: resolved here, once, not per request.
    adapter: Adapter = field(init=False, repr=False)
    urls: dict[str, str] = field(init=False, repr=False)  # endpoint → URL; an endpoint it cannot serve is absent
    headers: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.adapter = ADAPTERS[self.kind]
        self.urls = self.adapter.urls(self)
        self.headers = self.adapter.headers(self)

    def available(self, now: float) -> bool:
        """Closed, or cooled down and nobody is probing it yet (half-open: one trial request)."""
        if self.failures < FAILURES_TO_OPEN:
            return True
        return now >= self.open_until and not self.probing

    def succeeded(self, latency_ms: float | None = None) -> None:
        self.failures, self.probing = 0, False
        self.last_ok_at = time.time()
        if latency_ms is None:  # a health probe: no request latency to average in
            return
        self.latency_ms = latency_ms if self.latency_ms is None else 0.8 * self.latency_ms + 0.2 * latency_ms

    def failed(self, error: str = "error", status: int | None = None) -> None:
        self.failures += 1
        self.probing = False
        self.last_error, self.last_error_status, self.last_error_at = error, status, time.time()
        if self.failures >= FAILURES_TO_OPEN:
            self.open_until = time.monotonic() + COOL_DOWN_S

    @property
    def state(self) -> str:
        if self.failures < FAILURES_TO_OPEN:
            return "closed"
        return "half_open" if time.monotonic() >= self.open_until else "open"

    @property
    def health(self) -> str:
        """unknown (not called nor probed yet), healthy, failing (recent failures, circuit still
        closed), open (circuit open: skipped), half_open (cooled down: the next request is a trial)."""
        if self.failures >= FAILURES_TO_OPEN:
            return self.state
        if self.failures:
            return "failing"
        return "healthy" if self.last_ok_at is not None else "unknown"


@dataclass
class Target:
    upstream: Upstream
    weight: float = 1.0
    priority: int = 0
    input_price: float = 0.0  # per 1M tokens (explicit, or derived from a GPU-hour rate)
    output_price: float = 0.0
    tokenizer: str | None = None  # counts tokens when the upstream reports none (tokens.py)


@dataclass
class RouteEntry:
    id: str
    model_name: str
    strategy: str
    targets: list[Target]
    fallbacks: list[Target]
    max_prompt_chars: int | None
    timeout_s: float
    cache_ttl_s: int = 0
    team_id: uuid.UUID | None = (
        None  # only this team's members (and Admins) may call it; None: anyone with gateway:invoke
    )
    counter: itertools.count = field(default_factory=itertools.count)
    semantic: dict | None = None  # the semantic cache's settings (semantic_cache.py), as stored

    def usable_by(self, principal) -> bool:
        """In memory, on every call: the route's team against the caller's teams (as cached with the principal)."""
        return (
            self.team_id is None or principal.is_admin or self.team_id in principal.team_ids
        ) and principal.may_use_model(self.model_name)


def _order(route: RouteEntry, targets: list[Target]) -> list[Target]:
    """Targets of one priority level in the order the route's strategy prefers."""
    if len(targets) < 2:
        return list(targets)
    if route.strategy == "round_robin":
        i = next(route.counter) % len(targets)
        return targets[i:] + targets[:i]
    if route.strategy == "least_inflight":
        return sorted(targets, key=lambda t: t.upstream.in_flight)
    if route.strategy == "lowest_latency":  # unmeasured ones first, so each gets measured
        return sorted(targets, key=lambda t: t.upstream.latency_ms if t.upstream.latency_ms is not None else -1.0)
    if route.strategy == "lowest_cost":
        return sorted(targets, key=lambda t: t.input_price + t.output_price)
    # weighted random, without replacement: the first pick by weight, then the rest the same way
    pool, out = list(targets), []
    while pool:
        pick = random.choices(pool, weights=[max(t.weight, 0.0) or 1e-9 for t in pool])[0]
        pool.remove(pick)
        out.append(pick)
    return out


def plan(route: RouteEntry) -> list[Target]:
    """Every target to try, in order: by priority level, the strategy within a level, then the
    fallbacks. Upstreams whose circuit is open come last (still a last resort, not dropped)."""
    ordered: list[Target] = []
    for _, level in itertools.groupby(sorted(route.targets, key=lambda t: t.priority), key=lambda t: t.priority):
        ordered += _order(route, list(level))
    ordered += route.fallbacks
    now = time.monotonic()
    return [t for t in ordered if t.upstream.available(now)] + [t for t in ordered if not t.upstream.available(now)]


class RouteTable:
    def __init__(self, limits=None, tokenizers=None) -> None:
        self.limits = limits  # rate limits and budgets load with the routes
        self.tokenizers = tokenizers  # and the targets' tokenizers start loading in the background
        self.routes: dict[str, RouteEntry] = {}
        self.upstreams: dict[str, Upstream] = {}  # survive reloads, so breaker and latency state do
        self._stale = True
        self._loaded = False  # until the first load ends, requests wait for it (not an empty table: 404s)
        self._lock = asyncio.Lock()
        notify.subscribe(TOPIC, self.invalidate)

    def invalidate(self) -> None:
        self._stale = True

    async def ensure(self, db, secret: str) -> None:
        """Reload when stale (or when the invalidation listener is down, every time)."""
        if not self._stale and self._loaded and notify.caching_allowed():
            return
        async with self._lock:
            if self._stale or not self._loaded or not notify.caching_allowed():
                self._stale = False  # an invalidation during the load makes it stale again
                try:
                    await self._load(db, secret)
                except BaseException:
                    self._stale = True
                    raise
                self._loaded = True

    async def _load(self, db, secret: str) -> None:
        async with db.sessionmaker() as session:
            providers = {p.id: p for p in (await session.scalars(select(Provider))).all()}
            routes = (await session.scalars(select(Route).where(Route.enabled.is_(True)))).all()
            if self.limits is not None:
                await self.limits.load(session)

        def target(spec: dict) -> Target | None:
            provider = providers.get(parse_uuid(spec.get("provider_id")))
            if provider is None:
                return None
            key = f"{provider.name}/{spec['model']}"
            api_key = crypto.decrypt(secret, provider.credentials) if provider.credentials else None
            upstream = self.upstreams.get(key)
            settings = (provider.base_url.rstrip("/"), api_key, provider.timeout_s, provider.kind, provider.api_version)
            if (
                upstream is None
                or (upstream.base_url, upstream.api_key, upstream.timeout_s, upstream.kind, upstream.api_version)
                != settings
            ):
                upstream = Upstream(
                    key=key,
                    provider=provider.name,
                    base_url=settings[0],
                    model=spec["model"],
                    api_key=api_key,
                    timeout_s=provider.timeout_s,
                    kind=provider.kind,
                    api_version=provider.api_version,
                )
                self.upstreams[key] = upstream
            upstream.external = bool(provider.external)
            tokenizer = spec.get("tokenizer") or upstream.adapter.tokenizer(spec["model"])
            if tokenizer and self.tokenizers is not None:
                self.tokenizers.prepare(tokenizer)
            return Target(
                upstream,
                float(spec.get("weight", 1.0)),
                int(spec.get("priority", 0)),
                *effective_prices(spec),
                tokenizer,
            )

        table = {}
        for r in routes:
            targets = [t for t in map(target, r.targets) if t]
            fallbacks = [t for t in map(target, r.fallbacks) if t]
            table[r.model_name] = RouteEntry(
                str(r.id),
                r.model_name,
                r.strategy,
                targets,
                fallbacks,
                r.max_prompt_chars,
                r.timeout_s,
                r.cache_ttl_s,
                r.team_id if r.visibility == "team" else None,
                semantic=r.semantic_cache,
            )
        self.routes = table

    def usable(self, principal, model: str) -> RouteEntry | None:
        """The enabled route of `model` if this caller may use it; else None, as for an unknown model."""
        route = self.routes.get(model)
        return route if route is not None and route.usable_by(principal) else None


def failure_kind(exc: BaseException) -> str:
    """What went wrong calling an upstream, as the stable word the routes list shows (translated there)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return "connect"
    if isinstance(exc, ValueError | TypeError | aiohttp.ContentTypeError):
        return "invalid_answer"
    return "error"
