"""Guardrail policies over real HTTP: requests through /v1 against a mock upstream (what the upstream
received is asserted), blocking without echo, masking with restore, streams cut mid-way, decision
records, scoping by team, and the policies API."""

from __future__ import annotations

import asyncio
import json
import re
import time

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


@pytest.fixture(autouse=True)
def no_policy_outlives_its_test(api, admin):
    """Global policies apply to every request of the shared test server: each test removes what it made."""
    yield
    for p in api.get("/api/guardrails/policies", headers=admin).json()["items"]:
        assert api.delete(f"/api/guardrails/policies/{p['id']}", headers=admin).status_code == 204


@pytest.fixture
def upstream():
    m = MockUpstream("G")
    yield m
    asyncio.run_coroutine_threadsafe(m.runner.cleanup(), m.loop).result(10)


@pytest.fixture
def gw(api, admin, upstream):
    route = internal_route(api, admin, upstream.url)
    team_a = make_team(api, admin, "alpha")
    team_b = make_team(api, admin, "beta")
    a = make_account(api, admin, "dev-a", team=team_a)
    b = make_account(api, admin, "dev-b", team=team_b)
    key_a = make_key(api, a.headers, "a", team_id=team_a["id"])
    key_b = make_key(api, b.headers, "b", team_id=team_b["id"])
    return {"route": route, "teams": (team_a, team_b), "devs": (a, b), "keys": (key_a, key_b)}


