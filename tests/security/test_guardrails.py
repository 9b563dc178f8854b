"""Exploits the guardrails must refuse: reading or editing policies without policies:admin, seeing
another team's policies, using the tester to probe another team's policy or route, refusals or
decision records that echo the refused text, and bypassing a block through the other endpoints."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import make_account, make_key, make_team
from tests.mocks import MockUpstream


def internal_route(api, admin, url: str) -> dict:
    """Route `guarded` to an on-premises model server (PII may reach it: no external transfer)."""
    body = {"name": "on-prem", "base_url": url, "external": False}
    provider = api.post("/api/gateway/providers", json=body, headers=admin)
    assert provider.status_code == 201, provider.text
    target = {"provider_id": provider.json()["id"], "model": "tiny"}
    r = api.post("/api/gateway/routes", json={"model_name": "guarded", "targets": [target]}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def upstream():
    m = MockUpstream("S")
    yield m
    asyncio.run_coroutine_threadsafe(m.runner.cleanup(), m.loop).result(10)


@pytest.fixture
def world(api, admin, upstream):
    internal_route(api, admin, upstream.url)
    alpha, beta = make_team(api, admin, "alpha"), make_team(api, admin, "beta")
    a = make_account(api, admin, "dev-a", team=alpha)
    b = make_account(api, admin, "dev-b", team=beta)
    operator = make_account(api, admin, "operator1", role="operator", team=alpha)
    r = api.post(
        "/api/guardrails/policies",
        json={
            "name": "beta-secret-policy",
            "scope": "team",
            "target_id": beta["id"],
            "checks": {"banned_words": {"words": ["betasecretword"]}},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return {"a": a, "b": b, "op": operator, "policy": r.json(), "beta": beta}


def test_only_policies_admin_edits_policies(api, world):
    pid = world["policy"]["id"]
    for who in (world["a"], world["op"], world["b"]):
        assert (
            api.post(
                "/api/guardrails/policies", json={"name": "mine", "checks": {"injection": {}}}, headers=who.headers
            ).status_code
            == 403
        )
        assert (
            api.patch(f"/api/guardrails/policies/{pid}", json={"enabled": False}, headers=who.headers).status_code
            == 403
        )
        assert api.delete(f"/api/guardrails/policies/{pid}", headers=who.headers).status_code == 403
    assert api.get("/api/guardrails/policies").status_code == 401


def test_another_teams_policy_is_invisible(api, world):
    pid = world["policy"]["id"]
    a = world["a"].headers
    listed = api.get("/api/guardrails/policies", headers=a).json()["items"]
    assert all(p["id"] != pid for p in listed)
    assert api.get(f"/api/guardrails/policies/{pid}", headers=a).status_code == 404
    # the tester cannot be used to read its word list either
    r = api.post("/api/guardrails/test", json={"text": "betasecretword", "policy_id": pid}, headers=a)
    assert r.status_code == 404
    r = api.post("/api/guardrails/test", json={"text": "betasecretword"}, headers=a)
    assert r.json()["action"] == "allow"
    # the member of beta sees it applies to them
    b = world["b"].headers
    assert api.get(f"/api/guardrails/policies/{pid}", headers=b).status_code == 200


def test_refusals_and_records_never_echo_the_text(api, admin, world, live_server, upstream):
    key = make_key(api, world["b"].headers, "k")["key"]
    payload = "betasecretword <script>alert(1)</script> 010-1234-5678"
    for path, body in (
        ("/v1/chat/completions", {"model": "guarded", "messages": [{"role": "user", "content": payload}]}),
        ("/v1/completions", {"model": "guarded", "prompt": payload}),
        (
            "/v1/chat/completions",
            {"model": "guarded", "messages": [{"role": "user", "content": [{"type": "text", "text": payload}]}]},
        ),
        ("/v1/embeddings", {"model": "guarded", "input": ["fine", payload]}),
    ):
        r = httpx.post(f"{live_server.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "guardrail_blocked"
        assert "betasecretword" not in r.text and "script" not in r.text and "5678" not in r.text
    assert upstream.requests == []
    gw = live_server.app.state.axops.gateway
    asyncio.run_coroutine_threadsafe(gw.guarding.decisions.flush(), live_server.server_loop).result(10)
    items = api.get("/api/guardrails/decisions", headers=admin).json()["items"]
    assert len(items) == 4
    for d in items:
        assert "betasecretword" not in d["excerpt"] and "1234-5678" not in d["excerpt"]
    # a developer sees their own decisions only
    assert api.get("/api/guardrails/decisions", headers=world["a"].headers).json()["items"] == []
    assert len(api.get("/api/guardrails/decisions", headers=world["b"].headers).json()["items"]) == 4


def test_policy_inputs_are_bounded(api, admin):
    too_many = {"name": "big", "checks": {"banned_words": {"words": [f"w{i}" for i in range(1001)]}}}
    assert api.post("/api/guardrails/policies", json=too_many, headers=admin).status_code == 422
    long_word = {"name": "big", "checks": {"banned_words": {"words": ["x" * 101]}}}
    assert api.post("/api/guardrails/policies", json=long_word, headers=admin).status_code == 422
    r = api.post("/api/guardrails/test", json={"text": "x" * 1_000_001}, headers=admin)
    assert r.status_code in (413, 422)
