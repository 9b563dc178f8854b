"""Login throttling: failed attempts per (username, client IP) with exponential backoff, and per
client IP in a sliding window.

Failures are keyed on the username *and* the address they came from, so someone guessing from
elsewhere slows down only their own attempts and can never lock the real user out. One address
guessing many usernames is stopped by the per-IP window.

In process, which is exact for one API process (the single-machine setup). Several replicas
each keep their own window; a shared Redis window arrives with the gateway's limiter.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

BACKOFF_BASE_SECONDS = 30


class FailureWindow:
    """Failures per key in a sliding window. Without `backoff_base` a key is blocked until its
    oldest failure leaves the window; with it, each failure past the limit doubles the wait after
    the latest one (base, 2×base, 4×base… at most the window)."""

    def __init__(self, max_failures: int, window_seconds: int, backoff_base: float | None = None) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.backoff_base = backoff_base
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
        return q

    def retry_after(self, key: str) -> int:
        """Seconds until the next attempt is allowed; 0 when allowed now."""
        now = time.monotonic()
        q = self._prune(key, now)
        over = len(q) - self.max_failures
        if over < 0:
            return 0
        if self.backoff_base is None:
            until = q[0] + self.window
        else:
            until = q[-1] + min(self.window, self.backoff_base * 2**over)
        return max(0, int(until - now + 0.999))

    def fail(self, key: str) -> None:
        self._failures[key].append(time.monotonic())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    def __init__(self, per_user: int, per_ip: int, window_seconds: int) -> None:
        self.user_at_ip = FailureWindow(per_user, window_seconds, backoff_base=BACKOFF_BASE_SECONDS)
        self.ips = FailureWindow(per_ip, window_seconds)

    @staticmethod
    def _key(username: str, ip: str | None) -> str:
        return f"{username.lower()}\x00{ip or '-'}"

    def retry_after(self, username: str, ip: str | None) -> int:
        return max(self.user_at_ip.retry_after(self._key(username, ip)), self.ips.retry_after(ip or "-"))

    def failed(self, username: str, ip: str | None) -> None:
        self.user_at_ip.fail(self._key(username, ip))
        self.ips.fail(ip or "-")

    def succeeded(self, username: str, ip: str | None) -> None:
        self.user_at_ip.clear(self._key(username, ip))
