"""The gateway's Prometheus instruments. Labels stay bounded: route names and upstreams are
admin-defined; status as a class (2xx, 4xx, 5xx).

Hot path rule: `labels()` is not free, so the request path takes a label set's children from
`series()` (looked up once per label set) and the cache's from `CACHE_HITS`/`CACHE_MISSES`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("axops_gateway_requests_total", "Gateway requests", ["model", "upstream", "status"])
LATENCY = Histogram(
    "axops_gateway_latency_seconds",
    "Gateway request latency",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TTFT = Histogram(
    "axops_gateway_ttft_seconds",
    "Time to the first streamed byte",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKENS = Counter("axops_gateway_tokens_total", "Tokens through the gateway", ["model", "kind"])
COUNTED = Counter(
    "axops_gateway_tokens_counted_total",
    "Tokens the gateway counted itself (the upstream reported no usage)",
    ["model", "kind"],
)
CACHE_LOOKUPS = Counter("axops_gateway_cache_lookups_total", "Answer cache lookups", ["result"])
CACHE_HITS = CACHE_LOOKUPS.labels("hit")
CACHE_MISSES = CACHE_LOOKUPS.labels("miss")

_children: dict[tuple, tuple] = {}


def series(model: str, upstream: str, status_class: int) -> tuple:
    """(requests, latency, ttft, prompt tokens, completion tokens) children of one label set."""
    key = (model, upstream, status_class)
    found = _children.get(key)
    if found is None:
        found = _children[key] = (
            REQUESTS.labels(model, upstream, f"{status_class}xx"),
            LATENCY.labels(model),
            TTFT.labels(model),
            TOKENS.labels(model, "prompt"),
            TOKENS.labels(model, "completion"),
        )
    return found
