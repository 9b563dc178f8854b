"""Experiment tracking through the axops API: experiments, runs, batches of metrics, histories, the
search language, compare / export / report, the notebook client, and the bad inputs."""

from __future__ import annotations

import csv
import io
import math
import uuid

import pytest

from axops.experiments import router as experiments_router
from axops.experiments.client import Tracker, TrackingError
from tests.declared_models import api_routes, assert_matches_declared_model, declared
from tests.factories import TRACKING_SCOPES, admin_headers, log_batch, make_account, new_run


@pytest.fixture
def researcher(api, admin):
    return make_account(api, admin, "res1", new_team="research", key_scopes=TRACKING_SCOPES)


@pytest.fixture
def outsider(api, admin):
    return make_account(api, admin, "other1", new_team="other-team", key_scopes=TRACKING_SCOPES)


def test_runs_metrics_history_search_compare_export_and_report(api, researcher, admin):
    h = researcher.headers
    runs = {}
    for name, lr, method, final in (
        ("a", "0.0001", "lora", 1.5),
        ("b", "0.01", "full", 2.5),
        ("c", "0.0005", "lora", 2.2),
    ):
        run = new_run(api, h, name=name, params={"lr": lr}, tags={"method": method})
        points = [
            {"key": "loss", "value": 3.0 - (3.0 - final) * s / 99, "step": s, "timestamp": 1_700_000_000_000 + s}
            for s in range(100)
        ]
        points += [{"key": "lr", "value": float(lr), "step": s} for s in range(0, 100, 10)]
        r = log_batch(api, h, run["id"], points, params={"epochs": "3"}, tags={"stage": "dev"})
        assert r.status_code == 200, r.text
        assert r.json()["metrics"] == 110
        runs[name] = run
    assert (
        api.patch(f"/api/experiments/runs/{runs['a']['id']}", json={"status": "FINISHED"}, headers=h).json()["status"]
        == "FINISHED"
    )

    got = api.get(f"/api/experiments/runs/{runs['a']['id']}", headers=h).json()
    assert got["params"] == {"lr": "0.0001", "epochs": "3"} and got["tags"] == {"method": "lora", "stage": "dev"}
    assert got["metrics"]["loss"] == {"value": 1.5, "step": 99, "timestamp": 1_700_000_000_099}
    assert got["end_time"] is not None and got["experiment_name"] == "lora-sweep" and got["user_name"] == "res1"

    hist = api.get(f"/api/experiments/runs/{runs['a']['id']}/metrics/loss", headers=h).json()
    assert hist["count"] == 100 and hist["steps"] == list(range(100)) and hist["values"][-1] == 1.5
    assert api.get(f"/api/experiments/runs/{runs['a']['id']}/metrics/nope", headers=h).json()["count"] == 0

    def search(expr, **kw):
        r = api.post("/api/experiments/runs/search", json={"filter": expr, **kw}, headers=h)
        assert r.status_code == 200, r.text
        return [x["name"] for x in r.json()["items"]]

    assert sorted(search("params.lr < 0.001 and metrics.loss < 2.3 and tags.method = 'lora'")) == ["a", "c"]
    assert search("params.lr < 0.001 and metrics.loss < 2.0") == ["a"]
    assert search("metrics.loss > 2 or status = 'FINISHED'", order_by=["metrics.loss DESC"]) == ["b", "c", "a"]
    assert search("", order_by=["params.lr ASC"]) == ["a", "c", "b"]
    assert search("name like 'b%'") == ["b"]
    assert search("tags.method = 'lora' and not params.lr = 0.0001") == ["c"]
    page = api.post("/api/experiments/runs/search", json={"limit": 2}, headers=h).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = api.post("/api/experiments/runs/search", json={"limit": 2, "cursor": page["next_cursor"]}, headers=h).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    r = api.get("/api/experiments/runs", params={"filter": "metrics.loss < 2", "order_by": "metrics.loss"}, headers=h)
    assert [x["name"] for x in r.json()["items"]] == ["a"]

    exps = api.get("/api/experiments", headers=h).json()
    assert [(e["name"], e["run_count"]) for e in exps] == [("lora-sweep", 3)]

    cmp = api.post("/api/experiments/runs/compare", json={"run_ids": [runs["a"]["id"], runs["b"]["id"]]}, headers=h)
    assert cmp.status_code == 200, cmp.text
    cmp = cmp.json()
    assert cmp["differing_params"] == ["lr"] and cmp["param_keys"] == ["epochs", "lr"]
    assert cmp["metric_keys"] == ["loss", "lr"] and len(cmp["series"]["loss"][runs["b"]["id"]]["steps"]) == 100
    small = api.post(
        "/api/experiments/runs/compare", json={"run_ids": [runs["a"]["id"]], "max_points": 10}, headers=h
    ).json()
    steps = small["series"]["loss"][runs["a"]["id"]]["steps"]
    assert len(steps) <= 11 and steps[0] == 0 and steps[-1] == 99

    report = api.post(
        "/api/experiments/runs/compare/report", json={"run_ids": [runs["a"]["id"], runs["b"]["id"]]}, headers=h
    )
    assert report.headers["content-type"].startswith("text/markdown")
    assert "| **lr** | **0.0001** | **0.01** |" in report.text and "**loss**: best 1.5 (lowest) in a" in report.text

    exported = api.post(
        "/api/experiments/runs/export", json={"filter": "tags.method = 'lora'", "format": "csv"}, headers=h
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["name"] for r in rows) == ["a", "c"] and {"params.lr", "metrics.loss", "tags.method"} <= set(
        rows[0]
    )
    js = api.post(
        "/api/experiments/runs/export", json={"format": "json", "order_by": ["metrics.loss"]}, headers=h
    ).json()
    assert [r["name"] for r in js] == ["a", "c", "b"] and js[0]["metrics.loss"] == 1.5

    audit = api.get("/api/audit/logs", params={"action": "run.log_batch"}, headers=admin).json()
    assert len(audit["items"]) == 3  # one event per batch call, not per point


