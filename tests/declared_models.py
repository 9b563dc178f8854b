"""Checks that an answer a route sends as ready-made JSON bytes (its fast path, which FastAPI does not
validate) is what the route declares: valid for its response_model, and without fields the model lacks."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi.routing import APIRoute, APIRouter
from pydantic import TypeAdapter
from starlette.routing import Match


def api_routes(*routers: APIRouter) -> list[APIRoute]:
    return [route for router in routers for route in router.routes if isinstance(route, APIRoute)]


def declared(routes: list[APIRoute]) -> set[tuple[str, str]]:
    """(method, path) of the routes that declare a response model."""
    return {(method, route.path) for route in routes if route.response_model is not None for method in route.methods}


def route_of(routes: list[APIRoute], method: str, path: str) -> APIRoute:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in routes:
        if route.matches(scope)[0] == Match.FULL:
            return route
    raise AssertionError(f"No route serves {method} {path}.")


def _undeclared(sent: Any, declared: Any, where: str) -> list[str]:
    if isinstance(sent, dict) and isinstance(declared, dict):
        found = [f"{where}.{k}" for k in sent if k not in declared]
        return found + [p for k in sent if k in declared for p in _undeclared(sent[k], declared[k], f"{where}.{k}")]
    if isinstance(sent, list) and isinstance(declared, list):
        return [
            p for i, (a, b) in enumerate(zip(sent, declared, strict=False)) for p in _undeclared(a, b, f"{where}[{i}]")
        ]
    return []


def assert_matches_declared_model(routes: list[APIRoute], response: httpx.Response) -> APIRoute:
    """Validates a 2xx answer against the response_model of the route (one of `routes`) that sent it;
    returns the route."""
    assert response.is_success, response.text
    route = route_of(routes, response.request.method, response.request.url.path)
    assert route.response_model is not None, f"{route.path} declares no response model"
    adapter = TypeAdapter(route.response_model)
    parsed = adapter.validate_json(response.content)
    undeclared = _undeclared(orjson.loads(response.content), adapter.dump_python(parsed, mode="json"), "$")
    assert not undeclared, f"{route.path} sends fields its model does not declare: {undeclared}"
    return route
