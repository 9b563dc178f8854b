"""Judging a canary from its replicas' own request figures (errors and latency over a window)."""

from __future__ import annotations


def judge(policy: dict, windows: list[dict]) -> str | None:
    """The reason to roll back, or None. `windows`: per ready replica {"requests", "errors", "p95_ms"}
    over the policy's window; judged once the window holds `min_requests` requests — or after three
    requests that all failed, since the gateway's circuit breaker sends a failing upstream no more
    than that until it cools down."""
    requests = sum(int(w.get("requests", 0)) for w in windows)
    errors = sum(int(w.get("errors", 0)) for w in windows)
    if not policy or (requests < int(policy.get("min_requests", 10)) and not (errors >= 3 and errors == requests)):
        return None
    rate = errors / requests
    if rate > float(policy.get("max_error_rate", 0.2)):
        return f"error rate {rate:.0%} over the last {policy.get('window_s', 60)} s ({errors} of {requests}) exceeds {policy['max_error_rate']:.0%}"
    limit = policy.get("max_p95_ms")
    p95 = max((float(w["p95_ms"]) for w in windows if w.get("p95_ms") is not None), default=None)
    if limit and p95 is not None and p95 > float(limit):
        return f"p95 latency {p95:.0f} ms over the last {policy.get('window_s', 60)} s exceeds {float(limit):.0f} ms"
    return None
