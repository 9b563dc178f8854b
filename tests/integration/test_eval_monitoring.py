"""Quality monitoring over real HTTP: production requests through `/v1` on a mock upstream (content
logged, PII-masked), a judge route on a second mock answering known scores, the sweep judging a
hash-sampled share through the gateway with the monitor's own key, the hourly series equal to the
known mean, the judge's own requests never sampled, the hourly budget, and another team's 404."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import openai
import pytest

from axops.evaluation import monitoring_sweep
from axops.evaluation.monitoring import sampled
from tests.factories import flush_gateway, make_account, make_key
from tests.mocks import MockUpstream

QUESTION = re.compile(r"question (\d+)")


def _judge_answer(body: dict) -> str:
    """A judge's reply: the score follows from the question it is shown (1 + i % 5 for 'question i');
    a question it does not know gets 3; question 1 it never answers readably."""
    shown = " ".join(str(m.get("content")) for m in body["messages"])  # a retry carries the question too
    found = QUESTION.search(shown)
    if found and found.group(1) == "1":
        return "I would rather not say."
    score = 1 + int(found.group(1)) % 5 if found else 3
    return json.dumps({"reasoning": f"graded {found.group(0) if found else 'other'}", "score": score})


@pytest.fixture
def mocks():
    app, judge = MockUpstream("app"), MockUpstream("judge")
    judge.answer_for = _judge_answer
    yield app, judge
    for mock in (app, judge):
        asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def _sweep(live_server) -> dict:
    flush_gateway(live_server)  # every request of the test is in the database before the sweep reads
    state = live_server.app.state.axops
    return asyncio.run_coroutine_threadsafe(monitoring_sweep.sweep(state, lag_s=0), live_server.server_loop).result(120)


def test_monitors_judge_sampled_production_traffic(api, admin, mocks, live_server):
    app, judge = mocks
    for name, mock in (("app-up", app), ("judge-up", judge)):
        provider = api.post("/api/gateway/providers", json={"name": name, "base_url": mock.url}, headers=admin)
        assert provider.status_code == 201, provider.text
        route = {
            "model_name": "app-chat" if mock is app else "judge",
            "targets": [{"provider_id": provider.json()["id"], "model": "m"}],
        }
        assert api.post("/api/gateway/routes", json=route, headers=admin).status_code == 201
    dev = make_account(api, admin, "mon-dev", new_team="mon-a")
    other = make_account(api, admin, "mon-other", new_team="mon-b")
    body = {"route": "app-chat", "judge_route": "judge", "rubric": "helpfulness"}

    # refused: a rubric that needs a reference, an unknown rubric, an unknown route, a bad share
    refused = api.post("/api/eval/monitors", json={**body, "name": "c", "rubric": "correctness"}, headers=dev.headers)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/quality_monitor_needs_reference")
    assert refused.json()["rubric"] == "correctness"
    unknown = api.post("/api/eval/monitors", json={**body, "name": "u", "rubric": "tone"}, headers=dev.headers)
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/quality_monitor_judge_invalid")
    no_route = api.post("/api/eval/monitors", json={**body, "name": "r", "route": "nope"}, headers=dev.headers)
    assert no_route.status_code == 404 and no_route.json()["type"].endswith("/no_route")
    assert (
        api.post("/api/eval/monitors", json={**body, "name": "z", "sample_rate": 0}, headers=dev.headers).status_code
        == 422
    )

    def create(**fields) -> dict:
        r = api.post("/api/eval/monitors", json={**body, **fields}, headers=dev.headers)
        assert r.status_code == 201, r.text
        return r.json()

    half = create(name="half", sample_rate=0.5)
    capped = create(name="capped", sample_rate=1.0, max_per_hour=3)
    # a monitor of the judge route itself: the judges' own calls must never be among its samples
    on_judge = create(name="on-judge", route="judge", judge_route="judge", sample_rate=1.0)
    assert (
        half["enabled"] and half["sample_rate"] == 0.5 and half["max_per_hour"] == 60 and half["team_name"] == "mon-a"
    )
    taken = api.post("/api/eval/monitors", json={**body, "name": "half"}, headers=dev.headers)
    assert taken.status_code == 409 and taken.json()["type"].endswith("/quality_monitor_exists")

    # production traffic: the developer's logged key (the first request carries a phone number), and
    # another team's requests to the same route, which the developer's monitors do not read
    logged = make_key(api, dev.headers, "prod", log_content=True)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=logged["key"], max_retries=0)
    for i in range(20):
        extra = " 연락처 010-2345-6789" if i == 0 else ""
        client.chat.completions.create(model="app-chat", messages=[{"role": "user", "content": f"question {i}{extra}"}])
    for i in (2, 4):  # asked of the judge route directly, as production traffic of that route
        client.chat.completions.create(model="judge", messages=[{"role": "user", "content": f"question {i}"}])
    theirs = make_key(api, other.headers, "theirs", log_content=True)
    their_client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=theirs["key"], max_retries=0)
    for i in range(3):
        their_client.chat.completions.create(model="app-chat", messages=[{"role": "user", "content": f"question {i}"}])
    flush_gateway(live_server)
    mine = api.get("/api/gateway/logs", params={"model": "app-chat", "limit": 100}, headers=dev.headers).json()["items"]
    assert len(mine) == 20
    by_id = {r["id"]: int(QUESTION.search(r["request"]["messages"][0]["content"]).group(1)) for r in mine}
    chosen = [i for rid, i in by_id.items() if sampled(rid, 0.5)]
    assert 0 < len(chosen) < 20  # the hash sample picks some, not all

    done = _sweep(live_server)
    assert done["monitors"] == 3 and done["errors"] == (1 in chosen) + 1  # "question 1": half maybe, capped surely
    done_again = _sweep(live_server)  # the judges' calls of the first sweep are in the database now
    assert done_again["judged"] == 0

    # the share: exactly the hash-sampled requests, each graded with its known score
    scores = api.get(f"/api/eval/monitors/{half['id']}/scores", params={"limit": 200}, headers=dev.headers).json()[
        "items"
    ]
    assert sorted(by_id[s["usage_record_id"]] for s in scores) == sorted(chosen)
    assert all(s["rubric"] == "helpfulness" for s in scores)
    graded = [i for i in chosen if i != 1]
    assert {s["reasoning"] for s in scores if s["error"] is None} == {f"graded question {i}" for i in graded}
    assert [s["score"] for s in scores if s["error"] is not None] == [None] * (1 in chosen)
    expected = sum((1 + i % 5 - 1) / 4 for i in graded) / len(graded)
    series = api.get(f"/api/eval/monitors/{half['id']}/series", params={"step": "hour"}, headers=dev.headers).json()
    points = series["points"]
    assert sum(p["n"] for p in points) == len(graded) and sum(p["errors"] for p in points) == (1 in chosen)
    assert sum(p["avg"] * p["n"] for p in points) / len(graded) == pytest.approx(expected)
    assert all(p["p10"] <= p["avg"] for p in points)
    by_day = api.get(f"/api/eval/monitors/{half['id']}/series", params={"step": "day"}, headers=dev.headers).json()
    assert sum(p["n"] for p in by_day["points"]) == len(graded)

    # the judge saw the masked text only, and was called with the monitor's key for the judge route
    asked = [r for r in judge.requests if "question" in json.dumps(r, ensure_ascii=False)]
    assert asked and not any("2345-6789" in json.dumps(r, ensure_ascii=False) for r in asked)
    keys = api.get("/api/apikey", params={"limit": 100}, headers=dev.headers).json()["items"]
    monitor_keys = [k for k in keys if k["name"].startswith("quality-monitor-")]
    assert len(monitor_keys) == 3 and all(k["models"] == ["judge"] and not k["log_content"] for k in monitor_keys)

    # the judge route's monitor read only the two requests asked of it directly, never a judge's call
    judged_on_judge = api.get(f"/api/eval/monitors/{on_judge['id']}/scores", headers=dev.headers).json()["items"]
    assert sorted(s["reasoning"] for s in judged_on_judge) == ["graded question 2", "graded question 4"]

    # the budget: 3 in the hour, the oldest first (the phone number's request, masked), the rest counted as skipped
    capped_now = api.get(f"/api/eval/monitors/{capped['id']}", headers=dev.headers).json()
    assert capped_now["judged_last_hour"] == 3 and capped_now["skipped"] == 17
    assert capped_now["last_error"] is None  # the second sweep read nothing new: the failure was the first's
    capped_scores = api.get(f"/api/eval/monitors/{capped['id']}/scores", headers=dev.headers).json()["items"]
    assert sorted(by_id[s["usage_record_id"]] for s in capped_scores) == [0, 1, 2]
    (unreadable,) = [s for s in capped_scores if s["error"]]
    assert by_id[unreadable["usage_record_id"]] == 1 and unreadable["score"] is None and unreadable["raw"] is None
    listed = api.get("/api/eval/monitors", headers=dev.headers).json()
    first = api.get("/api/eval/monitors", params={"limit": 2}, headers=dev.headers).json()
    rest = api.get(
        "/api/eval/monitors", params={"limit": 2, "cursor": first["next_cursor"]}, headers=dev.headers
    ).json()
    assert [m["id"] for m in first["items"] + rest["items"]] == [m["id"] for m in listed["items"]]
    assert rest["next_cursor"] is None and rest["total"] is None and first["total"] == 3
    page = api.get(f"/api/eval/monitors/{capped['id']}/scores", params={"limit": 2}, headers=dev.headers).json()
    more = api.get(
        f"/api/eval/monitors/{capped['id']}/scores",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=dev.headers,
    ).json()
    assert [s["id"] for s in page["items"] + more["items"]] == [s["id"] for s in capped_scores]
    assert listed["total"] == 3 and {m["name"] for m in listed["items"]} == {"half", "capped", "on-judge"}
    listed_half = next(m for m in listed["items"] if m["name"] == "half")
    assert listed_half["n_last_24h"] == len(graded) and listed_half["avg_last_24h"] == pytest.approx(expected)

    # another team: not listed, and 404 like a missing monitor for every route of it
    assert api.get("/api/eval/monitors", headers=other.headers).json()["total"] == 0
    for path in ("", "/series", "/scores"):
        r = api.get(f"/api/eval/monitors/{half['id']}{path}", headers=other.headers)
        assert r.status_code == 404 and r.json()["type"].endswith("/quality_monitor_not_found"), path
    assert (
        api.patch(f"/api/eval/monitors/{half['id']}", json={"enabled": False}, headers=other.headers).status_code == 404
    )
    assert api.delete(f"/api/eval/monitors/{half['id']}", headers=other.headers).status_code == 404
    bad_range = api.get(
        f"/api/eval/monitors/{half['id']}/series",
        params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=dev.headers,
    )
    assert bad_range.status_code == 422 and bad_range.json()["type"].endswith("/quality_series_range_invalid")

    # pausing revokes the key; a paused monitor judges nothing; deleting removes it, audited
    paused = api.patch(
        f"/api/eval/monitors/{half['id']}", json={"enabled": False, "sample_rate": 0.2}, headers=dev.headers
    )
    assert paused.status_code == 200 and not paused.json()["enabled"] and paused.json()["sample_rate"] == 0.2
    changed = api.patch(f"/api/eval/monitors/{capped['id']}", json={"rubric": "correctness"}, headers=dev.headers)
    assert changed.status_code == 422 and changed.json()["type"].endswith("/quality_monitor_needs_reference")
    client.chat.completions.create(model="app-chat", messages=[{"role": "user", "content": "question 99"}])
    assert _sweep(live_server)["monitors"] == 2
    keys = api.get("/api/apikey", params={"limit": 100}, headers=dev.headers).json()["items"]
    assert sum(1 for k in keys if k["name"] == f"quality-monitor-{half['id']}" and k["status"] == "revoked") == 1
    # a monitor whose key its owner revoked says so, and saving it issues a new key
    capped_key = next(k for k in keys if k["name"] == f"quality-monitor-{capped['id']}")
    assert api.post(f"/api/apikey/{capped_key['id']}/revoke", headers=dev.headers).status_code == 200
    _sweep(live_server)
    assert "revoked" in api.get(f"/api/eval/monitors/{capped['id']}", headers=dev.headers).json()["last_error"]
    saved = api.patch(f"/api/eval/monitors/{capped['id']}", json={"max_per_hour": 5}, headers=dev.headers).json()
    assert saved["last_error"] is None and saved["max_per_hour"] == 5
    _sweep(live_server)
    assert api.get(f"/api/eval/monitors/{capped['id']}", headers=dev.headers).json()["last_error"] is None

    # resuming issues a new key and judges nothing of the paused time ("question 99" was asked meanwhile)
    resume = {"enabled": True, "sample_rate": 1.0}
    resumed = api.patch(f"/api/eval/monitors/{half['id']}", json=resume, headers=dev.headers)
    assert resumed.status_code == 200 and resumed.json()["enabled"] and resumed.json()["last_error"] is None
    keys = api.get("/api/apikey", params={"limit": 100}, headers=dev.headers).json()["items"]
    statuses = sorted(k["status"] for k in keys if k["name"] == f"quality-monitor-{half['id']}")
    assert statuses == ["active", "revoked"]
    client.chat.completions.create(model="app-chat", messages=[{"role": "user", "content": "question 98"}])
    assert _sweep(live_server)["monitors"] == 3
    after = api.get(f"/api/eval/monitors/{half['id']}/scores", params={"limit": 200}, headers=dev.headers).json()[
        "items"
    ]
    assert len(after) == len(scores) + 1 and after[0]["reasoning"] == "graded question 98"
    # retention: the reasoning goes with the request logs, the scores with the usage records
    state, settings = live_server.app.state.axops, live_server.app.state.axops.settings

    def expire(days: int) -> dict:
        later = datetime.now(UTC) + timedelta(days=days)
        return asyncio.run_coroutine_threadsafe(monitoring_sweep.expire(state, later), live_server.server_loop).result(
            30
        )

    assert expire(settings.request_log_retention_days + 1)["deleted"] == 0
    kept = api.get(f"/api/eval/monitors/{capped['id']}/scores", headers=dev.headers).json()["items"]
    assert len(kept) >= 3 and {s["reasoning"] for s in kept} == {""}
    assert expire(settings.usage_retention_days + 1)["deleted"] > 0
    assert api.get(f"/api/eval/monitors/{capped['id']}/scores", headers=dev.headers).json()["items"] == []
    assert api.delete(f"/api/eval/monitors/{half['id']}", headers=dev.headers).status_code == 204
    assert api.get(f"/api/eval/monitors/{half['id']}", headers=dev.headers).status_code == 404
    actions = [
        e["action"]
        for e in api.get(
            "/api/audit/logs", params={"resource_type": "quality_monitor", "limit": 200}, headers=admin
        ).json()["items"]
    ]
    assert {"eval.monitor_create", "eval.monitor_update", "eval.monitor_delete"} <= set(actions)
