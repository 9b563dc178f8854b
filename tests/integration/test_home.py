"""The home dashboard over HTTP (GET /api/home): its figures against known data, and what each
role sees of it — a Developer only their team's deployments, jobs, runs and reviews and their own
gateway usage, no audit events; an Admin everything."""

from __future__ import annotations

from datetime import datetime

from tests.factories import make_account
from tests.home_scene import home_scene


def _hour(series: list[dict], at: datetime) -> dict:
    (found,) = [h for h in series if datetime.fromisoformat(h["ts"]) == at]
    return found


def test_home_shows_each_role_what_it_may_see(api, admin, database_url, live_server):
    scene = home_scene(api, admin, database_url, live_server)

    r = api.get("/api/home", headers=admin)
    assert r.status_code == 200, r.text
    home = r.json()
    assert sorted(d["name"] for d in home["deployments"]) == ["chat-alpha", "chat-beta"]  # stopped ones are not
    chat = next(d for d in home["deployments"] if d["name"] == "chat-alpha")
    assert (chat["status"], chat["replicas_ready"], chat["replicas_desired"]) == ("ready", 1, 2)
    assert chat["model_name"] == "chat-alpha" and chat["version"] == 1

    usage = home["usage"]
    assert usage["scope"] == "all" and len(usage["series"]) == 24 and usage["currency"] == "USD"
    assert usage["totals"]["requests"] == 5 and usage["totals"]["errors"] == 2  # a 500 and a 429; not 30 h ago
    assert abs(usage["totals"]["cost"] - 3.0) < 1e-9
    alpha_hour = _hour(usage["series"], scene["alpha_hour"])
    assert (alpha_hour["requests"], alpha_hour["errors"]) == (3, 1)
    assert abs(alpha_hour["p95_ms"] - 290.0) < 1e-6  # percentile_cont over 100, 200, 300
    assert _hour(usage["series"], scene["beta_hour"])["requests"] == 2
    assert sum(h["requests"] for h in usage["series"]) == 5

    failing = {u["upstream"]: u for u in home["upstreams"]}
    assert failing[scene["dead-org_upstream"]]["circuit"] == "open"
    assert failing[scene["dead-org_upstream"]]["routes"] == ["dead-org"]
    assert failing[scene["dead-org_upstream"]]["failures"] >= 3
    assert scene["dead-beta_upstream"] in failing

    assert (home["training"]["running"], home["training"]["queued"]) == (2, 2)
    assert [j["status"] for j in home["training"]["jobs"]] == ["running", "running", "queued", "queued"]
    running = next(j for j in home["training"]["jobs"] if j["name"] == "tune-alpha-1")
    assert (running["step"], running["max_steps"]) == (5, 30)
    assert {r["name"] for r in home["runs"]} == {"run-alpha-1", "run-alpha-2", "run-beta-1", "run-beta-2"}
    assert home["reviews"]["total"] == 2
    assert {(v["dataset_name"], v["version"]) for v in home["reviews"]["items"]} == {
        ("corpus-alpha", 1),
        ("corpus-beta", 1),
    }
    assert home["audit"], "an Admin sees the latest audit events"
    assert home["audit"][0]["created_at"] >= home["audit"][-1]["created_at"]
    assert any(e["action"].startswith("gateway.") for e in home["audit"])

    # a Developer of team alpha: alpha's rows only, own usage, no audit
    home = api.get("/api/home", headers=scene["alpha"].headers).json()
    assert [d["name"] for d in home["deployments"]] == ["chat-alpha"]
    assert {j["name"] for j in home["training"]["jobs"]} == {"tune-alpha-1", "tune-alpha-2"}
    assert (home["training"]["running"], home["training"]["queued"]) == (1, 1)
    assert {r["name"] for r in home["runs"]} == {"run-alpha-1", "run-alpha-2"}
    assert home["reviews"]["total"] == 1 and home["reviews"]["items"][0]["dataset_name"] == "corpus-alpha"
    assert home["usage"]["scope"] == "own" and home["usage"]["totals"]["requests"] == 3
    assert _hour(home["usage"]["series"], scene["beta_hour"])["requests"] == 0
    assert [u["upstream"] for u in home["upstreams"]] == [scene["dead-org_upstream"]]  # not beta's route
    assert home["audit"] is None

    # team beta's developer sees beta's route and its failing upstream
    home = api.get("/api/home", headers=scene["beta"].headers).json()
    assert [d["name"] for d in home["deployments"]] == ["chat-beta"]
    assert {u["upstream"] for u in home["upstreams"]} == {scene["dead-org_upstream"], scene["dead-beta_upstream"]}


def test_home_leaves_out_what_a_role_cannot_use(api, admin):
    viewer = make_account(api, admin, "viewer1", role="viewer", new_team="readers")
    home = api.get("/api/home", headers=viewer.headers).json()
    assert home["usage"] is None and home["upstreams"] is None  # no gateway access
    assert home["audit"] is None
    assert home["deployments"] == [] and home["training"] == {"queued": 0, "running": 0, "jobs": []}
    assert home["usage"] is None
    assert api.get("/api/home").status_code == 401
    bad = api.get("/api/home", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
