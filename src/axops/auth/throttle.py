"""Login throttling: failed attempts per username and per client IP in a sliding window.

In process, which is exact for one API process (the single-machine setup). Several replicas
each keep their own window; a shared Redis window arrives with the gateway's limiter.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque


class FailureWindow:
    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
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
        if len(q) < self.max_failures:
            return 0
        return max(1, int(q[0] + self.window - now) + 1)

    def fail(self, key: str) -> None:
        self._failures[key].append(time.monotonic())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    def __init__(self, per_user: int, per_ip: int, window_seconds: int) -> None:
        self.users = FailureWindow(per_user, window_seconds)
        self.ips = FailureWindow(per_ip, window_seconds)

    def retry_after(self, username: str, ip: str | None) -> int:
        return max(self.users.retry_after(username.lower()), self.ips.retry_after(ip or "-"))

    def failed(self, username: str, ip: str | None) -> None:
        self.users.fail(username.lower())
        self.ips.fail(ip or "-")

    def succeeded(self, username: str) -> None:
        self.users.clear(username.lower())
