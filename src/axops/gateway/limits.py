"""Rate limits (requests and tokens per minute, token buckets) and monthly budgets for API keys,
users and teams.

Buckets live in process, or in Redis when `AXOPS_REDIS_URL` is set so that every gateway replica
draws from the same bucket (one Lua script per take: atomic, one round trip). Budgets compare the
month's spend — summed from usage records every few seconds, plus what this process has spent
since, or with Redis the month's counter there that every replica adds to — with the limit; crossing the warning threshold raises an audit event once a month."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from axops.core import shared
from axops.settings import get_settings

SCOPES = ("key", "user", "team")


@dataclass(frozen=True)
class Policy:
    scope: str
    subject_id: uuid.UUID
    rpm: int | None
    tpm: int | None
    monthly_budget: float | None
    warn_ratio: float


class LocalBuckets:
    """Token buckets in this process's memory."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    async def take(self, key: str, capacity: float, per_second: float, cost: float) -> float:
        """Take `cost` tokens if there are enough; else 0 taken and the seconds until there will be."""
        now = time.monotonic()
        tokens, last = self._state.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * per_second)
        if tokens >= cost:
            self._state[key] = (tokens - cost, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (cost - tokens) / per_second

    async def charge(self, key: str, capacity: float, per_second: float, cost: float) -> None:
        self.charge_now(key, capacity, per_second, cost)

    def charge_now(self, key: str, capacity: float, per_second: float, cost: float) -> None:
        """Take tokens unconditionally (may go below zero): the real token count after the fact."""
        now = time.monotonic()
        tokens, last = self._state.get(key, (capacity, now))
        self._state[key] = (min(capacity, tokens + (now - last) * per_second) - cost, now)


_LUA = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or ARGV[3])
local capacity, rate, now, cost, force = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= cost or force == '1' then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tokens, 'l', now)
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


# ARGV: "add" or "max", the keys' lifetime, then key, value pairs: add the value, or raise to it.
_SPEND_LUA = """
for i = 3, #ARGV, 2 do
  local key, value = ARGV[i], tonumber(ARGV[i + 1])
  if ARGV[1] == 'add' then
    redis.call('INCRBYFLOAT', key, value)
  elseif tonumber(redis.call('GET', key) or '0') < value then
    redis.call('SET', key, value)
  end
  redis.call('EXPIRE', key, ARGV[2])
end
return 1
"""
_SPEND_TTL_S = 40 * 86400


class RedisBuckets:
    """The same buckets in Redis, shared by every replica. While Redis cannot be reached the
    buckets of this process take over (`AXOPS_REDIS_FAIL_OPEN`, the default: each replica then
    limits on its own), or `take` raises `shared.Unavailable` and the request is refused."""

    def __init__(self, url: str, fail_open: bool = True) -> None:
        self.url = url
        self.fail_open = fail_open
        self.local = LocalBuckets()

    async def _run(self, key: str, capacity: float, per_second: float, cost: float, force: bool) -> float:
        args = [capacity, per_second, time.time(), cost, "1" if force else "0"]
        wait = await shared.get(self.url).call(lambda c: c.eval(_LUA, 1, f"axops:bucket:{key}", *args))
        return float(wait)

    async def take(self, key: str, capacity: float, per_second: float, cost: float) -> float:
        try:
            return await self._run(key, capacity, per_second, cost, False)
        except shared.Unavailable:
            if not self.fail_open:
                raise
            return await self.local.take(key, capacity, per_second, cost)

    async def charge(self, key: str, capacity: float, per_second: float, cost: float) -> None:
        try:
            await self._run(key, capacity, per_second, cost, True)
        except shared.Unavailable:
            self.local.charge_now(key, capacity, per_second, cost)

    async def close(self) -> None:
        await shared.close(self.url)