def test_totals_sorting_across_pages_and_every_key(api, researcher, outsider):
    """The runs table's needs: how many runs match in all (not just the page), a sort by a metric or a numeric
    param that holds across pages, every param / metric key of an experiment, and a bad sort key refused."""
    h = researcher.headers
    for i in range(12):
        run = new_run(api, h, experiment="wide", name=f"w{i:02d}", params={f"p{i}": "x", "lr": str(i * 0.5)})
        points = [{"key": "loss", "value": (i * 7) % 12}, {"key": f"m{i}", "value": i}]
        assert log_batch(api, h, run["id"], points).status_code == 200
    new_run(api, h, experiment="narrow", name="n0", params={"only": "1"})

    def page(**kw):
        r = api.post("/api/experiments/runs/search", json={"limit": 5, **kw}, headers=h)
        assert r.status_code == 200, r.text
        return r.json()

    first = page(filter="name like 'w%'", order_by=["metrics.loss ASC"])
    assert first["total"] == 12 and len(first["items"]) == 5
    names, cursor = [r["name"] for r in first["items"]], first["next_cursor"]
    while cursor:
        nxt = page(filter="name like 'w%'", order_by=["metrics.loss ASC"], cursor=cursor)
        assert nxt["total"] is None  # counted once, on the first page
        names += [r["name"] for r in nxt["items"]]
        cursor = nxt["next_cursor"]
    by_loss = sorted(range(12), key=lambda i: (i * 7) % 12)
    assert names == [f"w{i:02d}" for i in by_loss]  # the whole list in order, not each page sorted alone
    desc = page(filter="name like 'w%'", order_by=["params.lr DESC"])["items"]
    assert [r["name"] for r in desc] == ["w11", "w10", "w09", "w08", "w07"]  # numerically: 5.5 before 10.0 is wrong
    assert page(filter="metrics.loss < 3")["total"] == 3
    assert page()["total"] == 13 and page(limit=50)["total"] == 13
    listed = api.get("/api/experiments/runs", params={"limit": 2, "filter": "name like 'w1%'"}, headers=h).json()
    assert listed["total"] == 2 and listed["next_cursor"] is None
    assert api.post("/api/experiments/runs/search", json={"limit": 5}, headers=outsider.headers).json()["total"] == 0

    wide = next(e for e in api.get("/api/experiments", headers=h).json() if e["name"] == "wide")
    keys = api.get("/api/experiments/runs/keys", params={"experiment_id": wide["id"]}, headers=h).json()
    assert keys["params"] == sorted(["lr", *(f"p{i}" for i in range(12))]) and "only" not in keys["params"]
    assert keys["metrics"] == sorted(["loss", *(f"m{i}" for i in range(12))]) and keys["tags"] == []
    assert "only" in api.get("/api/experiments/runs/keys", headers=h).json()["params"]
    other = api.get("/api/experiments/runs/keys", params={"experiment_id": wide["id"]}, headers=outsider.headers)
    assert other.json() == {"params": [], "metrics": [], "tags": []}  # another team's keys are not shown

    for bad in ("metrics.loss UP", "colour", "attributes.nope", "metrics.", "metrics.loss ASC; DROP TABLE runs"):
        r = api.post("/api/experiments/runs/search", json={"order_by": [bad]}, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        r = api.get("/api/experiments/runs", params={"order_by": bad}, headers=h)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert api.get("/api/experiments/runs/keys", params={"experiment_id": "x"}, headers=h).status_code == 422


def test_bad_input_and_other_teams(api, researcher, outsider):
    h, o = researcher.headers, outsider.headers
    run = new_run(api, h, params={"lr": "0.1"})
    rid = run["id"]
    # another team's run (and experiment) is 404 everywhere; so is an unknown run
    for path in (
        f"/api/experiments/runs/{rid}",
        f"/api/experiments/runs/{rid}/metrics/loss",
        f"/api/experiments/{run['experiment_id']}",
    ):
        assert api.get(path, headers=o).status_code == 404
    assert log_batch(api, o, rid, [{"key": "loss", "value": 1}]).status_code == 404
    assert api.post("/api/experiments/runs/compare", json={"run_ids": [rid]}, headers=o).status_code == 404
    assert api.post("/api/experiments/runs/search", json={}, headers=o).json()["items"] == []
    assert log_batch(api, h, uuid.uuid4(), [{"key": "loss", "value": 1}]).status_code == 404
    assert api.get("/api/experiments/runs/not-a-uuid", headers=h).status_code == 422
    # wrong types, huge batches, write-once params, malformed filters
    assert log_batch(api, h, rid, [{"key": "loss", "value": "high"}]).status_code == 422
    assert log_batch(api, h, rid, [{"key": "loss", "value": 1, "step": 1.5}]).status_code == 422
    assert log_batch(api, h, rid, [{"key": "", "value": 1}]).status_code == 422
    assert log_batch(api, h, rid, [{"key": "loss", "value": 1}] * 10_001).status_code in (413, 422)
    assert log_batch(api, h, rid, params={f"p{i}": "x" for i in range(101)}).status_code == 422
    r = log_batch(api, h, rid, params={"lr": "0.2"})
    assert r.status_code == 422 and "write-once" in r.json()["detail"]
    assert log_batch(api, h, rid, params={"lr": "0.1"}).status_code == 200  # the same value again is fine
    for bad in (
        "params.lr <",
        "metrics.loss < 'x'",
        "params.lr = 1; DROP TABLE runs",
        "x = 1",
        "params.lr = 1 OR 1=1 --",
    ):
        r = api.post("/api/experiments/runs/search", json={"filter": bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json" and "filter" in r.json()["detail"].lower()
    assert api.get("/api/experiments/runs", params={"filter": "params.lr << 1"}, headers=h).status_code == 422
    assert api.patch(f"/api/experiments/runs/{rid}", json={"status": "DONE"}, headers=h).status_code == 422
    assert api.post("/api/experiments", json={"name": "lora-sweep"}, headers=h).status_code == 409
    # nothing half-written by the rejected calls
    got = api.get(f"/api/experiments/runs/{rid}", headers=h).json()
    assert got["params"] == {"lr": "0.1"} and got["metrics"] == {}
    # NaN and infinities are values too
    assert (
        log_batch(api, h, rid, [{"key": "g", "value": "NaN"}, {"key": "g", "value": "Infinity", "step": 1}]).status_code
        == 200
    )
    assert api.get(f"/api/experiments/runs/{rid}/metrics/g", headers=h).json()["values"] == ["NaN", "Infinity"]
    # a viewer reads but cannot write
    viewer = make_account(api, admin_headers(api), "view1", "viewer", researcher.team)
    assert api.get(f"/api/experiments/runs/{rid}", headers=viewer.headers).status_code == 200
    assert log_batch(api, viewer.headers, rid, [{"key": "loss", "value": 1}]).status_code == 403


def test_notebook_client(api, researcher, live_server, tmp_path):
    (tmp_path / "샘플 출력.txt").write_text("생성 예시", encoding="utf-8")
    with Tracker(live_server.url, researcher.key, flush_every=250) as tracker:
        with tracker.run("notebook", name="nb-1", params={"seed": 1}) as run:
            run.log_artifact(tmp_path / "샘플 출력.txt", "samples")
            run.log_params({"lr": 3e-4, "r": 8})
            for step in range(600):
                run.log_metrics({"loss": 2.0 / (step + 1), "acc": step / 600}, step=step)
            run.log_metric("odd", math.nan, step=0)
            run.set_tags({"method": "lora"})
        got = tracker.get_run(run.id)
        assert got["status"] == "FINISHED" and got["params"] == {"seed": "1", "lr": "0.0003", "r": "8"}
        assert got["tags"] == {"method": "lora"} and got["metrics"]["loss"]["step"] == 599
        assert [r["name"] for r in tracker.search("metrics.acc > 0.9 and params.r = 8")] == ["nb-1"]
        hist = api.get(f"/api/experiments/runs/{run.id}/metrics/acc", headers=researcher.headers).json()
        assert hist["count"] == 600
        sample = api.get(f"/api/experiments/runs/{run.id}/artifacts/samples/샘플 출력.txt", headers=researcher.headers)
        assert sample.status_code == 200 and sample.text == "생성 예시"
        with pytest.raises(RuntimeError), tracker.run("notebook", name="nb-2") as failing:
            failing.log_metrics({"loss": 1.0})
            raise RuntimeError("boom")
        assert tracker.get_run(failing.id)["status"] == "FAILED"
        assert tracker.get_run(failing.id)["metrics"]["loss"]["value"] == 1.0
        with pytest.raises(TrackingError, match="404"):
            tracker.get_run(uuid.uuid4())


def test_runs_starting_a_new_experiment_at_once_share_it(api, researcher, live_server):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def start(i):
        with httpx.Client(base_url=live_server.url, headers=researcher.headers, timeout=30) as c:
            return c.post("/api/experiments/runs", json={"experiment_name": "raced", "name": f"r{i}"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(start, range(8)))
    assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers if r.status_code != 201]
    assert len({r.json()["experiment_id"] for r in answers}) == 1
    exps = api.get("/api/experiments", headers=researcher.headers).json()
    assert [(e["name"], e["run_count"]) for e in exps] == [("raced", 8)]


def test_fast_path_answers_match_the_models_their_routes_declare(api, researcher):
    """The routes send rows from SQL as JSON bytes without FastAPI's validation: each answer is checked
    against its route's response_model here, and every such route of /api/experiments is exercised."""
    h, routes = researcher.headers, api_routes(experiments_router.router)
    checked = set()

    def check(r):
        route = assert_matches_declared_model(routes, r)
        checked.add((r.request.method, route.path))
        return r.json()

    exp = check(api.post("/api/experiments", json={"name": "contract", "tags": {"a": "b"}}, headers=h))
    check(api.get("/api/experiments", headers=h))
    check(api.get(f"/api/experiments/{exp['id']}", headers=h))
    check(api.patch(f"/api/experiments/{exp['id']}", json={"description": "d"}, headers=h))
    run = check(api.post("/api/experiments/runs", json={"experiment_id": exp["id"], "params": {"lr": "1"}}, headers=h))
    other = new_run(api, h, experiment="contract")
    points = [
        {"key": "loss", "value": 1.5},
        {"key": "loss", "value": "NaN", "step": 1},
        {"key": "acc", "value": "Infinity"},
    ]
    check(log_batch(api, h, run["id"], points, tags={"t": "v"}))
    check(api.get(f"/api/experiments/runs/{run['id']}", headers=h))
    check(api.patch(f"/api/experiments/runs/{run['id']}", json={"status": "FINISHED"}, headers=h))
    check(api.get("/api/experiments/runs", params={"limit": 1}, headers=h))
    check(api.get("/api/experiments/runs/keys", params={"experiment_id": exp["id"]}, headers=h))
    check(api.post("/api/experiments/runs/search", json={"filter": "params.lr = 1"}, headers=h))
    check(api.post("/api/experiments/runs/compare", json={"run_ids": [run["id"], other["id"]]}, headers=h))
    assert check(api.get(f"/api/experiments/runs/{run['id']}/metrics/loss", headers=h))["values"] == [1.5, "NaN"]
    check(api.get(f"/api/experiments/runs/{run['id']}/metrics/none", headers=h))
    check(api.get(f"/api/experiments/runs/{run['id']}/artifacts", headers=h))
    for path in (f"/api/experiments/runs/{other['id']}", f"/api/experiments/{exp['id']}"):  # 204: no body
        r = api.delete(path, headers=h)
        assert r.status_code == 204 and r.content == b""
    assert api.get(f"/api/experiments/{exp['id']}", headers=h).json()["lifecycle"] == "deleted"

    assert checked == declared(routes)
