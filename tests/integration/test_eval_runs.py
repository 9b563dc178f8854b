"""Evaluation runs over real HTTP: two mock upstreams whose answers are known functions of the input
(A answers the reference, B a fixed wrong text and a 500 for inputs with FAIL) and a judge whose
grades follow the answers (garbage for inputs with JUNK), so every score, verdict and cost is known;
the estimate, the run through the gateway, the report and its win rates, tracking, the rows' filters,
downloads, SSE, the budget stop and cancel."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest

from tests.factories import (
    make_account,
    make_eval_set,
    make_prompt,
    make_route,
    register_model,
    run_tasks,
    upload_model,
)
from tests.mocks import MockUpstream, embedding

ROWS = [
    ("What is one plus one?", "two"),
    ("Capital of France?", "Paris"),
    ("한국의 수도는 어디인가요?", "서울입니다"),
    ("Say hello FAIL", "hello"),
    ("Name a color JUNK", "blue"),
    ("What is two plus two?", "four"),
]
REFERENCE = dict(ROWS)
MAPPING = {"input": "question", "references": ["answer"]}
WRONG = "wrong answer"


def dataset_csv(rows=ROWS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer"])
    writer.writerows(rows)
    return out.getvalue().encode()


def _last(body: dict) -> str:
    return str(body["messages"][-1]["content"])


def _judge(body: dict) -> str:
    text = "\n".join(str(m.get("content")) for m in body["messages"])
    if "JUNK" in text:
        return "I would rather not say."
    if "<answer_a>" in text:
        a = re.search(r"<answer_a>\n(.*?)\n</answer_a>", text, re.S).group(1)
        return json.dumps({"reasoning": "compared", "winner": "B" if WRONG in a else "A"})
    answer = re.search(r"<answer>\n(.*?)\n</answer>", text, re.S).group(1)
    return json.dumps({"reasoning": "graded", "score": 1 if WRONG in answer else 5})


@pytest.fixture(scope="module")
def upstreams():
    a, b, judge = MockUpstream("a"), MockUpstream("b"), MockUpstream("judge")
    a.answer_for = lambda body: REFERENCE.get(_last(body), "?")
    b.answer_for = lambda body: WRONG
    b.fail_for = lambda body: "FAIL" in _last(body)
    judge.answer_for = _judge
    judge.embedding_for = embedding  # the judge's upstream also serves the embeddings route
    yield a, b, judge
    for u in (a, b, judge):
        u.stop()


@pytest.fixture
def lab(api, admin, live_server, upstreams):
    a, b, judge = upstreams
    make_route(api, admin, "model-a", a.url, input_price=1.0, output_price=2.0)
    make_route(api, admin, "model-b", b.url, input_price=3.0, output_price=4.0)
    judge_route = make_route(api, admin, "judge", judge.url)
    provider_id = judge_route["targets"][0]["provider_id"]
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "embed", "targets": [{"provider_id": provider_id, "model": "tiny"}]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    dev = make_account(api, admin, "dev", new_team="ml")
    eval_set = make_eval_set(api, dev.headers, admin, live_server, dataset_csv(), MAPPING)
    return {"headers": dev.headers, "set": eval_set, "account": dev}


def run_body(eval_set: dict, **extra) -> dict:
    return {
        "eval_set_id": eval_set["id"],
        "targets": [{"key": "A", "route": "model-a"}, {"key": "B", "route": "model-b", "label": "baseline"}],
        "metrics": [{"name": "exact_match"}, {"name": "bleu"}, {"name": "token_f1"}],
        "judges": [
            {"name": "correctness", "route": "judge"},
            {"name": "correctness", "route": "judge", "mode": "pairwise"},
        ],
        "concurrency": 4,
        **extra,
    }


def test_a_run_scores_every_row_as_known(api, lab, live_server):
    h, eval_set = lab["headers"], lab["set"]
    assert eval_set["row_count"] == 6 and eval_set["rows_readable"] and eval_set["mapping"]["input_format"] == "text"

    est = api.post("/api/eval/runs/estimate", json=run_body(eval_set), headers=h)
    assert est.status_code == 200, est.text
    est = est.json()
    # 6 rows × 2 targets; judges: single 6 × 2, pairwise 6 × 1 pair × 2 orders
    assert (est["rows"], est["calls"], est["judge_calls"]) == (6, 36, 24)
    assert est["per_target"]["A"]["calls"] == 6 and est["prompt_tokens"] > 0 and est["cost"] > 0

    model = register_model(api, h, "qa-bot")
    version = upload_model(api, h, model["id"], {"config.json": b'{"model_type": "gpt2"}'}).json()
    body = run_body(eval_set, model_version_id=version["id"])
    body["metrics"].append({"name": "embedding_similarity", "params": {"route": "embed"}})
    r = api.post("/api/eval/runs", json=body, headers=h)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued" and run["estimate"]["rows"] == 6
    run_tasks(live_server)

    run = api.get(f"/api/eval/runs/{run['id']}", headers=h).json()
    assert run["status"] == "succeeded", run
    assert run["progress"] == {"done": 6, "total": 6, "errors": 1}
    summary = run["summary"]
    assert summary["exact_match"] == {"A": 1.0, "B": 0.0}
    assert summary["bleu"]["A"] == pytest.approx(1.0) and summary["bleu"]["B"] == 0.0
    assert summary["token_f1"] == {"A": 1.0, "B": 0.0}
    assert summary["judge:correctness"] == {"A": 1.0, "B": 0.0}
    # embeddings through the gateway: A's output is its reference (cosine 1), B's is another text
    assert summary["embedding_similarity"]["A"] == pytest.approx(1.0) and summary["embedding_similarity"]["B"] < 0.99

    rows = api.get(f"/api/eval/runs/{run['id']}/rows", headers=h).json()
    assert rows["total"] == 6
    by_input = {row["input"]: row for row in rows["items"]}
    for question, answer in ROWS:
        row = by_input[question]
        a, b = row["results"]["A"], row["results"]["B"]
        assert row["references"] == [answer] and a["output"] == answer and a["error"] is None
        # the cost of a call is its tokens (the mock counts words) at the route's prices
        assert a["completion_tokens"] == 1 and a["cost"] == pytest.approx((a["prompt_tokens"] * 1 + 2) / 1e6)
        if "FAIL" in question:  # B failed after its retries: recorded on the row, the run went on
            assert b["output"] is None and "HTTP 50" in b["error"] and b["scores"] == {}
            assert row["pairwise"]["A|B"]["correctness"]["error"]
        else:
            assert b["output"] == WRONG and b["scores"]["exact_match"] == 0.0
        if "JUNK" in question:  # the judge's garbage: the row's judge error, after one retry
            assert a["judges"]["correctness"]["score"] is None and "unreadable" in a["judges"]["correctness"]["error"]
        elif "FAIL" not in question:
            assert a["judges"]["correctness"] == {**a["judges"]["correctness"], "score": 1.0, "raw": 5, "error": None}
            assert b["judges"]["correctness"]["score"] == 0.0 and b["judges"]["correctness"]["reasoning"] == "graded"
            verdict = row["pairwise"]["A|B"]["correctness"]
            assert (verdict["winner"], verdict["consistent"]) == ("A", True)

    report = api.get(f"/api/eval/runs/{run['id']}/report", headers=h).json()
    (cmp,) = report["comparisons"]
    assert (cmp["a"], cmp["b"]) == ("A", "B")
    assert {k: cmp["metrics"]["exact_match"][k] for k in ("wins", "losses", "ties")} == {
        "wins": 5,
        "losses": 0,
        "ties": 0,
    }
    assert cmp["pairwise"]["correctness"]["a_wins"] == 4 and cmp["pairwise"]["correctness"]["b_wins"] == 0
    assert report["usage"]["B"]["errors"] == 1 and report["usage"]["A"]["errors"] == 0
    assert report["metrics"]["exact_match"]["by_target"]["A"]["mean"] == 1.0

    # rows where A beats B on exact match: the five rows B answered
    better = api.get(f"/api/eval/runs/{run['id']}/rows", params={"better": "A", "metric": "exact_match"}, headers=h)
    assert better.status_code == 200 and better.json()["total"] == 5
    assert (
        api.get(f"/api/eval/runs/{run['id']}/rows", params={"worse": "A", "metric": "bleu"}, headers=h).json()["total"]
        == 0
    )
    only_b = api.get(f"/api/eval/runs/{run['id']}/rows", params={"target": "B", "limit": 2}, headers=h).json()
    assert len(only_b["items"]) == 2 and only_b["next_cursor"] and set(only_b["items"][0]["results"]) == {"B"}

    # the tracking run: params, a metric per target, the rows and the report as artifacts
    tracked = api.get(f"/api/experiments/runs/{run['experiment_run_id']}", headers=h).json()
    assert (
        tracked["experiment_name"] == "eval/qa"
        and tracked["params"]["metrics"] == "exact_match,bleu,token_f1,embedding_similarity"
    )
    assert (
        tracked["metrics"]["exact_match/A"]["value"] == 1.0
        and tracked["metrics"]["judge:correctness/B"]["value"] == 0.0
    )
    art = api.get(f"/api/experiments/runs/{run['experiment_run_id']}/artifacts/eval_rows.jsonl", headers=h)
    assert art.status_code == 200 and len(art.text.splitlines()) == 6

    # the model version's metrics: the primary target's means under eval/<set>/<metric>
    metrics = api.get(f"/api/model/version/{version['id']}", headers=h).json()["metrics"]
    assert metrics["eval/qa/exact_match"] == 1.0 and metrics["eval/qa/judge:correctness"] == 1.0

    csv_r = api.get(f"/api/eval/runs/{run['id']}/report.csv", headers=h)
    assert csv_r.status_code == 200 and "attachment" in csv_r.headers["content-disposition"]
    assert "서울입니다" in csv_r.text
    html = api.get(f"/api/eval/runs/{run['id']}/report.html", params={"lang": "en"}, headers=h)
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    assert html.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"

    with api.stream("GET", f"/api/eval/runs/{run['id']}/events", headers=h) as sse:
        events = [line for line in sse.iter_lines() if line.startswith("event:")]
    assert events == ["event: progress", "event: end"]

    runs = api.get("/api/eval/runs", params={"set_id": eval_set["id"]}, headers=h).json()
    assert runs["total"] == 1 and runs["items"][0]["eval_set_name"] == "qa"


def test_bad_runs_are_refused_before_anything_is_queued(api, lab):
    h, eval_set = lab["headers"], lab["set"]
    r = api.post("/api/eval/runs", json=run_body(eval_set, targets=[{"key": "A", "route": "nope"}]), headers=h)
    assert r.status_code == 422 and r.json()["route"] == "nope" and r.json()["type"].endswith("/eval_unknown_route")
    r = api.post("/api/eval/runs", json=run_body(eval_set, metrics=[{"name": "bleurt"}]), headers=h)
    assert r.status_code == 422 and r.json()["type"].endswith("/eval_invalid_metrics")
    twice = [{"key": "A", "route": "model-a"}, {"key": "A", "route": "model-b"}]
    assert api.post("/api/eval/runs", json=run_body(eval_set, targets=twice), headers=h).status_code == 422
    r = api.post(
        "/api/eval/runs",
        json=run_body(eval_set, targets=[{"key": "A", "kind": "column", "column": "x"}], judges=[]),
        headers=h,
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/eval_columns_missing")
    assert api.get("/api/eval/runs", headers=h).json()["total"] == 0


def test_budget_stop_and_cancel_keep_partial_results(api, lab, live_server, upstreams):
    h, eval_set = lab["headers"], lab["set"]
    # B's calls cost (words × 3 + 1 × 4) / 1e6 each: a budget of one micro-dollar is passed by the first row
    body = run_body(eval_set, judges=[], concurrency=1, max_cost=0.000001)
    run = api.post("/api/eval/runs", json=body, headers=h).json()
    run_tasks(live_server)
    run = api.get(f"/api/eval/runs/{run['id']}", headers=h).json()
    assert run["status"] == "stopped" and 1 <= run["progress"]["done"] < 6 and run["cost"] > 0.000001
    rows = api.get(f"/api/eval/runs/{run['id']}/rows", headers=h).json()["items"]
    done = [row for row in rows if row["results"]]
    assert len(done) == run["progress"]["done"] and all(set(row["results"]) == {"A", "B"} for row in done)

    # cancelled while running (A's first answer asks for it): no more rows are taken, what was done is kept
    running = api.post("/api/eval/runs", json=run_body(eval_set, judges=[], concurrency=1), headers=h).json()
    a = upstreams[0]
    answer = a.answer_for

    def cancel_then_answer(body: dict) -> str:
        a.answer_for = answer
        with httpx.Client(base_url=live_server.url, timeout=10) as client:
            assert client.post(f"/api/eval/runs/{running['id']}/cancel", headers=h).status_code == 200
        return answer(body)

    a.answer_for = cancel_then_answer
    try:
        run_tasks(live_server)
    finally:
        a.answer_for = answer
    run = api.get(f"/api/eval/runs/{running['id']}", headers=h).json()
    assert run["status"] == "cancelled" and run["cancel_requested"] and 1 <= run["progress"]["done"] < 6

    queued = api.post("/api/eval/runs", json=run_body(eval_set), headers=h).json()
    cancelled = api.post(f"/api/eval/runs/{queued['id']}/cancel", headers=h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    run_tasks(live_server)  # the task finds it cancelled and does nothing
    after = api.get(f"/api/eval/runs/{queued['id']}", headers=h).json()
    assert after["status"] == "cancelled" and after["progress"]["done"] == 0
    again = api.post(f"/api/eval/runs/{queued['id']}/cancel", headers=h)
    assert again.status_code == 409 and again.json()["type"].endswith("/eval_run_finished")


def test_prompt_and_column_targets(api, lab, live_server):
    h, eval_set = lab["headers"], lab["set"]
    catalogue = api.get("/api/eval/metrics", headers=h).json()
    assert {"bleu", "embedding_similarity"} <= {m["name"] for m in catalogue["metrics"]}
    assert "correctness" in {r["name"] for r in catalogue["rubrics"]} and "morpheme" in catalogue["tokenizers"]

    # a saved prompt rendered by the gateway on its bound route, and pre-computed outputs from a column
    make_prompt(api, h, "qa-prompt", "{{ input }}", binding={"route": "model-a"})
    body = {
        "eval_set_id": eval_set["id"],
        "targets": [
            {"key": "A", "kind": "prompt", "prompt": "qa-prompt@production"},
            {"key": "B", "kind": "column", "column": "answer"},
        ],
        "metrics": ["exact_match"],
    }
    est = api.post("/api/eval/runs/estimate", json=body, headers=h).json()
    assert est["per_target"]["B"] == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    run = api.post("/api/eval/runs", json=body, headers=h).json()
    assert run["targets"][0]["route"] == "model-a" and run["targets"][0]["prompt_version"] == 1
    run_tasks(live_server)
    run = api.get(f"/api/eval/runs/{run['id']}", headers=h).json()
    rows = api.get(f"/api/eval/runs/{run['id']}/rows", headers=h).json()["items"]
    assert run["status"] == "succeeded" and run["summary"]["exact_match"] == {"A": 1.0, "B": 1.0}, rows[0]["results"][
        "A"
    ]["error"]
    # the list searches names, sets and targets on the server (LIKE wildcards are literal)
    found = api.get("/api/eval/runs", params={"q": "QA-PROMPT"}, headers=h).json()
    assert [r["id"] for r in found["items"]] == [run["id"]] and found["total"] == 1
    for needle in ("no-such-run", "%", "_"):
        assert api.get("/api/eval/runs", params={"q": needle}, headers=h).json()["total"] == 0, needle
    assert api.get("/api/eval/runs", params={"q": "x" * 201}, headers=h).status_code == 422
    unknown = {**body, "targets": [{"key": "A", "kind": "prompt", "prompt": "nope@production"}]}
    assert api.post("/api/eval/runs", json=unknown, headers=h).status_code == 404

    # a judge written as a saved prompt gets only the variables its version declares (the gateway
    # refuses others), and must declare the one that shows it the answer
    make_prompt(api, h, "blind-grader", "Grade: {{ input }}")
    judge = {"name": "tone", "route": "model-a", "prompt": "blind-grader@production"}
    refused = api.post("/api/eval/runs", json={**body, "judges": [judge]}, headers=h)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/eval_judge_prompt_variables"), refused.text
    make_prompt(api, h, "grader", "Q: {{ input }} A: {{ output }}")
    judged = api.post("/api/eval/runs", json={**body, "judges": [{**judge, "prompt": "grader@production"}]}, headers=h)
    assert judged.status_code == 202 and judged.json()["judges"][0]["variables"] == ["input", "output"], judged.text
    assert api.post(f"/api/eval/runs/{judged.json()['id']}/cancel", headers=h).status_code == 200

    # deleting the set takes its finished runs with it (audited with their count)
    assert api.delete(f"/api/eval/sets/{eval_set['id']}", headers=h).status_code == 204
    assert api.get(f"/api/eval/sets/{eval_set['id']}", headers=h).status_code == 404
    assert api.get(f"/api/eval/runs/{run['id']}", headers=h).status_code == 404
