"""A workflow's runs over HTTP (`GET /api/agent/workflows/{id}/runs`) and the last run on the workflow."""

from __future__ import annotations

from tests.factories import make_account
from tests.integration.test_workflows import BASE, create, edge, node, run

ECHO = {
    "inputs": [{"name": "n", "type": "integer"}],
    "nodes": [node("start", "input"), node("done", "output", template="n={{ input.n }}")],
    "edges": [edge("start", "done")],
}


def test_runs_newest_first_paged_scoped_and_the_last_run(api, admin):
    h = make_account(api, admin, "wfruns", new_team="wf-runs").headers
    other = make_account(api, admin, "wfruns-other", new_team="wf-runs-other").headers
    wf = create(api, h, "echo", ECHO)
    idle = create(api, h, "idle", ECHO)
    assert wf["last_run_status"] is None and wf["last_run_at"] is None
    assert api.get(f"{BASE}/{wf['id']}/runs", headers=h).json() == {"items": [], "next_cursor": None}

    done = [run(api, h, wf["id"], {"n": n}) for n in (1, 2, 3)]
    assert [r["output"] for r in done] == ["n=1", "n=2", "n=3"]
    first = api.get(f"{BASE}/{wf['id']}/runs", params={"limit": 2}, headers=h).json()
    assert [r["id"] for r in first["items"]] == [done[2]["id"], done[1]["id"]]
    assert first["items"][0]["status"] == "succeeded" and first["items"][0]["input"] == {"n": 3}
    assert first["items"][0]["nodes"] == []  # the traces are on the run's own page
    rest = api.get(f"{BASE}/{wf['id']}/runs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=h).json()
    assert [r["id"] for r in rest["items"]] == [done[0]["id"]] and rest["next_cursor"] is None

    got = api.get(f"{BASE}/{wf['id']}", headers=h).json()
    assert got["last_run_status"] == "succeeded" and got["last_run_at"] == done[2]["started_at"]
    listed = {w["name"]: w for w in api.get(BASE, headers=h).json()["items"]}
    assert listed["echo"]["last_run_status"] == "succeeded" and listed["echo"]["last_run_at"] == done[2]["started_at"]
    assert listed["idle"]["last_run_status"] is None and idle["id"] == listed["idle"]["id"]

    r = api.get(f"{BASE}/{wf['id']}/runs", headers=other)
    assert r.status_code == 404 and r.json()["type"].endswith("workflow_not_found"), r.text
