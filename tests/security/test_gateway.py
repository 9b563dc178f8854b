"""Attacks on the gateway and serving (issue 12): another team's private model through /v1, route
plans that disclose upstreams, runtime replicas answering anyone, and an Operator moving a
provider's stored key to a host of their own."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiohttp import web

from tests.factories import dir_files, register_model, upload_model, wait_deployment
from tests.mocks import MockUpstream

CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


class RecordingUpstream(MockUpstream):
    """A mock upstream that also notes the Authorization header of every call (chat and model list)."""

    def __init__(self, name: str) -> None:
        self.authorizations: list[str | None] = []
        super().__init__(name)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.authorizations.append(request.headers.get("authorization"))
        return await super().chat(request)

    async def models(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("authorization"))
        return await super().models(request)


@pytest.fixture
def upstreams():
    made = [RecordingUpstream("A"), RecordingUpstream("B")]
    yield made
    for m in made:
        m.stop()


def v1(live_server, headers: dict, path: str, body: dict | None = None) -> httpx.Response:
    url = f"{live_server.url}/v1/{path}"
    return httpx.get(url, headers=headers) if body is None else httpx.post(url, json=body, headers=headers, timeout=60)


def listed(live_server, headers: dict) -> list[str]:
    return [m["id"] for m in v1(live_server, headers, "models").json()["data"]]


def assert_unknown(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "model_not_found"


def eventually(check, timeout: float = 10.0):
    """The route table reloads on a NOTIFY: give it a moment."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_team_visible_deployment_answers_its_team_only_and_its_replicas_want_the_token(
    api, admin, victim, attacker, attacker_operator, demo_dirs, live_server
):
    model = register_model(api, victim.headers, "victim-private")
    assert model["visibility"] == "team"
    assert upload_model(api, victim.headers, model["id"], dir_files(demo_dirs[0])).status_code == 201
    r = api.post(
        "/api/serving/deploy", json={"model": "victim-private", "resources": {"memory_gb": 1}}, headers=victim.headers
    )
    assert r.status_code == 201, r.text
    d = wait_deployment(api, victim.headers, r.json()["id"], lambda x: x["status"] == "ready")
    name = "victim-private"

    # the victim's team uses it
    assert name in listed(live_server, victim.headers)
    assert v1(live_server, victim.headers, "chat/completions", {"model": name, **CHAT}).status_code == 200
    plan = api.post("/api/router/route", json={"model": name}, headers=victim.headers)
    assert plan.status_code == 200 and all(
        o["base_url"] is None for o in plan.json()["order"]
    )  # addresses: gateway admins only
    assert (
        api.post("/api/router/route", json={"model": name}, headers=admin)
        .json()["order"][0]["base_url"]
        .startswith("http://")
    )

    # another team: as if it did not exist, on every path
    assert name not in listed(live_server, attacker.headers)
    assert_unknown(v1(live_server, attacker.headers, "chat/completions", {"model": name, **CHAT}))
    assert_unknown(v1(live_server, attacker.headers, "completions", {"model": name, "prompt": "hi", "max_tokens": 2}))
    assert_unknown(v1(live_server, attacker.headers, "embeddings", {"model": name, "input": "hi"}))
    assert name not in api.get("/api/inference/models", headers=attacker.headers).json()
    r = api.post(f"/api/inference/{name}", json={"prompt": "hi", "max_tokens": 2}, headers=attacker.headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = api.post("/api/router/route", json={"model": name}, headers=attacker.headers)
    assert r.status_code == 404 and "127.0.0.1" not in r.text

    # an Operator (gateway admin) of the other team cannot put the replicas behind a route of their own
    providers = {p["name"]: p for p in api.get("/api/gateway/providers", headers=attacker_operator.headers).json()}
    replica = next(p for n, p in providers.items() if n.startswith("dep-"))
    assert replica["has_api_key"] is True  # the replicas' token, sent by the gateway
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "stolen", "targets": [{"provider_id": replica["id"], "model": name}]},
        headers=attacker_operator.headers,
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "stolen" not in [x["model_name"] for x in api.get("/api/gateway/routes", headers=admin).json()]
    # nor point the replica's provider (and the team's traffic) at a host of their own
    r = api.patch(
        f"/api/gateway/providers/{replica['id']}",
        json={"base_url": "http://collector.example:9/v1", "api_key": "x"},
        headers=attacker_operator.headers,
    )
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert api.delete(f"/api/gateway/providers/{replica['id']}", headers=attacker_operator.headers).status_code == 409

    # the replica itself: nothing without the deployment's token; probes stay open
    endpoint = d["replicas"][0]["endpoint"]
    assert httpx.get(f"{endpoint}/models").status_code == 401
    r = httpx.post(
        f"{endpoint}/chat/completions",
        json={"model": name, **CHAT},
        headers={"Authorization": "Bearer guess"},
        timeout=30,
    )
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(endpoint.removesuffix("/v1") + "/health").json()["ready"] is True
    environ = open(f"/proc/{d['replicas'][0]['pid']}/environ", "rb").read().split(b"\0")
    settings = {e.split(b"=", 1)[0].decode() for e in environ if e.startswith(b"AXOPS_")}
    assert settings == {
        "AXOPS_RUNTIME_TOKEN",
        "AXOPS_RUNTIME_SERVE_TOKEN",
    }  # not the server's secret key or database URL

    # the model made organisation-visible: everyone may call it; back to team: the other team loses it again
    assert (
        api.patch(f"/api/model/{model['id']}", json={"visibility": "organization"}, headers=victim.headers).status_code
        == 200
    )
    eventually(lambda: name in listed(live_server, attacker.headers))
    assert v1(live_server, attacker.headers, "chat/completions", {"model": name, **CHAT}).status_code == 200
    assert (
        api.patch(f"/api/model/{model['id']}", json={"visibility": "team"}, headers=victim.headers).status_code == 200
    )
    eventually(lambda: name not in listed(live_server, attacker.headers))
    assert_unknown(v1(live_server, attacker.headers, "chat/completions", {"model": name, **CHAT}))
    assert v1(live_server, victim.headers, "chat/completions", {"model": name, **CHAT}).status_code == 200

    assert api.delete(f"/api/serving/deployments/{d['id']}", headers=victim.headers).json()["status"] == "stopped"