def policy(api, admin, **fields) -> dict:
    body = {"name": "p", "scope": "global", "direction": "both", **fields}
    r = api.post("/api/guardrails/policies", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def chat(live_server, key: str, content: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={"model": "guarded", "messages": [{"role": "user", "content": content}], "stream": stream},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def decisions(api, live_server, admin) -> list[dict]:
    gw = live_server.app.state.axops.gateway
    asyncio.run_coroutine_threadsafe(gw.guarding.decisions.flush(), live_server.server_loop).result(10)
    r = api.get("/api/guardrails/decisions", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_block_answers_guardrail_blocked_without_echo_and_records_a_masked_excerpt(
    api, admin, gw, upstream, live_server
):
    policy(api, admin, name="no-codenames", checks={"banned_words": {"words": ["프로젝트X", "frobnicate"]}})
    key = gw["keys"][0]["key"]
    r = chat(live_server, key, "비밀 프로젝트X 일정, 담당자 kim@example.com")
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "guardrail_blocked" and error["type"] == "invalid_request_error"
    assert "프로젝트X" not in r.text and "kim@example.com" not in r.text and "비밀" not in r.text
    assert upstream.requests == []  # never sent

    assert chat(live_server, key, "hello there").status_code == 200  # other text passes untouched
    assert upstream.requests[-1]["messages"][0]["content"] == "hello there"

    found = [d for d in decisions(api, live_server, admin) if d["policy_name"] == "no-codenames"]
    assert len(found) == 1
    d = found[0]
    assert d["action"] == "block" and d["check"] == "banned_words" and d["direction"] == "input"
    assert d["route"] == "guarded" and d["api_key_id"] == gw["keys"][0]["id"]
    assert "프로젝트X" not in d["excerpt"] and "kim@example.com" not in d["excerpt"]
    assert "일정" in d["excerpt"]  # the context is kept, the hit and other PII are not


def test_mask_sends_masked_text_and_restores_values_in_the_answer(api, admin, gw, upstream, live_server):
    policy(
        api,
        admin,
        name="mask-email",
        scope="route",
        target_id=gw["route"]["id"],
        direction="input",
        checks={"pii": {"entities": ["EMAIL"], "action": "mask", "restore": True}},
    )
    upstream.answer_for = lambda body: "답장: " + body["messages"][0]["content"]  # echoes what it got
    r = chat(live_server, gw["keys"][0]["key"], "제 메일 kim@example.com 로 보내 주세요")
    assert r.status_code == 200, r.text
    sent = upstream.requests[-1]["messages"][0]["content"]
    assert "kim@example.com" not in sent
    placeholder = re.search(r"\[[A-Z_]+_1\]", sent)
    assert placeholder is not None, sent
    assert r.json()["choices"][0]["message"]["content"] == "답장: 제 메일 kim@example.com 로 보내 주세요"

    # a Korean unique identifier (resident registration number) blocks even when the action is mask
    r = chat(live_server, gw["keys"][0]["key"], "주민번호 900101-1234568 확인")
    assert r.status_code == 400 and r.json()["error"]["code"] == "guardrail_blocked"
    assert "900101" not in r.text
    kinds = [d for d in decisions(api, live_server, admin) if d["policy_name"] == "mask-email"]
    assert {d["action"] for d in kinds} == {"mask", "block"}
    assert all("kim@example.com" not in d["excerpt"] and "1234568" not in d["excerpt"] for d in kinds)


def _events(text: str) -> list:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


@pytest.mark.parametrize(
    ("checks", "words"),
    [
        ({"banned_words": {"words": ["frobnicate"]}}, ["hello fro", "bnicate the", " rest of it", " and more"]),
        ({"pii": {"action": "block"}}, ["call me at 010-12", "34-5678 ", "tomorrow", " please"]),
    ],
)
def test_stream_is_cut_with_content_filter_when_a_violation_spans_chunks(
    api, admin, gw, upstream, live_server, checks, words
):
    policy(api, admin, name="out", direction="output", checks=checks)
    upstream.words = words
    r = chat(live_server, gw["keys"][0]["key"], "talk to me", stream=True)
    assert r.status_code == 200
    events = _events(r.text)
    finishes = [c["choices"][0]["finish_reason"] for c in events if c.get("choices")]
    assert finishes[-1] == "content_filter"
    assert events[-1]["error"]["code"] == "guardrail_blocked"
    assert words[-1] not in r.text and words[-2] not in r.text  # nothing after the violation went out
    assert r.text.rstrip().endswith("data: [DONE]")
    found = [d for d in decisions(api, live_server, admin) if d["policy_name"] == "out"]
    assert [d["direction"] for d in found] == ["output"] and found[0]["action"] == "block"

    upstream.words = ["all", " fine", " here"]  # a clean stream is relayed whole
    r = chat(live_server, gw["keys"][0]["key"], "talk to me", stream=True)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in _events(r.text) if c.get("choices")) == (
        "all fine here"
    )


def test_output_block_on_a_whole_answer(api, admin, gw, upstream, live_server):
    policy(api, admin, name="out-words", direction="output", checks={"banned_words": {"words": ["frobnicate"]}})
    upstream.answer = "you should frobnicate it"
    r = chat(live_server, gw["keys"][0]["key"], "what now?")
    assert r.status_code == 400 and r.json()["error"]["code"] == "guardrail_blocked"
    assert "frobnicate" not in r.text


def test_team_policy_applies_to_that_teams_keys_only(api, admin, gw, upstream, live_server):
    team_a, _ = gw["teams"]
    policy(
        api,
        admin,
        name="alpha-only",
        scope="team",
        target_id=team_a["id"],
        checks={"banned_words": {"words": ["zebra"]}},
    )
    key_a, key_b = gw["keys"]
    assert chat(live_server, key_a["key"], "a zebra").status_code == 400
    r = chat(live_server, key_b["key"], "a zebra")
    assert r.status_code == 200, r.text
    assert upstream.requests[-1]["messages"][0]["content"] == "a zebra"

    # a key policy applies to that key only
    policy(api, admin, name="key-b", scope="key", target_id=key_b["id"], checks={"banned_words": {"words": ["lion"]}})
    assert chat(live_server, key_b["key"], "a lion").status_code == 400
    assert chat(live_server, key_a["key"], "a lion").status_code == 200

    # each developer sees the policies that apply to them, not the other team's
    dev_a, dev_b = gw["devs"]
    names_a = {p["name"] for p in api.get("/api/guardrails/policies", headers=dev_a.headers).json()["items"]}
    names_b = {p["name"] for p in api.get("/api/guardrails/policies", headers=dev_b.headers).json()["items"]}
    assert names_a == {"alpha-only"} and names_b == {"key-b"}


def test_policies_api_edits_need_policies_admin_and_validate(api, admin, gw, live_server, upstream):
    dev = gw["devs"][0].headers
    body = {"name": "x", "checks": {"banned_words": {"words": ["zebra"]}}}
    assert api.post("/api/guardrails/policies", json=body, headers=dev).status_code == 403
    for bad in (
        {"name": "x", "checks": {}},  # no check
        {"name": "x", "checks": {"pii": {"entities": ["SHOE_SIZE"]}}},
        {"name": "x", "checks": {"banned_words": {"words": ["a"], "action": "explode"}}},
        {"name": "x", "checks": {"injection": {"action": "mask"}}},
        {"name": "x", "scope": "team", "checks": {"injection": {}}},  # no target
        {"name": "x", "checks": {"injection": {}}, "surprise": 1},
    ):
        r = api.post("/api/guardrails/policies", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    r = api.post(
        "/api/guardrails/policies",
        json={"name": "x", "scope": "team", "target_id": gw["route"]["id"], "checks": {"injection": {}}},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["type"].endswith("guardrail_target_not_found")

    created = policy(api, admin, name="words", checks={"banned_words": {"words": ["zebra"]}})
    assert api.post("/api/guardrails/policies", json={**body, "name": "words"}, headers=admin).status_code == 409
    assert (
        api.patch(f"/api/guardrails/policies/{created['id']}", json={"enabled": False}, headers=dev).status_code == 403
    )
    assert api.delete(f"/api/guardrails/policies/{created['id']}", headers=dev).status_code == 403
    key = gw["keys"][0]["key"]
    assert chat(live_server, key, "zebra").status_code == 400
    r = api.patch(f"/api/guardrails/policies/{created['id']}", json={"enabled": False}, headers=admin)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert chat(live_server, key, "zebra").status_code == 200  # the gateway reloaded its policies
    assert api.delete(f"/api/guardrails/policies/{created['id']}", headers=admin).status_code == 204
    actions = [e["action"] for e in api.get("/api/audit/logs", headers=admin).json()["items"]]
    assert {"guardrails.policy_create", "guardrails.policy_update", "guardrails.policy_delete"} <= set(actions)


def test_tester_shows_each_checks_verdict(api, admin, gw):
    policy(
        api,
        admin,
        name="all",
        checks={
            "pii": {"entities": ["EMAIL"], "action": "mask"},
            "banned_words": {"words": ["zebra"], "action": "mask"},
        },
    )
    dev = gw["devs"][0].headers
    r = api.post("/api/guardrails/test", json={"text": "zebra kim@example.com", "route": "guarded"}, headers=dev)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["action"] == "mask"
    assert "kim@example.com" not in result["masked_text"] and "zebra" not in result["masked_text"]
    verdicts = {v["check"]: v for v in result["verdicts"]}
    assert verdicts["pii"]["action"] == "mask" and verdicts["pii"]["hits"] == 1
    assert verdicts["banned_words"]["action"] == "mask"
    r = api.post("/api/guardrails/test", json={"text": "a calm sentence"}, headers=dev)
    assert r.json()["action"] == "allow" and {v["action"] for v in r.json()["verdicts"]} == {"allow"}
    r = api.post("/api/guardrails/test", json={"text": "x", "route": "no-such"}, headers=dev)
    assert r.status_code == 404


def test_long_prompts_finish_in_bounded_time(api, admin, gw, upstream, live_server):
    """The largest body the test server takes through /v1, and 1 MB through the same engine run."""
    from axops.guardrails import engine

    checks = {"pii": {"entities": ["EMAIL"], "action": "mask"}, "banned_words": {"words": ["zebra", "lion"]}}
    policy(api, admin, name="big", direction="input", checks=checks)
    line = "한국어 문장과 English words, 숫자 12345 그리고 메일 a@b.co 기호 !@# "
    started = time.perf_counter()
    r = chat(live_server, gw["keys"][0]["key"], (line * 2000)[:20_000])  # ~50 KB of UTF-8: under the body limit
    assert r.status_code == 200, r.text[:300]
    assert "a@b.co" not in upstream.requests[-1]["messages"][0]["content"]
    assert time.perf_counter() - started < 10

    compiled = engine.compile_policy(None, "big", "global", None, "input", checks)
    started = time.perf_counter()
    decision = engine.evaluate([compiled], (line * 30_000)[:1_000_000], "input")
    assert decision.action == "mask" and "a@b.co" not in decision.text
    assert time.perf_counter() - started < 20
