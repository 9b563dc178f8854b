"""Series of a team's gateway route are shown only to those who see the route, a user's anomaly scores only to
them; the platform's series (GPUs) to everyone with infra:read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from axops.core.db import libpq_url
from tests.factories import login_headers, make_team, make_user


def test_a_team_routes_series_are_hidden_from_other_teams(api, admin, database_url):
    red, blue = make_team(api, admin, "scope-red"), make_team(api, admin, "scope-blue")
    red_id = make_user(api, admin, "scope.red", team_ids=[red["id"]])["id"]
    make_user(api, admin, "scope.blue", team_ids=[blue["id"]])
    provider = api.post(
        "/api/gateway/providers", json={"name": "p-scope", "base_url": "http://127.0.0.1:9"}, headers=admin
    )
    assert provider.status_code == 201, provider.text
    route = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "scope-red-chat",
            "team_id": red["id"],
            "targets": [{"provider_id": provider.json()["id"], "model": "tiny"}],
        },
        headers=admin,
    )
    assert route.status_code == 201, route.text
    assert route.json()["visibility"] == "team"

    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for name, labels in (
            ("gateway_requests", '{"route": "scope-red-chat"}'),
            ("gpu_utilization", '{"gpu": "0", "node": "scope-node"}'),
            ("anomaly_score", f'{{"kind": "burst", "subject": "user:{red_id}"}}'),
        ):
            sid = conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES (%s, %s::jsonb) RETURNING id", (name, labels)
            ).fetchone()[0]
            conn.execute("INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, 4)", (sid, at))

    def routes_seen(headers: dict, name: str, **labels) -> list[dict]:
        params = {"name": name, "from": (at - timedelta(minutes=1)).isoformat(), **labels}
        r = api.get("/api/monitoring/series", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [s["labels"] for s in r.json()["series"]]

    red_user, blue_user = login_headers(api, "scope.red"), login_headers(api, "scope.blue")
    red_route = {"label.route": "scope-red-chat"}
    assert routes_seen(red_user, "gateway_requests", **red_route) == [{"route": "scope-red-chat"}]
    assert routes_seen(admin, "gateway_requests", **red_route) == [{"route": "scope-red-chat"}]
    assert routes_seen(blue_user, "gateway_requests", **red_route) == []
    # a user's anomaly scores are theirs (and the admins')
    mine = {"label.subject": f"user:{red_id}"}
    assert routes_seen(red_user, "anomaly_score", **mine) == [{"kind": "burst", "subject": f"user:{red_id}"}]
    assert routes_seen(blue_user, "anomaly_score", **mine) == []
    # the node's GPUs are everyone's
    assert routes_seen(blue_user, "gpu_utilization", **{"label.node": "scope-node"}) == [
        {"gpu": "0", "node": "scope-node"}
    ]
