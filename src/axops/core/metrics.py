"""Prometheus metrics shared by every domain."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUEST_LATENCY = Histogram(
    "axops_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUDIT_EVENTS = Counter("axops_audit_events_total", "Audit events written", ["action"])
LOGIN_FAILURES = Counter("axops_login_failures_total", "Failed logins", ["reason"])


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(method, route, str(status)).observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
