"""What SLOs, the SLA report and the model dashboards must refuse: another team's SLOs answer 404 like
missing ones (read, change, delete, report), another team's route is neither measurable nor shown, a
viewer cannot change SLOs, and nothing is readable without a login."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.factories import make_account, make_route


def _team_route(api, admin, name: str, team_id: str) -> None:
    route = make_route(api, admin, name, "http://127.0.0.1:9/v1")
    r = api.patch(f"/api/gateway/routes/{route['id']}", json={"team_id": team_id}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json().get("visibility", "team") == "team"


def test_other_teams_slos_and_routes_are_invisible(api, admin):
    nlp = make_account(api, admin, "slo-nlp", new_team="nlp")
    vision = make_account(api, admin, "slo-vision", new_team="vision")
    viewer = make_account(api, admin, "slo-viewer", role="viewer", team=nlp.team)
    make_route(api, admin, "shared-chat", "http://127.0.0.1:9/v1")
    _team_route(api, admin, "vision-only", vision.team["id"])

    r = api.post("/api/monitoring/slos", json={"name": "avail", "route": "shared-chat"}, headers=nlp.headers)
    assert r.status_code == 201, r.text
    slo_id = r.json()["id"]

    for method, body in (("GET", None), ("PATCH", {"target": 90}), ("DELETE", None)):
        other = api.request(method, f"/api/monitoring/slos/{slo_id}", json=body, headers=vision.headers)
        assert other.status_code == 404, (method, other.text)
        assert other.json()["type"].endswith("slo_not_found")
    assert api.get("/api/monitoring/slos", headers=vision.headers).json() == []
    month = datetime.now(UTC).strftime("%Y-%m")
    theirs = api.get("/api/monitoring/sla-report", params={"month": month}, headers=vision.headers).json()
    assert theirs["slos"] == []
    assert api.get(f"/api/monitoring/slos/{slo_id}", headers=admin).status_code == 200  # Admin sees all

    # another team's route: not measurable (the same 422 as a missing route) and not on the dashboards
    hidden = api.post("/api/monitoring/slos", json={"name": "x", "route": "vision-only"}, headers=nlp.headers)
    missing = api.post("/api/monitoring/slos", json={"name": "x", "route": "no-such"}, headers=nlp.headers)
    assert hidden.status_code == missing.status_code == 422
    assert hidden.json()["type"].endswith("slo_route_unknown") and missing.json()["type"].endswith("slo_route_unknown")
    routes = {m["route"] for m in api.get("/api/monitoring/models", headers=nlp.headers).json()}
    assert "shared-chat" in routes and "vision-only" not in routes
    assert api.get("/api/monitoring/models/vision-only", headers=nlp.headers).status_code == 404
    assert api.get("/api/monitoring/models/vision-only", headers=vision.headers).status_code == 200
    hidden_dep = api.post(
        "/api/monitoring/slos",
        json={"name": "x", "deployment_id": "01900000-0000-7000-8000-000000000000"},
        headers=nlp.headers,
    )
    assert hidden_dep.status_code == 422 and hidden_dep.json()["type"].endswith("slo_deployment_unknown")

    # a viewer reads but does not change
    assert api.get("/api/monitoring/slos", headers=viewer.headers).status_code == 200
    made = api.post("/api/monitoring/slos", json={"name": "v", "route": "shared-chat"}, headers=viewer.headers)
    assert made.status_code == 403
    assert api.patch(f"/api/monitoring/slos/{slo_id}", json={"target": 90}, headers=viewer.headers).status_code == 403
    assert api.delete(f"/api/monitoring/slos/{slo_id}", headers=viewer.headers).status_code == 403

    # a name with control characters, both a route and a deployment, or neither: 422
    for body in (
        {"name": "a\nb", "route": "shared-chat"},
        {"name": "y", "route": "shared-chat", "deployment_id": "01900000-0000-7000-8000-000000000000"},
        {"name": "y"},
        {"name": "y", "route": "shared-chat", "target": 100},
    ):
        assert api.post("/api/monitoring/slos", json=body, headers=nlp.headers).status_code == 422, body

    for path in ("/api/monitoring/slos", "/api/monitoring/models", f"/api/monitoring/sla-report?month={month}"):
        assert api.get(path).status_code == 401