class Limits:
    """Policies (loaded with the route table), buckets and budget spend."""

    def __init__(
        self, redis_url: str | None = None, spend_refresh_s: float = 5.0, fail_open: bool | None = None
    ) -> None:
        if fail_open is None:
            fail_open = get_settings().redis_fail_open
        self.buckets = RedisBuckets(redis_url, fail_open) if redis_url else LocalBuckets()
        self.policies: dict[tuple[str, uuid.UUID], Policy] = {}
        self.spent: dict[tuple[str, uuid.UUID], float] = {}  # this month, from the database
        self.local_spend: dict[tuple[str, uuid.UUID], float] = {}  # this process, since the last refresh
        self.warned: set[tuple[str, uuid.UUID, str]] = set()
        self.spend_refresh_s = spend_refresh_s
        self._spend_at = 0.0
        self._lock = asyncio.Lock()

    async def load(self, session) -> None:
        rows = await session.execute(
            text("SELECT scope, subject_id, rpm, tpm, monthly_budget, warn_ratio FROM gateway_limits")
        )
        self.policies = {
            (r.scope, r.subject_id): Policy(r.scope, r.subject_id, r.rpm, r.tpm, r.monthly_budget, r.warn_ratio)
            for r in rows
        }
        self._spend_at = 0.0

    def applicable(self, principal) -> list[Policy]:
        subjects = [
            ("key", principal.api_key_id),
            ("user", principal.user_id),
            *(("team", t) for t in principal.team_ids),
        ]
        return [p for s in subjects if s[1] is not None and (p := self.policies.get(s))]

    async def refresh_spend(self, db) -> None:
        """The month's spend of every subject with a budget, at most every few seconds."""
        if time.monotonic() - self._spend_at < self.spend_refresh_s:
            return
        async with self._lock:
            if time.monotonic() - self._spend_at < self.spend_refresh_s:
                return
            month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            spent: dict[tuple[str, uuid.UUID], float] = {}
            if any(p.monthly_budget is not None for p in self.policies.values()):
                async with db.sessionmaker() as session:
                    for scope, column in (("key", "api_key_id"), ("user", "user_id"), ("team", "team_id")):
                        rows = await session.execute(
                            text(
                                f"SELECT {column} AS subject, sum(cost) AS cost FROM usage_records "
                                f"WHERE created_at >= :month AND {column} IS NOT NULL GROUP BY {column}"
                            ),
                            {"month": month},
                        )
                        spent.update({(scope, r.subject): float(r.cost or 0) for r in rows})
            self.spent, self.local_spend, self._spend_at = spent, {}, time.monotonic()
        budgeted = {(p.scope, p.subject_id) for p in self.policies.values() if p.monthly_budget is not None}
        await self._add_shared_spend({k: v for k, v in spent.items() if k in budgeted}, at_least=True)

    # With Redis, the month's spend of each subject is also a counter there that every replica adds
    # its answers' cost to at once; the database sum (refreshed every few seconds) only raises it,
    # which repairs a counter lost with Redis. Without Redis, or while it is down: this process's view.
    @staticmethod
    def _spend_key(scope: str, subject_id: uuid.UUID) -> str:
        return f"axops:spend:{datetime.now(UTC):%Y-%m}:{scope}:{subject_id}"

    async def _shared_spend(self, policies: list[Policy]) -> dict[tuple[str, uuid.UUID], float]:
        if not isinstance(self.buckets, RedisBuckets):
            return {}
        keys = [self._spend_key(p.scope, p.subject_id) for p in policies]
        try:
            values = await shared.get(self.buckets.url).call(lambda c: c.mget(keys))
        except shared.Unavailable:
            return {}
        return {(p.scope, p.subject_id): float(v or 0) for p, v in zip(policies, values, strict=True)}

    async def _add_shared_spend(self, items: dict[tuple[str, uuid.UUID], float], at_least: bool) -> None:
        if not isinstance(self.buckets, RedisBuckets) or not items:
            return
        args = [x for (scope, sid), v in items.items() for x in (self._spend_key(scope, sid), v)]
        with contextlib.suppress(shared.Unavailable):
            await shared.get(self.buckets.url).call(
                lambda c: c.eval(_SPEND_LUA, 0, "max" if at_least else "add", _SPEND_TTL_S, *args)
            )

    def spend_of(self, policy: Policy) -> float:
        key = (policy.scope, policy.subject_id)
        return self.spent.get(key, 0.0) + self.local_spend.get(key, 0.0)

    async def admit(self, policies: list[Policy], estimated_tokens: int) -> tuple[str, float] | None:
        """None when the request may go; else (why, seconds to wait — 0 for a spent budget)."""
        budgeted = [p for p in policies if p.monthly_budget is not None]
        spend = await self._shared_spend(budgeted) if budgeted else {}
        for p in budgeted:
            used = max(self.spend_of(p), spend.get((p.scope, p.subject_id), 0.0))
            if p.monthly_budget is not None and used >= p.monthly_budget:
                return (
                    f"The monthly budget of {p.monthly_budget:g} for this {p.scope} is spent "
                    f"({used:.4f} used); it resets on the 1st (UTC), or an admin can raise it."
                ), 0.0
        try:
            return await self._take(policies, estimated_tokens)
        except shared.Unavailable:  # Redis down and AXOPS_REDIS_FAIL_OPEN=false
            return "Rate limits cannot be checked right now (the shared limit store is unavailable).", 5.0

    async def _take(self, policies: list[Policy], estimated_tokens: int) -> tuple[str, float] | None:
        for p in policies:
            if p.rpm:
                wait = await self.buckets.take(f"rpm:{p.scope}:{p.subject_id}", p.rpm, p.rpm / 60, 1)
                if wait:
                    return f"Rate limit of {p.rpm} requests per minute for this {p.scope} reached.", wait
            if p.tpm:
                wait = await self.buckets.take(
                    f"tpm:{p.scope}:{p.subject_id}", p.tpm, p.tpm / 60, min(estimated_tokens, p.tpm)
                )
                if wait:
                    return f"Rate limit of {p.tpm} tokens per minute for this {p.scope} reached.", wait
        return None

    def settle_tokens_now(self, policies: list[Policy], estimated_tokens: int, actual_tokens: int) -> bool:
        """The token correction without a task, when it needs no I/O (in-process buckets, no budget)."""
        if not isinstance(self.buckets, LocalBuckets) or any(p.monthly_budget is not None for p in policies):
            return False
        for p in policies:
            if p.tpm and actual_tokens != estimated_tokens:
                self.buckets.charge_now(
                    f"tpm:{p.scope}:{p.subject_id}", p.tpm, p.tpm / 60, actual_tokens - min(estimated_tokens, p.tpm)
                )
        return True

    async def settle(
        self, policies: list[Policy], estimated_tokens: int, actual_tokens: int, cost: float
    ) -> list[Policy]:
        """After the answer: charge the token difference and the cost; returns policies whose budget
        just crossed its warning threshold (each reported once a month)."""
        crossed = []
        month = datetime.now(UTC).strftime("%Y-%m")
        if cost:
            budgeted = {(p.scope, p.subject_id): cost for p in policies if p.monthly_budget is not None}
            await self._add_shared_spend(budgeted, at_least=False)
        for p in policies:
            if p.tpm and actual_tokens != estimated_tokens:
                await self.buckets.charge(
                    f"tpm:{p.scope}:{p.subject_id}", p.tpm, p.tpm / 60, actual_tokens - min(estimated_tokens, p.tpm)
                )
            if p.monthly_budget is not None and cost:
                key = (p.scope, p.subject_id)
                self.local_spend[key] = self.local_spend.get(key, 0.0) + cost
                if (
                    self.spend_of(p) >= p.monthly_budget * p.warn_ratio
                    and (p.scope, p.subject_id, month) not in self.warned
                ):
                    self.warned.add((p.scope, p.subject_id, month))
                    crossed.append(p)
        return crossed


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
