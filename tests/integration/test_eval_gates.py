"""Evaluation suites gate production promotions, over real HTTP with a worker running: a suite attached to
a model (exact match >= 0.9) on a gateway route whose mock upstream answers wrongly, then rightly.
Promotion is refused while no result exists (evaluation_missing) and after a failing run
(evaluation_gate_failed naming the metric); a Developer cannot force it, an Admin can (audited); a new
version runs the suite by itself and, passing, may be promoted. `axops eval run` is run as CI runs it:
exit 1 on a failing suite, 0 on a passing one (with --fail-under), 2 for an unknown suite."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation

from tests.factories import approve_dataset, make_account, make_key, register_model, upload_dataset, upload_model
from tests.mocks import MockUpstream

AXOPS = Path(sys.executable).with_name("axops")
QA = "question,answer\n서울은 어느 나라의 수도인가요?,대한민국\n부산은 어느 나라의 도시인가요?,대한민국\n"


@pytest.fixture
def upstream():
    mock = MockUpstream("A")
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


def _wait(get, done, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting: {value}"
        time.sleep(0.2)


def _version(api, headers, model_id: str) -> dict:
    """A ready version made cheaply: a config.json alone is a valid (weightless) model version."""
    r = upload_model(api, headers, model_id, {"config.json": b'{"model_type": "gpt2"}'})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "ready"
    return r.json()


def _promote(api, headers, version_id: str, **extra):
    return api.post(f"/api/model/version/{version_id}/stage", json={"stage": "production", **extra}, headers=headers)


def _cli(live_server, key: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AXOPS_URL": live_server.url, "AXOPS_API_KEY": key}
    return subprocess.run(
        [str(AXOPS), "eval", "run", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_suite_gates_promotion_and_the_cli_exits_by_verdict(api, admin, live_server, upstream, task_worker):
    upstream.answer = "일본"  # wrong for every row
    provider = api.post("/api/gateway/providers", json={"name": "mock", "base_url": upstream.url}, headers=admin)
    assert provider.status_code == 201, provider.text
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "qa-bot", "targets": [{"provider_id": provider.json()["id"], "model": "tiny"}]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    dev = make_account(api, admin, "dev1", new_team="ml")
    key = make_key(api, dev.headers, "ci", scopes=["eval:read", "eval:write", "models:write"])["key"]

    # an approved evaluation set: two Korean questions whose reference is the same answer
    r = upload_dataset(api, dev.headers, QA.encode(), "qa.csv", name="qa-ko")
    assert r.status_code == 201, r.text
    dataset_version = r.json()["id"]
    _wait(
        lambda: api.get(f"/api/dataset/version/{dataset_version}", headers=dev.headers).json(),
        lambda v: v["review_status"] == "scanned",
    )
    approve_dataset(api, admin, dataset_version)
    r = api.post(
        "/api/eval/sets",
        json={
            "name": "qa-ko",
            "dataset_version_id": dataset_version,
            "mapping": {"input": "question", "references": ["answer"]},
        },
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    eval_set = r.json()

    model = register_model(api, dev.headers, "qa-model")
    v1 = _version(api, dev.headers, model["id"])
    suite_body = {
        "name": "qa-gate",
        "eval_set_id": eval_set["id"],
        "metrics": [{"name": "exact_match"}],
        "thresholds": [{"metric": "exact_match", "op": ">=", "value": 0.9}],
        "model_id": model["id"],
        "target": {"kind": "route", "route": "qa-bot"},
        "run_on_new_version": True,
    }
    # a threshold must name one of the suite's metrics, as a fraction
    bad = {**suite_body, "thresholds": [{"metric": "bleu", "op": ">=", "value": 0.5}]}
    r = api.post("/api/eval/suites", json=bad, headers=dev.headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/eval_threshold_unknown_metric"), r.text
    bad = {**suite_body, "thresholds": [{"metric": "exact_match", "op": ">=", "value": 90}]}
    r = api.post("/api/eval/suites", json=bad, headers=dev.headers)
    assert r.json()["type"].endswith("/eval_threshold_out_of_range"), r.text
    r = api.post("/api/eval/suites", json={**suite_body, "target": {"route": "no-such-route"}}, headers=dev.headers)
    assert r.json()["type"].endswith("/eval_unknown_route"), r.text
    r = api.post("/api/eval/suites", json=suite_body, headers=dev.headers)
    assert r.status_code == 201, r.text
    suite = r.json()
    assert suite["model_name"] == "qa-model" and suite["last_run"] is None

    # no result for v1 yet: refused, naming the suite
    r = _promote(api, dev.headers, v1["id"])
    assert r.status_code == 409 and r.json()["type"].endswith("/evaluation_missing"), r.text
    assert r.json()["missing"] == ["qa-gate"]
    gate = api.get(f"/api/eval/model-versions/{v1['id']}/gate", headers=dev.headers).json()
    assert gate["passed"] is False and gate["suites"][0]["status"] == "missing"

    # CI runs the suite on v1: every answer is wrong, the suite fails, exit 1
    done = _cli(live_server, key, "qa-gate", "--target", "qa-bot", "--model-version", v1["id"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "exact_match  0.0000  >= 0.9" in done.stdout and "FAIL" in done.stdout, done.stdout
    assert "FAILED: suite qa-gate" in done.stdout

    r = _promote(api, dev.headers, v1["id"])
    assert r.status_code == 409 and r.json()["type"].endswith("/evaluation_gate_failed"), r.text
    assert r.json()["failed"] == ["qa-gate: exact_match 0 < 0.9"]
    assert r.json()["suites"][0]["failed"] == [
        {
            "metric": "exact_match",
            "op": ">=",
            "value": 0.9,
            "actual": 0.0,
            "passed": False,
        }
    ]

    # forcing needs eval:gate_override: a Developer is refused, an Admin passes and is audited
    r = _promote(api, dev.headers, v1["id"], force=True)
    assert r.status_code == 403 and r.json()["type"].endswith("/eval_gate_override_forbidden"), r.text
    r = _promote(api, admin, v1["id"], force=True)
    assert r.status_code == 200 and r.json()["stage"] == "production", r.text
    events = api.get("/api/audit/logs", params={"action": "model.version_stage_override"}, headers=admin).json()[
        "items"
    ]
    assert len(events) == 1 and events[0]["actor_name"] == "admin"
    assert events[0]["summary"]["failed"] == ["qa-gate: exact_match 0 < 0.9"]

    # the model answers rightly now; a new version runs the suite by itself and passes
    upstream.answer = "대한민국"
    v2 = _version(api, dev.headers, model["id"])
    results = _wait(
        lambda: api.get(f"/api/eval/suites/{suite['id']}/results", headers=dev.headers).json(),
        lambda page: any(x["model_version"] == 2 and x["passed"] is not None for x in page["items"]),
    )
    assert results["total"] == 2
    newest = results["items"][0]
    assert (newest["model_version"], newest["passed"], newest["scores"]) == (2, True, {"exact_match": 1.0})
    assert results["items"][1]["passed"] is False  # newest first: v1's failing run
    gate = api.get(f"/api/eval/model-versions/{v2['id']}/gate", headers=dev.headers).json()
    assert gate["passed"] is True and gate["suites"][0]["run_id"] == newest["run_id"]
    r = _promote(api, dev.headers, v2["id"])
    assert r.status_code == 200 and r.json()["stage"] == "production", r.text

    # from CI again: passing, with an extra bar on the metric (exit 0); an unknown suite is an error (exit 2)
    done = _cli(live_server, key, "qa-gate", "--fail-under", "0.95", "--metric", "exact_match")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: suite qa-gate" in done.stdout
    done = _cli(live_server, key, "no-such-suite")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no evaluation suite named 'no-such-suite'" in done.stderr

    # on a schedule: the periodic sweep runs a suite whose interval has passed
    r = api.patch(f"/api/eval/suites/{suite['id']}", json={"interval_hours": 24}, headers=dev.headers)
    assert r.status_code == 200 and r.json()["last_scheduled_at"] is None, r.text
    state = live_server.app.state.axops
    defer = state.tasks.tasks["eval_suites:run_due_suites"].defer_async(timestamp=0)
    with contextlib.suppress(AlreadyEnqueued, UniqueViolation):  # one is queued already: the worker takes it
        asyncio.run_coroutine_threadsafe(defer, live_server.server_loop).result(30)
    results = _wait(
        lambda: api.get(f"/api/eval/suites/{suite['id']}/results", headers=dev.headers).json(),
        lambda page: page["total"] == 4 and page["items"][0]["passed"] is not None,
    )
    assert results["items"][0]["passed"] is True and results["items"][0]["model_version"] is None
    assert api.get(f"/api/eval/suites/{suite['id']}", headers=dev.headers).json()["last_scheduled_at"]

    # another team sees neither the suite nor the gate; a suite's team alone cannot loosen a model's gate
    other = make_account(api, admin, "other1", new_team="ops")
    assert api.get(f"/api/eval/suites/{suite['id']}", headers=other.headers).status_code == 404
    assert api.get("/api/eval/suites", headers=other.headers).json()["items"] == []
    assert api.get(f"/api/eval/model-versions/{v2['id']}/gate", headers=other.headers).status_code == 404
    r = api.patch(f"/api/eval/suites/{suite['id']}", json={"thresholds": []}, headers=other.headers)
    assert r.status_code == 404, r.text
    r = api.patch(f"/api/model/{model['id']}", json={"visibility": "organization"}, headers=dev.headers)
    assert r.status_code == 200, r.text
    r = api.post("/api/eval/suites", json={**suite_body, "name": "lenient", "thresholds": []}, headers=other.headers)
    assert r.status_code == 403, r.text  # seeing a model is not enough to attach a suite to its promotions
