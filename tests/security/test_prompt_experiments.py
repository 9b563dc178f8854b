"""What A/B experiments, feedback and suggestions must refuse: another team's experiment or prompt
answers 404 like a missing one, a Viewer cannot start, stop or promote, and feedback can only be
given on one's own requests — never on or over another user's, even with a request id they chose."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import make_account, make_key
from tests.mocks import MockUpstream

V1 = "{{ customer }}님의 문의에 답하세요."
V2 = "{{ customer }}님의 문의에 존댓말로 짧게 답하세요."
VARIABLES = [{"name": "customer", "type": "string"}]


@pytest.fixture
def upstream():
    mock = MockUpstream("A")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


@pytest.fixture
def scene(api, admin, upstream, victim, victim_team):
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin)
    assert provider.status_code == 201, provider.text
    route = api.post(
        "/api/gateway/routes",
        json={"model_name": "chat-small", "targets": [{"provider_id": provider.json()["id"], "model": "tiny"}]},
        headers=admin,
    )
    assert route.status_code == 201, route.text
    r = api.post(
        "/api/prompts",
        json={
            "name": "support",
            "version": {"kind": "text", "template": V1, "variables": VARIABLES},
            "labels": ["production"],
        },
        headers=victim.headers,
    )
    assert r.status_code == 201, r.text
    r = api.post("/api/prompts/support/versions", json={"template": V2, "variables": VARIABLES}, headers=victim.headers)
    assert r.status_code == 201, r.text
    exp = api.post(
        "/api/prompts/support/experiments",
        json={"label": "production", "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}]},
        headers=victim.headers,
    )
    assert exp.status_code == 201, exp.text
    return {"experiment": exp.json()}


def test_another_teams_experiment_and_prompt_answer_404(api, scene, attacker):
    exp_id = scene["experiment"]["id"]
    for method, path, body in (
        ("GET", f"/api/prompts/experiments/{exp_id}", None),
        ("POST", f"/api/prompts/experiments/{exp_id}/stop", {}),
        ("POST", f"/api/prompts/experiments/{exp_id}/promote", {"version": 2}),
        ("GET", "/api/prompts/support/experiments", None),
        (
            "POST",
            "/api/prompts/support/experiments",
            {"label": "production", "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}]},
        ),
        ("POST", "/api/prompts/support/suggest", {"version": 1, "route": "chat-small"}),
    ):
        r = api.request(method, path, json=body, headers=attacker.headers)
        assert r.status_code == 404, (method, path, r.text)
    assert (
        api.get(f"/api/prompts/experiments/{exp_id}", headers=attacker.headers)
        .json()["type"]
        .endswith("/prompt_experiment_not_found")
    )


def test_a_viewer_reads_but_cannot_start_stop_or_promote(api, admin, scene, victim, victim_team):
    viewer = make_account(api, admin, "victim-viewer", "viewer", victim_team)
    exp_id = scene["experiment"]["id"]
    assert api.get(f"/api/prompts/experiments/{exp_id}", headers=viewer.headers).status_code == 200
    assert api.get("/api/prompts/support/experiments", headers=viewer.headers).status_code == 200
    for path, body in (
        (f"/api/prompts/experiments/{exp_id}/stop", {}),
        (f"/api/prompts/experiments/{exp_id}/promote", {"version": 2}),
        (
            "/api/prompts/support/experiments",
            {"label": "staging", "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}]},
        ),
        ("/api/prompts/support/suggest", {"version": 1, "route": "chat-small"}),
    ):
        r = api.post(path, json=body, headers=viewer.headers)
        assert r.status_code == 403, (path, r.text)
    # a key without prompts:write cannot either, even its owner's
    key = make_key(api, victim.headers, "read-only", scopes=["prompts:read", "gateway:invoke"])
    r = api.post(f"/api/prompts/experiments/{exp_id}/stop", json={}, headers={"authorization": f"Bearer {key['key']}"})
    assert r.status_code == 403
    after = api.get(f"/api/prompts/experiments/{exp_id}", headers=victim.headers).json()
    assert after["status"] == "running"
    assert api.get("/api/prompts/support", headers=victim.headers).json()["labels"]["production"] == 1


def test_feedback_only_on_ones_own_requests(api, scene, victim, attacker):
    victim_key = make_key(api, victim.headers, "app")["key"]
    attacker_key = make_key(api, attacker.headers, "app")["key"]
    as_victim = {"authorization": f"Bearer {victim_key}"}
    as_attacker = {"authorization": f"Bearer {attacker_key}"}
    chat = {"model": "chat-small", "messages": [{"role": "user", "content": "hi"}]}
    rid = api.post("/v1/chat/completions", json=chat, headers=as_victim).headers["x-request-id"]
    assert api.post("/api/feedback", json={"request_id": rid, "score": 0.9}, headers=as_victim).status_code == 201

    # scoring the victim's request: the same answer as for a request that does not exist
    r = api.post("/api/feedback", json={"request_id": rid, "score": 0.0, "comment": "bad"}, headers=as_attacker)
    assert r.status_code == 404 and r.json()["type"].endswith("/request_not_found")
    r = api.post("/api/feedback", json={"request_id": rid, "score": 0.0}, headers=attacker.headers)
    assert r.status_code == 404

    # a request of one's own made with the victim's request id cannot overwrite the victim's score
    mine = api.post("/v1/chat/completions", json=chat, headers={**as_attacker, "x-request-id": rid})
    assert mine.status_code == 200 and mine.headers["x-request-id"] == rid
    r = api.post("/api/feedback", json={"request_id": rid, "score": 0.0}, headers=as_attacker)
    assert r.status_code == 409 and r.json()["type"].endswith("/feedback_request_id_taken")
    again = api.post("/api/feedback", json={"request_id": rid, "score": 0.9}, headers=as_victim)
    assert again.status_code == 201 and again.json()["score"] == 0.9
