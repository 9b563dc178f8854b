"""GET /api/monitoring/series and /names over HTTP: labels filter, averaged steps, and the errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from axops.core.db import libpq_url


def test_series_over_http(api, admin, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    start = now.replace(second=0) - timedelta(minutes=10)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        ids = [
            conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES ('gateway_requests', %s::jsonb) RETURNING id",
                (labels,),
            ).fetchone()[0]
            for labels in ('{"route": "chat"}', '{"route": "embed"}')
        ]
        for sid, base in zip(ids, (1.0, 100.0), strict=True):
            for i in range(4):
                conn.execute(
                    "INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, %s)",
                    (sid, start + timedelta(seconds=15 * i), base + i),
                )

    window = {"from": start.isoformat(), "to": (start + timedelta(minutes=1)).isoformat()}
    r = api.get(
        "/api/monitoring/series",
        params={"name": "gateway_requests", "label.route": "chat", "step": 30, **window},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    epoch = int(start.timestamp())
    assert r.json() == {
        "step": 30,
        "resolution": "raw",
        "series": [{"labels": {"route": "chat"}, "points": [[epoch, 1.5], [epoch + 30, 3.5]]}],
    }
    both = api.get(
        "/api/monitoring/series", params={"name": "gateway_requests", "step": 30, **window}, headers=admin
    ).json()
    assert sorted(s["labels"]["route"] for s in both["series"]) == ["chat", "embed"]

    assert api.get("/api/monitoring/names", headers=admin).json() == ["gateway_requests"]
    unknown = api.get("/api/monitoring/series", params={"name": "nope", **window}, headers=admin)
    assert unknown.status_code == 200 and unknown.json()["series"] == []
    backwards = {"from": window["to"], "to": window["from"]}
    bad = api.get("/api/monitoring/series", params={"name": "gateway_requests", **backwards}, headers=admin)
    assert bad.status_code == 422 and bad.json()["type"].endswith("validation_error")
    year = {"from": (now - timedelta(days=365)).isoformat(), "to": now.isoformat()}
    wide = api.get(
        "/api/monitoring/series", params={"name": "gateway_requests", "step": 1, **year}, headers=admin
    ).json()
    assert wide["resolution"] == "1h" and 365 * 86400 / wide["step"] <= 2000
    assert api.get("/api/monitoring/names").status_code == 401
