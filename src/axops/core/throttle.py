"""Login throttling: failed attempts per (username, client IP) with exponential backoff, and per
client IP in a sliding window; and the same window for wrong two-factor codes per user.

Failures are keyed on the username *and* the address they came from, so someone guessing from
elsewhere slows down only their own attempts and can never lock the real user out. One address
guessing many usernames is stopped by the per-IP window.

With `AXOPS_REDIS_URL` the windows live in Redis (a sorted set of failure times per key, each
operation one Lua script, so atomic) and every replica counts the same failures; keys are hashed
so no username or address is stored there. Without it, or while Redis cannot be reached, each
process keeps its own window — still throttled, per replica (docs/OPERATIONS.md)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import defaultdict, deque

from axops.core import shared

BACKOFF_BASE_SECONDS = 30

_redis_url: str | None = None


def configure(redis_url: str | None) -> None:
    """Where every window of this process is shared (None: in process). Set once at start-up."""
    global _redis_url
    _redis_url = redis_url


_STATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then return {0, '0', '0'} end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
return {n, first[2], last[2]}
"""
_FAIL = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""


class FailureWindow:
    """Failures per key in a sliding window. Without `backoff_base` a key is blocked until its
    oldest failure leaves the window; with it, each failure past the limit doubles the wait after
    the latest one (base, 2×base, 4×base… at most the window)."""

    def __init__(
        self, max_failures: int, window_seconds: int, backoff_base: float | None = None, name: str = "window"
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.backoff_base = backoff_base
        self.name = name
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    # --- the arithmetic, the same for both stores ---
    def _wait(self, count: int, first: float, last: float, now: float) -> int:
        over = count - self.max_failures
        if over < 0:
            return 0
        if self.backoff_base is None:
            until = first + self.window
        else:
            until = last + min(self.window, self.backoff_base * 2**over)
        return max(0, int(until - now + 0.999))

    # --- in process ---
    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
        return q

    def _local_retry_after(self, key: str) -> int:
        now = time.monotonic()
        q = self._prune(key, now)
        return self._wait(len(q), q[0], q[-1], now) if q else 0

    # --- shared ---
    def _redis_key(self, key: str) -> str:
        return f"axops:throttle:{self.name}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def retry_after(self, key: str) -> int:
        """Seconds until the next attempt is allowed; 0 when allowed now."""
        if _redis_url:
            redis = shared.get(_redis_url)
            now = time.time()
            try:
                n, first, last = await redis.call(lambda c: c.eval(_STATE, 1, self._redis_key(key), now - self.window))
            except shared.Unavailable:
                return self._local_retry_after(key)
            return self._wait(int(n), float(first), float(last), now) if int(n) else 0
        return self._local_retry_after(key)

    async def fail(self, key: str) -> None:
        if _redis_url:
            member = f"{time.time():.6f}:{uuid.uuid4().hex[:8]}"
            try:
                await shared.get(_redis_url).call(
                    lambda c: c.eval(_FAIL, 1, self._redis_key(key), time.time(), member, self.window)
                )
                return
            except shared.Unavailable:
                pass
        self._failures[key].append(time.monotonic())

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)
        if _redis_url:
            try:
                await shared.get(_redis_url).call(lambda c: c.delete(self._redis_key(key)))
            except shared.Unavailable:
                pass


class LoginThrottle:
    def __init__(self, per_user: int, per_ip: int, window_seconds: int) -> None:
        self.user_at_ip = FailureWindow(per_user, window_seconds, backoff_base=BACKOFF_BASE_SECONDS, name="login")
        self.ips = FailureWindow(per_ip, window_seconds, name="login_ip")

    @staticmethod
    def _key(username: str, ip: str | None) -> str:
        return f"{username.lower()}\x00{ip or '-'}"

    async def retry_after(self, username: str, ip: str | None) -> int:
        return max(await self.user_at_ip.retry_after(self._key(username, ip)), await self.ips.retry_after(ip or "-"))

    async def failed(self, username: str, ip: str | None) -> None:
        await self.user_at_ip.fail(self._key(username, ip))
        await self.ips.fail(ip or "-")

    async def succeeded(self, username: str, ip: str | None) -> None:
        await self.user_at_ip.clear(self._key(username, ip))
