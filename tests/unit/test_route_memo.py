"""The router that remembers its matches picks, for every route of the app, the route FastAPI's
ordinary scan picks: first when it scans, then from memory, and for another id in the same path."""

from __future__ import annotations

import re
import uuid

from starlette.routing import Match

from axops.app import create_app
from axops.core import route_memo

SAMPLES = {"uuid": lambda: str(uuid.uuid4()), "path": lambda: "dir/file.bin", "int": lambda: "7"}


def _concrete(path: str) -> str:
    def one(m: re.Match) -> str:
        return SAMPLES.get(m.group(2) or "", lambda: f"v{uuid.uuid4().hex[:6]}")()

    return re.sub(r"{(\w+)(?::(\w+))?}", one, path)


def _endpoints(routes) -> list[tuple[str, str]]:
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += _endpoints(inner.routes)
        elif getattr(route, "methods", None):
            found += [(method, route.path) for method in route.methods]
    return found


def _scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


def _scan(routes, scope):
    return next((r for r in routes if r.matches(scope)[0] == Match.FULL), None)


def test_every_route_is_found_as_the_ordinary_scan_finds_it():
    app = create_app("postgresql://unused/unused")
    router = app.router
    assert isinstance(router, route_memo.MemoRouter) and router.middleware_stack == router.app
    endpoints = _endpoints(router.routes)
    assert len(endpoints) > 300  # the whole API, the MLflow routes included
    for method, template in endpoints:
        for path in (_concrete(template), _concrete(template)):  # the second: another id, same route
            scope = _scope(method, path)
            expected = _scan(router.routes, scope)
            assert router.first_full_match(scope) is expected, (method, path)
            assert router.first_full_match(scope) is expected  # now from memory
    unknown = _scope("GET", "/api/nowhere/at/all")
    assert router.first_full_match(unknown) is _scan(router.routes, unknown)


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(route_memo, "SIZE", 10)
    router = create_app("postgresql://unused/unused").router
    sizes = []
    for _ in range(25):
        assert router.first_full_match(_scope("GET", f"/api/model/{uuid.uuid4()}")) is not None
        sizes.append(len(router._memo))
    assert max(sizes) == 10 and min(sizes[10:]) < 10  # full, then forgotten and filled again
