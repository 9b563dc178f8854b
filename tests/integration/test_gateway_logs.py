"""The request log (/api/gateway/logs) and upstream health where people look: the routes list and
the Playground's model list. A dead upstream is a provider pointing at a closed port."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest

from tests.factories import flush_gateway, live_and_dead_routes, make_account, make_key
from tests.mocks import MockUpstream


@pytest.fixture
def upstream():
    a = MockUpstream("A")
    yield a
    if a.runner:
        asyncio.run_coroutine_threadsafe(a.runner.cleanup(), a.loop).result(10)


def _check_health(live_server, rounds: int = 1) -> dict:
    gw = live_server.app.state.axops.gateway

    async def run():
        await gw.table.ensure(gw.db, gw.secret)
        return await gw.check_health()

    result = {}
    for _ in range(rounds):
        result = asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(30)
    return result


@pytest.fixture
def world(api, admin, upstream, live_server):
    """Two developers of two teams; a live route and one whose only upstream is a closed port."""
    started = datetime.now(UTC).isoformat()  # admins see every request: earlier tests' too
    live_and_dead_routes(api, admin, upstream.url)
    one = make_account(api, admin, "logs-dev1", new_team="logs-a")
    two = make_account(api, admin, "logs-dev2", new_team="logs-b")
    key_one = make_key(api, one.headers, "logged", log_content=True)
    key_two = make_key(api, two.headers, "plain")
    c1 = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key_one["key"], max_retries=0)
    c2 = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key_two["key"], max_retries=0)
    c1.chat.completions.create(model="chat-live", messages=[{"role": "user", "content": "call 010-2345-6789 about it"}])
    with pytest.raises(openai.APIStatusError) as failed:
        c1.chat.completions.create(model="chat-dead", messages=[{"role": "user", "content": "anyone there?"}])
    assert failed.value.status_code == 502
    c2.chat.completions.create(model="chat-live", messages=[{"role": "user", "content": "team two here"}])
    flush_gateway(live_server)
    return {"one": one, "two": two, "key_one": key_one, "key_two": key_two, "since": started}


def test_request_logs_filters_and_scoping(api, admin, world):
    one, two = world["one"], world["two"]
    mine = api.get("/api/gateway/logs", headers=one.headers).json()
    assert mine["total"] == 2 and len(mine["items"]) == 2 and mine["currency"] == "USD"
    assert {i["user_id"] for i in mine["items"]} == {one.user_id}  # never team two's request

    errors = api.get("/api/gateway/logs", params={"outcome": "error"}, headers=one.headers).json()
    assert errors["total"] == 1
    (failure,) = errors["items"]
    assert failure["model"] == "chat-dead" and failure["status"] == 502 and failure["attempts"] >= 1
    assert failure["upstream"] == "dead/gone" and failure["error"] and failure["cost"] == 0
    # the key logs content: the request's text is there, masked before it was stored
    assert failure["has_content"] and failure["request"]["messages"][0]["content"] == "anyone there?"

    ok = api.get("/api/gateway/logs", params={"outcome": "ok", "model": "chat-live"}, headers=one.headers).json()
    (success,) = ok["items"]
    assert success["status"] == 200 and success["upstream"] == "alive/tiny" and success["prompt_tokens"] > 0
    assert success["cost"] > 0 and success["latency_ms"] > 0 and success["api_key_name"] == "logged"
    text = success["request"]["messages"][0]["content"]
    assert "2345-6789" not in text and "010-" in text
    assert api.get("/api/gateway/logs", params={"status": 502}, headers=one.headers).json()["total"] == 1
    assert api.get("/api/gateway/logs", params={"upstream": "alive/tiny"}, headers=one.headers).json()["total"] == 1
    assert api.get("/api/gateway/logs", params={"content": False}, headers=one.headers).json()["total"] == 0
    key_filter = {"api_key_id": world["key_one"]["id"]}
    assert api.get("/api/gateway/logs", params=key_filter, headers=one.headers).json()["total"] == 2
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert api.get("/api/gateway/logs", params={"since": later}, headers=one.headers).json()["total"] == 0
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    window = {"since": earlier, "until": later, "outcome": "error", "model": "chat-dead"}
    assert [i["id"] for i in api.get("/api/gateway/logs", params=window, headers=one.headers).json()["items"]] == [
        failure["id"]
    ]

    # another team's requests: not listed, not readable one by one, not asked for by user
    theirs = api.get("/api/gateway/logs", headers=two.headers).json()
    assert theirs["total"] == 1 and theirs["items"][0]["has_content"] is False and theirs["items"][0]["request"] is None
    assert api.get(f"/api/gateway/logs/{failure['id']}", headers=two.headers).status_code == 404
    assert api.get(f"/api/gateway/logs/{failure['id']}", headers=one.headers).json()["id"] == failure["id"]
    refused = api.get("/api/gateway/logs", params={"user_id": one.user_id}, headers=two.headers)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert api.get("/api/gateway/logs", params={"model": "chat-dead"}, headers=two.headers).json()["total"] == 0

    # gateway admins see everyone's, and may narrow to one user
    since = {"since": world["since"]}
    everyone = api.get("/api/gateway/logs", params=since, headers=admin).json()
    assert everyone["total"] == 3
    by_user = api.get("/api/gateway/logs", params={"user_id": two.user_id}, headers=admin).json()
    assert [i["username"] for i in by_user["items"]] == ["logs-dev2"]
    assert api.get(f"/api/gateway/logs/{failure['id']}", headers=admin).status_code == 200

    # paging: one at a time, the total only on the first page
    first = api.get("/api/gateway/logs", params={"limit": 2, **since}, headers=admin).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(
        "/api/gateway/logs", params={"limit": 2, "cursor": first["next_cursor"], **since}, headers=admin
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None and rest["total"] is None
    assert {i["id"] for i in first["items"] + rest["items"]} == {i["id"] for i in everyone["items"]}


@pytest.mark.parametrize(
    "params",
    [
        {"outcome": "broken"},
        {"status": 99},
        {"status": "x"},
        {"limit": 0},
        {"limit": 201},
        {"api_key_id": "not-a-uuid"},
        {"user_id": "nope"},
        {"since": "yesterday"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"cursor": "garbage!"},
        {"model": "m" * 201},
    ],
)
def test_request_logs_refuse_bad_filters(api, admin, params):
    r = api.get("/api/gateway/logs", params=params, headers=admin)
    assert r.status_code == 422, (params, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert api.get("/api/gateway/logs/not-a-uuid", headers=admin).status_code == 422


def test_dead_upstream_in_routes_list_and_model_status(api, admin, world, live_server, upstream):
    routes = {r["model_name"]: r for r in api.get("/api/gateway/routes", headers=admin).json()}
    # the failed call already counts: the dead route is failing, the live one healthy
    (dead,) = routes["chat-dead"]["upstreams"]
    assert dead["health"] == "failing" and dead["last_error"] == "connect" and dead["last_error_at"]
    assert routes["chat-dead"]["health"] == "down"
    assert routes["chat-live"]["health"] == "healthy" and routes["chat-live"]["upstreams"][0]["last_ok_at"]

    result = _check_health(live_server, rounds=3)  # as the background loop would: the circuit opens
    assert result == {"alive/tiny": True, "dead/gone": False}
    routes = {r["model_name"]: r for r in api.get("/api/gateway/routes", headers=admin).json()}
    (dead,) = routes["chat-dead"]["upstreams"]
    assert dead["health"] == "open" and dead["failures"] >= 3 and dead["role"] == "target"
    assert datetime.fromisoformat(dead["last_error_at"]) > datetime.now(UTC) - timedelta(minutes=1)

    statuses = api.get("/api/inference/models/status", headers=world["one"].headers).json()
    assert statuses["currency"] == "USD"
    assert statuses["models"] == [{"name": "chat-dead", "health": "down"}, {"name": "chat-live", "health": "healthy"}]

    # only gateway admins see upstream names and errors; anyone else gets 403, an anonymous caller 401
    assert api.get("/api/gateway/routes", headers=world["one"].headers).status_code == 403
    assert httpx.get(f"{live_server.url}/api/inference/models/status").status_code == 401
