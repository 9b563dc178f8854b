"""What the dashboards must not give away: another team's jobs, datasets, lineage and deployments (a developer
sees their teams'; a viewer with no team of theirs sees only the platform's and organisation-wide figures), and
nothing without a login. Names come back as data (JSON), never as markup: the UI escapes them."""

from __future__ import annotations

from tests.dashboards_scene import dashboards_scene
from tests.factories import make_account

PATHS = ("system", "training", "data")


def _board(api, headers: dict, which: str, scene: dict) -> dict:
    r = api.get(
        f"/api/monitoring/dashboards/{which}",
        params={"from": scene["start"].isoformat(), "to": scene["end"].isoformat()},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_no_login_no_dashboards(api):
    for which in PATHS:
        r = api.get(f"/api/monitoring/dashboards/{which}")
        assert r.status_code == 401, which


def test_other_teams_stay_hidden(api, admin, database_url):
    scene = dashboards_scene(api, admin, database_url, job_prefix='<img src=x onerror="alert(1)">')
    beta = scene["beta"]

    training = _board(api, beta.headers, "training", scene)
    names = {j["name"] for j in training["gpu_hours"]["top_jobs"]} | {q["name"] for q in training["queue"]["queued"]}
    assert all(n.endswith(("b1", "b-queued")) for n in names) and names
    assert [t["team"] for t in training["gpu_hours"]["teams"]] == ["beta"]
    assert training["outcomes"]["succeeded"] == 0  # alpha's three successes are not beta's
    assert names >= {'<img src=x onerror="alert(1)">b1'}  # the name as stored, for the UI to escape

    data = _board(api, beta.headers, "data", scene)
    text = str(data)
    assert "말뭉치" not in text and "old-alpha" not in text  # alpha's datasets and model, in any part
    assert {link["job"][-2:] for link in data["lineage"]["links"]} == {"b1", "b3"}

    system = _board(api, beta.headers, "system", scene)
    assert system["deployments"]["active"] == 0 and system["routes"] == []

    # a viewer in a team of its own: organisation-wide datasets, no team's jobs
    viewer = make_account(api, admin, "dash-viewer", role="viewer", new_team="gamma")
    data = _board(api, viewer.headers, "data", scene)
    assert [r["name"] for r in data["quality"]["rows"]] == ["shared-beta"]
    assert data["pii"]["entities"] == {} and data["lineage"]["links"] == []
    training = _board(api, viewer.headers, "training", scene)
    assert training["gpu_hours"]["teams"] == [] and training["queue"]["queued"] == []
    assert training["queue"]["overall"]["jobs"] == 0
