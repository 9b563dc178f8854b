"""What the semantic cache must refuse: sharing answers across teams (or across keys when the route
says "key"), settings changed without gateway:admin, and an embeddings route the route's callers may
not call."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from tests.factories import make_account, make_key
from tests.mocks import MockUpstream, bag_of_words

SECRET_Q = "What is the launch date of project nightingale"


@pytest.fixture
def upstream():
    up = MockUpstream("S")
    up.embedding_for = bag_of_words
    up.answer_for = lambda body: f"reply for {body['messages'][-1]['content']} #{len(up.requests)}"
    yield up
    asyncio.run_coroutine_threadsafe(up.runner.cleanup(), up.loop).result(10)


@pytest.fixture
def world(api, admin, upstream):
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin).json()
    target = [{"provider_id": provider["id"], "model": "tiny"}]
    red = make_account(api, admin, "red1", new_team="red")
    blue = make_account(api, admin, "blue1", new_team="blue")
    routes = {}
    for name, team in (("chat", None), ("embed", None), ("embed-blue", blue.team["id"]), ("chat-red", red.team["id"])):
        r = api.post(
            "/api/gateway/routes", json={"model_name": name, "targets": target, "team_id": team}, headers=admin
        )
        assert r.status_code == 201, r.text
        routes[name] = r.json()
    return {"routes": routes, "red": red, "blue": blue}


def patch(api, headers, route, settings):
    return api.patch(f"/api/gateway/routes/{route['id']}", json={"semantic_cache": settings}, headers=headers)


def ask(live_server, key, content):
    sdk = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": content}], temperature=0
    )
    return raw.headers.get("x-axops-cache"), raw.parse().choices[0].message.content


def test_answers_never_cross_teams_nor_keys_on_a_key_scoped_route(api, admin, world, live_server):
    on = {"enabled": True, "embeddings_route": "embed", "threshold": 0.9}
    assert patch(api, admin, world["routes"]["chat"], on).status_code == 200
    time.sleep(0.3)
    red_key = make_key(api, world["red"].headers, "k")["key"]
    blue_key = make_key(api, world["blue"].headers, "k")["key"]
    state, red_answer = ask(live_server, red_key, SECRET_Q)
    assert state == "semantic-miss"
    for _ in range(2):  # blue asks exactly the same: never red's answer, then blue's own
        state, blue_answer = ask(live_server, blue_key, SECRET_Q)
        assert blue_answer != red_answer
    assert state == "semantic-hit"

    # Scope "key": two keys of the same user share nothing.
    assert patch(api, admin, world["routes"]["chat"], {**on, "scope": "key"}).status_code == 200
    time.sleep(0.3)
    first_key, second_key = (make_key(api, world["red"].headers, n)["key"] for n in ("k1", "k2"))
    _, answer_one = ask(live_server, first_key, SECRET_Q)
    state, answer_two = ask(live_server, second_key, SECRET_Q)
    assert state == "semantic-miss" and answer_two != answer_one
    assert ask(live_server, first_key, SECRET_Q) == ("semantic-hit", answer_one)


def test_settings_need_gateway_admin_and_a_callable_embeddings_route(api, admin, world):
    routes = world["routes"]
    on = {"enabled": True, "embeddings_route": "embed"}
    developer = world["red"].headers
    assert patch(api, developer, routes["chat"], on).status_code == 403
    assert api.get("/api/gateway/routes", headers=admin).json()[0]["semantic_cache"] is None

    # A team's embeddings route for an organisation-wide route, or for another team's route: refused.
    for route in (routes["chat"], routes["chat-red"]):
        r = patch(api, admin, route, {**on, "embeddings_route": "embed-blue"})
        assert r.status_code == 422 and r.json()["type"].endswith("semantic_embeddings_route_forbidden"), r.text
    r = patch(api, admin, routes["chat"], {**on, "embeddings_route": "no-such-route"})
    assert r.status_code == 422 and r.json()["type"].endswith("semantic_embeddings_route_missing")
    r = patch(api, admin, routes["chat"], {**on, "embeddings_route": "chat"})  # itself
    assert r.status_code == 422
    for bad in ({**on, "threshold": 1.5}, {**on, "scope": "everyone"}, {"enabled": True}, {**on, "ttl_s": 0}):
        assert patch(api, admin, routes["chat"], bad).status_code == 422, bad
    # Creating a route with the settings checks the same.
    target = routes["chat"]["targets"]
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "chat-2", "targets": target, "semantic_cache": {**on, "embeddings_route": "embed-blue"}},
        headers=admin,
    )
    assert r.status_code == 422
    # Moving a route into red while it embeds with blue's route: refused, nothing changed.
    r = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "chat-blue",
            "targets": target,
            "team_id": world["blue"].team["id"],
            "semantic_cache": {**on, "embeddings_route": "embed-blue"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    moved = api.patch(f"/api/gateway/routes/{r.json()['id']}", json={"team_id": world["red"].team["id"]}, headers=admin)
    assert moved.status_code == 422
    after = next(x for x in api.get("/api/gateway/routes", headers=admin).json() if x["model_name"] == "chat-blue")
    assert after["team_id"] == world["blue"].team["id"]
    # Viewing the figures needs infra:read only, and shows nothing of other teams (checked in integration).
    assert api.get("/api/gateway/semantic-cache/stats", headers=developer).status_code == 200
