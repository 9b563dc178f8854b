"""A/B experiments on a prompt label over real HTTP: a 50/50 split driven through `/v1/chat/completions`
with `prompt_id`, feedback per request, the results counted by the server and the test's verdict,
promotion moving the label; stop rules; results of recorded usage for every metric; "suggest an
improvement" through a mock route; and the bad input each refuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation

from axops.core.db import libpq_url
from axops.gateway.models import UsageRecord
from axops.prompts.models import RequestFeedback
from tests.factories import flush_gateway, insert_rows, make_account, make_key
from tests.mocks import MockUpstream

V1 = [
    {"role": "system", "content": "당신은 {{ company }}의 고객 지원 상담원입니다."},
    {"role": "user", "content": "고객: {{ customer }}"},
]
V2 = [
    {"role": "system", "content": "당신은 {{ company }}의 친절한 고객 지원 상담원입니다. 존댓말로 짧게 답하세요."},
    {"role": "user", "content": "고객: {{ customer }}"},
]
VARIABLES = [
    {"name": "company", "type": "string", "required": False, "default": "악소프스"},
    {"name": "customer", "type": "string", "required": True},
]


@pytest.fixture
def upstream():
    mock = MockUpstream("A")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


@pytest.fixture
def lab(api, admin, upstream, live_server):
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin)
    assert provider.status_code == 201, provider.text
    route = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "chat-small",
            "targets": [
                {"provider_id": provider.json()["id"], "model": "tiny", "input_price": 1.0, "output_price": 2.0}
            ],
        },
        headers=admin,
    )
    assert route.status_code == 201, route.text
    dev = make_account(api, admin, "dev1", new_team="apps")
    key = make_key(api, dev.headers, "app")
    r = api.post(
        "/api/prompts",
        json={
            "name": "support",
            "version": {"kind": "chat", "template": V1, "variables": VARIABLES, "binding": {"route": "chat-small"}},
            "labels": ["production"],
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    r = api.post(
        "/api/prompts/support/versions",
        json={"kind": "chat", "template": V2, "variables": VARIABLES, "binding": {"route": "chat-small"}},
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    return {"dev": dev, "key": key["key"], "gw": {"authorization": f"Bearer {key['key']}"}}


def start(api, headers, **body) -> httpx.Response:
    return api.post(
        "/api/prompts/support/experiments",
        json={
            "label": "production",
            "name": "tone",
            "variants": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
        }
        | body,
        headers=headers,
    )


def chat(api, headers, caller: str) -> httpx.Response:
    r = api.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "배송이 늦어요"}],
            "prompt_id": "support@production",
            "prompt_variables": {"customer": "김민지"},
            "user": caller,
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r


def record(database_url, exp_id: str, user_id: str, rows: list[tuple]) -> None:
    """Usage records of an experiment (version, status, latency_ms) and, where a score is given, their
    feedback: rows of (version, status, latency_ms, score | None)."""
    now = datetime.now(UTC)
    usage, feedback = [], []
    for i, (version, status, latency, score) in enumerate(rows):
        request_id = uuid.uuid4().hex
        usage.append(
            {
                "created_at": now - timedelta(milliseconds=i),
                "request_id": request_id,
                "user_id": uuid.UUID(user_id),
                "endpoint": "chat",
                "model": "chat-small",
                "status": status,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "cost": 0.001,
                "latency_ms": latency,
                "prompt_name": "support",
                "prompt_version": version,
                "prompt_experiment_id": uuid.UUID(exp_id),
            }
        )
        if score is not None:
            feedback.append({"request_id": request_id, "name": "user", "score": score, "user_id": uuid.UUID(user_id)})
    insert_rows(database_url, UsageRecord, usage)
    if feedback:
        insert_rows(database_url, RequestFeedback, feedback)


def by_version(exp: dict) -> dict[int, dict]:
    return {v["version"]: v for v in exp["results"]["variants"]}


def test_a_b_test_through_the_gateway_with_feedback_verdict_and_promotion(api, lab, live_server, upstream):
    dev, gw = lab["dev"], lab["gw"]
    r = start(api, dev.headers)
    assert r.status_code == 201, r.text
    exp = r.json()
    assert exp["status"] == "running" and exp["created_by_name"] == "dev1" and exp["results"] is None

    versions, request_ids = Counter(), {}
    for i in range(400):
        r = chat(api, gw, f"caller-{i}")
        version = int(r.headers["x-axops-prompt"].split(":")[1])
        versions[version] += 1
        request_ids[r.headers["x-request-id"]] = (f"caller-{i}", version)
    assert set(versions) == {1, 2}
    assert 160 <= versions[1] <= 240 and 160 <= versions[2] <= 240  # 50/50 within ±10 %
    # sticky: the same caller always gets the same variant
    for caller, version in list(request_ids.values())[:20]:
        assert chat(api, gw, caller).headers["x-axops-prompt"] == f"support:{version}"
    assert upstream.requests[-1]["messages"][0]["role"] == "system"

    # feedback: B's answers are clearly better (0.8 ± 0.1 against 0.5 ± 0.1)
    for n, (rid, (_, version)) in enumerate(request_ids.items()):
        score = (0.8 if version == 2 else 0.5) + (n % 3 - 1) * 0.1
        r = api.post("/api/feedback", json={"request_id": rid, "score": round(score, 2)}, headers=gw)
        assert r.status_code == 201, r.text
        assert r.json()["prompt_version"] == version and r.json()["prompt_name"] == "support"

    flush_gateway(live_server)
    r = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers)
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    variants = by_version(r.json())
    assert res["samples"] == 420
    for v in (1, 2):
        repeated = sum(1 for _, (_, ver) in list(request_ids.items())[:20] if ver == v)
        assert variants[v]["requests"] == versions[v] + repeated
        assert variants[v]["feedback_count"] == versions[v]
        assert variants[v]["errors"] == 0 and variants[v]["error_rate"] == 0
        assert variants[v]["prompt_tokens"] > 0 and variants[v]["latency_p50"] is not None
        lo, hi = variants[v]["feedback_ci"]
        assert lo < variants[v]["feedback_mean"] < hi
    assert variants[1]["feedback_mean"] == pytest.approx(0.5, abs=0.02)
    assert variants[2]["feedback_mean"] == pytest.approx(0.8, abs=0.02)
    test = res["test"]
    assert test["method"] == "Welch's t-test" and test["metric"] == "feedback"
    assert (test["control_version"], test["variant_version"]) == (1, 2)
    assert test["verdict"] == "b_better" and test["p_value"] < 0.05 and test["alpha"] == 0.05
    assert test["difference"] == pytest.approx(0.3, abs=0.03)
    assert test["ci"][0] > 0 and test["needed_per_variant"] >= 2 and test["remaining_per_variant"] == 0
    assert sum(p["requests"] for p in res["series"]) == 420

    # promote the winner: the label moves, with the test in its history
    r = api.post(f"/api/prompts/experiments/{exp['id']}/promote", json={}, headers=dev.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "promoted" and r.json()["winner_version"] == 2
    assert api.get("/api/prompts/support", headers=dev.headers).json()["labels"]["production"] == 2
    move = api.get("/api/prompts/support/labels/history", headers=dev.headers).json()["items"][0]
    assert (move["from_version"], move["to_version"]) == (1, 2)
    assert "A/B" in move["reason"] and "Welch" in move["reason"]
    # the experiment no longer splits: every caller gets v2
    assert {chat(api, gw, f"caller-{i}").headers["x-axops-prompt"] for i in range(10)} == {"support:2"}
    again = api.post(f"/api/prompts/experiments/{exp['id']}/promote", json={}, headers=dev.headers)
    assert again.status_code == 409 and again.json()["type"].endswith("/prompt_experiment_ended")


def test_feedback_is_replaced_on_repost_and_checked(api, lab, admin, live_server):
    dev, gw = lab["dev"], lab["gw"]
    rid = chat(api, gw, "me").headers["x-request-id"]
    r = api.post("/api/feedback", json={"request_id": rid, "score": 0.2, "comment": "너무 길어요"}, headers=gw)
    assert r.status_code == 201, r.text  # found right away: the writer's buffer is flushed for it
    r2 = api.post("/api/feedback", json={"request_id": rid, "score": 0.9}, headers=dev.headers)  # same user, UI login
    assert r2.status_code == 201 and r2.json()["id"] == r.json()["id"] and r2.json()["score"] == 0.9
    other = api.post("/api/feedback", json={"request_id": rid, "score": 0.5, "name": "accuracy"}, headers=gw)
    assert other.status_code == 201 and other.json()["id"] != r.json()["id"]
    for bad in ({"score": 1.5}, {"score": -0.1}, {"score": 0.5, "comment": "x" * 2001}, {"score": 0.5, "name": "A B"}):
        r = api.post("/api/feedback", json={"request_id": rid, **bad}, headers=gw)
        assert r.status_code == 422, (bad, r.text)
    r = api.post("/api/feedback", json={"request_id": "no-such-request", "score": 0.5}, headers=gw)
    assert r.status_code == 404 and r.json()["type"].endswith("/request_not_found")
    # versions' quality (helper A shows it in the version list)
    versions = api.get("/api/prompts/support/versions", headers=dev.headers).json()["items"]
    v1 = next(v for v in versions if v["version"] == 1)
    assert v1["quality"] == {"feedback_count": 1, "feedback_mean": 0.9}


def test_results_of_recorded_usage_for_each_metric(api, lab, database_url):
    dev = lab["dev"]
    exp = start(api, dev.headers).json()
    # equal quality: no difference yet, with the sample size still needed
    rows = [(v, 200, 100.0, 0.5 + (i % 5 - 2) * 0.1) for i in range(60) for v in (1, 2)]
    record(database_url, exp["id"], dev.user_id, rows)
    res = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()["results"]
    assert res["test"]["verdict"] == "no_difference_yet" and res["test"]["p_value"] > 0.05
    assert res["test"]["difference"] == pytest.approx(0.0, abs=1e-9)
    assert res["test"]["needed_per_variant"] > 60 and res["test"]["remaining_per_variant"] > 0
    assert [v["feedback_count"] for v in res["variants"]] == [60, 60]
    stop = api.post(f"/api/prompts/experiments/{exp['id']}/stop", json={"reason": "둘이 같음"}, headers=dev.headers)
    assert stop.status_code == 200 and stop.json()["status"] == "stopped" and stop.json()["ended_reason"] == "둘이 같음"
    assert stop.json()["winner_version"] is None
    twice = api.post(f"/api/prompts/experiments/{exp['id']}/stop", json={}, headers=dev.headers)
    assert twice.status_code == 409 and twice.json()["type"].endswith("/prompt_experiment_ended")
    nowin = api.post(f"/api/prompts/experiments/{exp['id']}/promote", json={}, headers=dev.headers)
    assert nowin.status_code == 409 and nowin.json()["type"].endswith("/prompt_experiment_no_winner")
    first = exp["id"]

    # error rate: B fails 20 % of its calls, A 2 %: A is better (two-proportion z-test)
    exp = start(api, dev.headers, metric="error_rate").json()
    rows = [(1, 500 if i % 50 == 0 else 200, 100.0, None) for i in range(200)]
    rows += [(2, 500 if i % 5 == 0 else 200, 100.0, None) for i in range(200)]
    record(database_url, exp["id"], dev.user_id, rows)
    got = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()
    variants, test = by_version(got), got["results"]["test"]
    assert (variants[1]["errors"], variants[2]["errors"]) == (4, 40)
    assert variants[2]["error_rate"] == pytest.approx(0.2)
    assert test["method"] == "two-proportion z-test" and test["verdict"] == "a_better" and test["p_value"] < 0.001
    assert test["difference"] == pytest.approx(0.18)
    # a stopped experiment cannot move the label while a later one runs on it
    late = api.post(f"/api/prompts/experiments/{first}/promote", json={"version": 2}, headers=dev.headers)
    assert late.status_code == 409 and late.json()["type"].endswith("/prompt_experiment_running")
    api.post(f"/api/prompts/experiments/{exp['id']}/stop", json={}, headers=dev.headers)

    # latency: B answers in ~80 ms, A in ~120 ms (Mann–Whitney U)
    exp = start(api, dev.headers, metric="latency").json()
    rows = [(1, 200, 120.0 + i % 7, None) for i in range(50)] + [(2, 200, 80.0 + i % 7, None) for i in range(50)]
    record(database_url, exp["id"], dev.user_id, rows)
    got = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()
    test = got["results"]["test"]
    assert test["method"] == "Mann–Whitney U (normal approximation)"
    assert test["verdict"] == "b_better" and test["p_value"] < 1e-6 and test["difference"] == pytest.approx(-40.0)
    assert by_version(got)[2]["latency_p50"] == pytest.approx(83.0)


def test_three_variants_compare_each_challenger_with_the_control(api, lab, database_url):
    dev = lab["dev"]
    r = api.post(
        "/api/prompts/support/versions",
        json={"kind": "chat", "template": V2[::-1], "variables": VARIABLES},
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    variants = [{"version": 1, "weight": 2}, {"version": 2, "weight": 1}, {"version": 3, "weight": 1}]
    exp = start(api, dev.headers, variants=variants).json()
    assert exp["variants"] == [
        {"version": 1, "weight": 2.0},
        {"version": 2, "weight": 1.0},
        {"version": 3, "weight": 1.0},
    ]
    rows = [(1, 200, 50.0, 0.5 + (i % 3 - 1) * 0.1) for i in range(60)]
    rows += [(2, 200, 50.0, 0.55 + (i % 3 - 1) * 0.1) for i in range(30)]
    rows += [(3, 200, 50.0, 0.8 + (i % 3 - 1) * 0.1) for i in range(30)]
    record(database_url, exp["id"], dev.user_id, rows)
    res = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()["results"]
    assert [(t["control_version"], t["variant_version"]) for t in res["tests"]] == [(1, 2), (1, 3)]
    assert all(t["alpha"] == pytest.approx(0.025) for t in res["tests"])  # Bonferroni over two challengers
    assert res["test"]["variant_version"] == 3 and res["test"]["verdict"] == "b_better"
    assert [v["requests"] for v in res["variants"]] == [60, 30, 30]


def test_stop_rules_and_auto_promotion(api, admin, lab, database_url):
    dev = lab["dev"]
    exp = start(api, dev.headers, max_samples=10).json()
    record(database_url, exp["id"], dev.user_id, [(1 + i % 2, 200, 50.0, None) for i in range(9)])
    assert api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()["status"] == "running"
    record(database_url, exp["id"], dev.user_id, [(1, 200, 50.0, None), (2, 200, 50.0, None)])
    got = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()
    assert (got["status"], got["ended_reason"], got["results"]["samples"]) == ("stopped", "max_samples", 11)
    # the label did not move
    assert api.get("/api/prompts/support", headers=dev.headers).json()["labels"]["production"] == 1

    exp = start(api, dev.headers, max_duration_s=3600).json()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE prompt_experiments SET started_at = now() - interval '2 hours' WHERE id = %s", (exp["id"],)
        )
    listed = api.get("/api/prompts/support/experiments", headers=dev.headers).json()["items"]
    assert {e["status"] for e in listed} == {"running", "stopped"} and exp["id"] in {e["id"] for e in listed}
    got = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()
    assert (got["status"], got["ended_reason"]) == ("stopped", "max_duration")

    # auto-promotion once B is significantly better with enough samples
    exp = start(api, dev.headers, auto_promote=True).json()
    rows = [(1, 200, 50.0, 0.4 + (i % 3) * 0.1) for i in range(40)] + [
        (2, 200, 50.0, 0.8 + (i % 3) * 0.1) for i in range(40)
    ]
    record(database_url, exp["id"], dev.user_id, rows)
    got = api.get(f"/api/prompts/experiments/{exp['id']}", headers=dev.headers).json()
    assert (got["status"], got["winner_version"], got["ended_reason"]) == ("promoted", 2, "auto_promote")
    assert api.get("/api/prompts/support", headers=dev.headers).json()["labels"]["production"] == 2
    move = api.get("/api/prompts/support/labels/history", headers=dev.headers).json()["items"][0]
    assert move["to_version"] == 2 and "A/B" in move["reason"] and move["actor_name"] in (None, "system")

    admin_events = api.get("/api/audit/logs", params={"action": "prompt.", "limit": 200}, headers=admin).json()["items"]
    actions = Counter(e["action"] for e in admin_events)
    assert actions["prompt.experiment_start"] == 3 and actions["prompt.experiment_stop"] == 2
    assert actions["prompt.experiment_promote"] == 1


def test_bad_experiments_are_refused(api, lab):
    dev = lab["dev"]
    first = start(api, dev.headers)
    assert first.status_code == 201
    r = start(api, dev.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("/prompt_experiment_running")
    assert r.json()["experiment_id"] == first.json()["id"]
    for variants in (
        [{"version": 1, "weight": 50}],
        [{"version": 1, "weight": 0}, {"version": 2, "weight": 50}],
        [{"version": 1, "weight": -1}, {"version": 2, "weight": 50}],
        [{"version": 1, "weight": 1}, {"version": 1, "weight": 1}],
        [{"version": i, "weight": 1} for i in range(1, 6)],
    ):
        r = start(api, dev.headers, label="staging", variants=variants)
        assert r.status_code == 422, (variants, r.text)
    r = start(api, dev.headers, metric="vibes", label="staging")
    assert r.status_code == 422
    r = start(api, dev.headers, label="staging")
    assert r.status_code == 404 and r.json()["type"].endswith("/prompt_label_not_found")
    api.put("/api/prompts/support/labels/staging", json={"version": 1}, headers=dev.headers).raise_for_status()
    r = start(api, dev.headers, label="staging", variants=[{"version": 1, "weight": 1}, {"version": 9, "weight": 1}])
    assert r.status_code == 404 and r.json()["type"].endswith("/prompt_version_not_found") and r.json()["version"] == 9
    r = api.post(f"/api/prompts/experiments/{first.json()['id']}/promote", json={"version": 7}, headers=dev.headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/prompt_experiment_version_invalid")
    assert api.get(f"/api/prompts/experiments/{uuid.uuid4()}", headers=dev.headers).status_code == 404
    assert api.get("/api/prompts/experiments/not-a-uuid", headers=dev.headers).status_code in (404, 422)
    assert api.post("/api/prompts/nope/experiments", json={}, headers=dev.headers).status_code == 422
    r = api.post(
        "/api/prompts/nope/experiments",
        json={"label": "production", "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}]},
        headers=dev.headers,
    )
    assert r.status_code == 404 and r.json()["type"].endswith("/prompt_not_found")


def fenced(template, explanation="더 친절하게 바꿨습니다.") -> str:
    body = json.dumps({"template": template, "explanation": explanation}, ensure_ascii=False)
    return f"개선안입니다.\n```json\n{body}\n```"


def test_suggest_an_improvement(api, lab, upstream):
    dev = lab["dev"]
    upstream.answer = fenced(V2)
    r = api.post("/api/prompts/support/suggest", json={"version": 1, "route": "chat-small"}, headers=dev.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["candidate"] == {"kind": "chat", "template": V2}
    assert out["explanation"] == "더 친절하게 바꿨습니다." and out["base_version"] == 1
    assert {"op": "+", "text": V2[0]["content"], "message_index": 0} in out["diff"]
    assert {"op": "-", "text": V1[0]["content"], "message_index": 0} in out["diff"]
    sent = upstream.requests[-1]
    assert sent["model"] == "tiny" and "합쇼체" in sent["messages"][0]["content"]
    assert "{{ customer }}" in sent["messages"][1]["content"]  # the current template, for the route to improve
    assert "더 명확하고" in sent["messages"][1]["content"]  # a Korean template gets the Korean default goal
    r = api.post(
        "/api/prompts/support/suggest",
        json={"version": 1, "route": "chat-small", "goal": "Shorter answers"},
        headers=dev.headers,
    )
    assert r.status_code == 200 and "Goal: Shorter answers" in upstream.requests[-1]["messages"][1]["content"]

    for answer, why in (
        ("죄송하지만 도와드릴 수 없습니다.", "no JSON"),
        (fenced([{"role": "system", "content": "{{ company }} 상담원입니다."}]), "customer"),  # drops a variable
        (fenced([{"role": "user", "content": "{{ customer }} {{ company }} {{ secret }}"}]), "secret"),  # undeclared
        (fenced("{{ customer }} {{ company }}"), "chat"),  # text for a chat prompt
        (fenced([{"role": "user", "content": "{% for %}{{ customer }}{{ company }}"}]), ""),  # a syntax error
    ):
        upstream.answer = answer
        r = api.post("/api/prompts/support/suggest", json={"version": 1, "route": "chat-small"}, headers=dev.headers)
        assert r.status_code == 422, (answer, r.text)
        assert r.json()["type"].endswith("/prompt_suggestion_unusable")
        assert why.lower() in r.json()["reason"].lower() or not why
    r = api.post("/api/prompts/support/suggest", json={"version": 9, "route": "chat-small"}, headers=dev.headers)
    assert r.status_code == 404 and r.json()["type"].endswith("/prompt_version_not_found")
    r = api.post("/api/prompts/support/suggest", json={"version": 1, "route": "no-such-route"}, headers=dev.headers)
    assert r.status_code == 404, r.text


def test_the_periodic_task_applies_the_stop_rules(api, lab, database_url, live_server, task_worker):
    dev = lab["dev"]
    exp = start(api, dev.headers, max_duration_s=60).json()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE prompt_experiments SET started_at = now() - interval '5 minutes' WHERE id = %s", (exp["id"],)
        )
    state = live_server.app.state.axops
    # the sweep as the scheduler defers it, taken by the test's worker (nobody reads the results meanwhile)
    defer = state.tasks.tasks["prompts:check_experiment_rules"].defer_async(timestamp=0)
    with contextlib.suppress(AlreadyEnqueued, UniqueViolation):  # one is queued already: the worker takes it
        asyncio.run_coroutine_threadsafe(defer, live_server.server_loop).result(30)
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(libpq_url(database_url)) as conn:
            status, reason = conn.execute(
                "SELECT status, ended_reason FROM prompt_experiments WHERE id = %s", (exp["id"],)
            ).fetchone()
        if status != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (status, reason) == ("stopped", "max_duration")
