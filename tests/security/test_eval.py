"""Evaluation must refuse: another team's sets and runs (404 like missing ones), sets on data the caller
may not read, rows of a restricted set for those the data policy excludes, a mapping naming missing
columns (nothing written); the run's API key may only call the gateway and dies with the run; the HTML
report escapes markup from the data."""

from __future__ import annotations

import csv
import io

import httpx
import psycopg
import pytest

from axops.core import crypto
from axops.core.db import libpq_url
from tests.factories import approve_dataset, make_account, make_route, run_tasks, upload_dataset
from tests.mocks import MockUpstream

MARKUP = "<script>alert('x')</script><img src=x onerror=alert(1)>"
MAPPING = {"input": "question", "references": ["answer"]}


def _csv() -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["question", "answer"])
    w.writerows([(MARKUP, "fine"), ("What is one plus one?", "two")])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def upstream():
    u = MockUpstream("a")
    u.answer_for = lambda body: "fine"
    yield u
    u.stop()


def restricted_version(api, admin, owner, live_server) -> str:
    """An organisation-visible, approved dataset version whose rows are restricted to its team's Developers."""
    r = upload_dataset(api, owner.headers, _csv(), "qa.csv", name="qa-data", visibility="organization")
    assert r.status_code == 201, r.text
    patched = api.patch(
        f"/api/dataset/{r.json()['dataset_id']}", json={"sensitivity_floor": "restricted"}, headers=owner.headers
    )
    assert patched.status_code == 200
    run_tasks(live_server)
    approve_dataset(api, admin, r.json()["id"])
    return r.json()["id"]


def test_sets_runs_and_rows_stay_with_their_team_and_the_data_policy(
    api, admin, victim, attacker, live_server, upstream, database_url, settings
):
    make_route(api, admin, "model-a", upstream.url)
    version_id = restricted_version(api, admin, victim, live_server)

    # a mapping naming missing columns: 422 naming them, nothing written
    bad = api.post(
        "/api/eval/sets",
        json={"name": "qa", "dataset_version_id": version_id, "mapping": {"input": "question", "references": ["nope"]}},
        headers=victim.headers,
    )
    assert bad.status_code == 422 and bad.json()["missing"] == ["nope"], bad.text
    assert api.get("/api/eval/sets", headers=victim.headers).json()["total"] == 0

    # the attacker sees the organisation's dataset but may not read its rows: no set on it
    stolen = api.post(
        "/api/eval/sets",
        json={"name": "mine", "dataset_version_id": version_id, "mapping": MAPPING},
        headers=attacker.headers,
    )
    assert stolen.status_code == 403 and stolen.json()["type"].endswith("/dataset_restricted"), stolen.text

    eval_set = api.post(
        "/api/eval/sets",
        json={"name": "qa", "dataset_version_id": version_id, "mapping": MAPPING},
        headers=victim.headers,
    ).json()

    # the run's key, seen from inside the run (the upstream's answer reads it from the run's row)
    seen: dict = {}

    def spy(body: dict) -> str:
        if "key" not in seen:
            with psycopg.connect(libpq_url(database_url)) as conn:
                token = conn.execute("SELECT api_key_secret FROM eval_runs WHERE status = 'running'").fetchone()[0]
            seen["key"] = key = crypto.decrypt(settings.secret_key, token)
            with httpx.Client(base_url=live_server.url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as c:
                seen["during"] = {
                    "models": c.get("/v1/models").status_code,
                    "sets": c.get("/api/eval/sets").status_code,
                    "datasets": c.get("/api/dataset").status_code,
                    "new_key": c.post("/api/apikey/create", json={"name": "more"}).status_code,
                }
        return "fine"

    upstream.answer_for = spy
    try:
        run = api.post(
            "/api/eval/runs",
            json={
                "eval_set_id": eval_set["id"],
                # B: the question column as pre-computed outputs (the markup itself on the first row)
                "targets": [{"key": "A", "route": "model-a"}, {"key": "B", "kind": "column", "column": "question"}],
                "metrics": ["exact_match"],
            },
            headers=victim.headers,
        )
        assert run.status_code == 202, run.text
        run = run.json()
        run_tasks(live_server)
    finally:
        upstream.answer_for = lambda body: "fine"
    assert api.get(f"/api/eval/runs/{run['id']}", headers=victim.headers).json()["status"] == "succeeded"
    assert seen["during"] == {"models": 200, "sets": 403, "datasets": 403, "new_key": 403}
    after = httpx.get(f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {seen['key']}"})
    assert after.status_code == 401  # revoked with the run's end
    with psycopg.connect(libpq_url(database_url)) as conn:
        name, scopes, revoked, secret = conn.execute(
            "SELECT k.name, k.scopes, k.revoked_at, r.api_key_secret FROM api_keys k JOIN eval_runs r ON r.api_key_id = k.id"
        ).fetchone()
    assert name == f"eval-run-{run['id'][:8]}" and list(scopes) == ["gateway:invoke"] and revoked and secret is None

    # another team: every read and change answers 404, lists show nothing
    for method, path in (
        ("GET", f"/api/eval/sets/{eval_set['id']}"),
        ("DELETE", f"/api/eval/sets/{eval_set['id']}"),
        ("GET", f"/api/eval/runs/{run['id']}"),
        ("GET", f"/api/eval/runs/{run['id']}/rows"),
        ("GET", f"/api/eval/runs/{run['id']}/report"),
        ("GET", f"/api/eval/runs/{run['id']}/report.html"),
        ("GET", f"/api/eval/runs/{run['id']}/report.csv"),
        ("GET", f"/api/eval/runs/{run['id']}/events"),
        ("POST", f"/api/eval/runs/{run['id']}/cancel"),
    ):
        assert api.request(method, path, headers=attacker.headers).status_code == 404, path
    assert api.get("/api/eval/sets", headers=attacker.headers).json()["items"] == []
    assert api.get("/api/eval/runs", headers=attacker.headers).json()["items"] == []
    reuse = api.post(
        "/api/eval/runs",
        json={"eval_set_id": eval_set["id"], "targets": [{"key": "A", "route": "model-a"}], "metrics": ["exact_match"]},
        headers=attacker.headers,
    )
    assert reuse.status_code == 404

    # a Viewer of the owning team: the aggregates, not the restricted rows
    viewer = make_account(api, admin, "victim-viewer", "viewer", victim.team)
    assert api.get(f"/api/eval/runs/{run['id']}/report", headers=viewer.headers).status_code == 200
    for path in ("rows", "report.csv", "report.html"):
        r = api.get(f"/api/eval/runs/{run['id']}/{path}", headers=viewer.headers)
        assert r.status_code == 403 and r.json()["type"].endswith("/dataset_restricted"), path
    assert api.get(f"/api/eval/sets/{eval_set['id']}", headers=viewer.headers).json()["rows_readable"] is False

    # the HTML report shows the row's markup as text
    html = api.get(f"/api/eval/runs/{run['id']}/report.html", headers=victim.headers)
    assert html.status_code == 200 and html.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script>alert" not in html.text and "<img src=x" not in html.text and "&lt;script&gt;" in html.text