def test_a_hand_made_route_given_a_team_is_that_teams_only(api, admin, victim, attacker, upstreams, live_server):
    a, _ = upstreams
    provider = api.post("/api/gateway/providers", json={"name": "mock-a", "base_url": a.url}, headers=admin).json()
    target = [{"provider_id": provider["id"], "model": "tiny"}]
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "bad-team", "targets": target, "team_id": provider["id"]},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["field"] == "team_id"
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "team-route", "targets": target, "team_id": victim.team["id"]},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["visibility"] == "team"
    route = r.json()
    assert (
        api.post("/api/gateway/routes", json={"model_name": "org-route", "targets": target}, headers=admin).json()[
            "visibility"
        ]
        == "organization"
    )

    eventually(lambda: "team-route" in listed(live_server, victim.headers))
    assert v1(live_server, victim.headers, "chat/completions", {"model": "team-route", **CHAT}).status_code == 200
    assert listed(live_server, attacker.headers) == ["org-route"]
    assert_unknown(v1(live_server, attacker.headers, "chat/completions", {"model": "team-route", **CHAT}))
    assert api.post("/api/router/route", json={"model": "team-route"}, headers=attacker.headers).status_code == 404
    assert v1(live_server, attacker.headers, "chat/completions", {"model": "org-route", **CHAT}).status_code == 200

    r = api.patch(f"/api/gateway/routes/{route['id']}", json={"team_id": None}, headers=admin)
    assert r.status_code == 200 and r.json()["visibility"] == "organization"
    eventually(lambda: "team-route" in listed(live_server, attacker.headers))


def test_moving_a_provider_to_another_host_needs_its_key_again(api, admin, attacker_operator, upstreams, live_server):
    a, b = upstreams
    provider = api.post(
        "/api/gateway/providers",
        json={"name": "openai-prod", "base_url": a.url, "api_key": "sk-real-secret"},
        headers=admin,
    ).json()
    api.post(
        "/api/gateway/routes",
        json={"model_name": "prod", "targets": [{"provider_id": provider["id"], "model": "gpt"}]},
        headers=admin,
    )

    r = api.patch(
        f"/api/gateway/providers/{provider['id']}", json={"base_url": b.url}, headers=attacker_operator.headers
    )
    assert (
        r.status_code == 422
        and r.headers["content-type"] == "application/problem+json"
        and "key again" in r.json()["detail"]
    )
    assert api.get("/api/gateway/providers", headers=admin).json()[0]["base_url"] == a.url  # nothing changed

    gw = live_server.app.state.axops.gateway
    asyncio.run_coroutine_threadsafe(gw.table.ensure(gw.db, gw.secret), live_server.server_loop).result(10)
    asyncio.run_coroutine_threadsafe(gw.check_health(), live_server.server_loop).result(
        10
    )  # the probe that used to leak it
    assert v1(live_server, admin, "chat/completions", {"model": "prod", **CHAT}).status_code == 200
    assert "Bearer sk-real-secret" in a.authorizations and b.authorizations == []

    # the same host on another path keeps the key; another host with a key given, or with the key dropped, is fine
    assert (
        api.patch(
            f"/api/gateway/providers/{provider['id']}",
            json={"base_url": a.url + "/"},
            headers=attacker_operator.headers,
        ).status_code
        == 200
    )
    r = api.patch(
        f"/api/gateway/providers/{provider['id']}",
        json={"base_url": b.url, "api_key": "sk-operators-own"},
        headers=attacker_operator.headers,
    )
    assert r.status_code == 200 and r.json()["has_api_key"] is True
    eventually(
        lambda: (
            v1(live_server, admin, "chat/completions", {"model": "prod", **CHAT}).headers.get("x-axops-upstream")
            is not None
            and bool(b.authorizations)
        )
    )
    assert set(b.authorizations) == {"Bearer sk-operators-own"}
    r = api.patch(
        f"/api/gateway/providers/{provider['id']}",
        json={"base_url": a.url, "api_key": None},
        headers=attacker_operator.headers,
    )
    assert r.status_code == 200 and r.json()["has_api_key"] is False
