"""The system, training and data dashboards over HTTP against known data (tests/dashboards_scene.py): each figure
computed by hand, what a team's developer sees of them, and the time range's bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from axops.core.db import libpq_url
from axops.monitoring.alert_models import Alert, AlertRule
from tests.dashboards_scene import dashboards_scene
from tests.factories import insert_rows


def _get(api, headers: dict, which: str, start: datetime, end: datetime) -> dict:
    r = api.get(
        f"/api/monitoring/dashboards/{which}",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _gpu_points(database_url: str) -> None:
    """Two GPUs of node n1 reporting a minute ago (40 % and 80 %), one of node n2 that went quiet an hour ago."""
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(database_url)) as conn:
        for labels, at, value in (
            ('{"node": "n1", "gpu": "0"}', now - timedelta(minutes=1), 40.0),
            ('{"node": "n1", "gpu": "1"}', now - timedelta(minutes=1), 80.0),
            ('{"node": "n2", "gpu": "0"}', now - timedelta(hours=1), 10.0),
        ):
            (sid,) = conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES ('gpu_utilization', %s::jsonb) RETURNING id", (labels,)
            ).fetchone()
            conn.execute("INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, %s)", (sid, at, value))


def test_system_dashboard(api, admin, database_url):
    scene = dashboards_scene(api, admin, database_url)
    _gpu_points(database_url)
    day = (scene["start"], scene["start"] + timedelta(days=1))  # up to a day: exact, from the usage records
    system = _get(api, admin, "system", *day)

    assert system["gpus"]["gpus"] == 2 and system["gpus"]["gpu_utilization"] == pytest.approx(60.0)
    assert (system["gpus"]["nodes_up"], system["gpus"]["nodes_known"]) == (1, 2)
    deployments = system["deployments"]
    assert (deployments["active"], deployments["replicas_ready"], deployments["replicas_desired"]) == (1, 1, 2)
    assert deployments["by_status"] == {"ready": 1}
    req = system["requests"]
    assert (req["requests"], req["errors"], req["server_errors"]) == (4, 2, 1)  # the one before the range is not
    assert req["error_rate"] == pytest.approx(0.5)
    assert req["p95_ms"] == pytest.approx(385.0)  # percentile_cont over 100, 200, 300, 400
    assert req["exact"] is True
    assert system["routes"] == [{"route": "chat-alpha", "requests": 4, "errors": 2, "p95_ms": pytest.approx(385.0)}]
    assert system["firing_alerts"] == 0
    assert system["range"]["clipped"] is False

    # alpha's rule fires once (and has one resolved alert): alpha and the admin count one, beta none
    now = datetime.now(UTC)
    team = scene["alpha"].team["id"]
    (rule,) = insert_rows(
        database_url,
        AlertRule,
        [{"team_id": team, "name": "hot", "expression": "gpu_utilization > 90", "severity": "warning"}],
    )
    common = {"rule_id": rule, "team_id": team, "labels": {}, "started_at": now, "evaluated_at": now}
    insert_rows(
        database_url,
        Alert,
        [{**common, "fingerprint": "a", "state": "firing"}, {**common, "fingerprint": "b", "state": "resolved"}],
    )
    assert _get(api, admin, "system", scene["start"], scene["end"])["firing_alerts"] == 1
    assert _get(api, scene["alpha"].headers, "system", scene["start"], scene["end"])["firing_alerts"] == 1

    # a developer of beta sees the platform's GPUs but neither alpha's deployment nor its route's requests
    beta = _get(api, scene["beta"].headers, "system", *day)
    assert beta["gpus"]["gpus"] == 2
    assert beta["deployments"]["active"] == 0 and beta["requests"]["requests"] == 0 and beta["routes"] == []
    assert beta["requests"]["error_rate"] is None
    assert beta["firing_alerts"] == 0


def test_training_dashboard(api, admin, database_url):
    scene = dashboards_scene(api, admin, database_url)
    board = _get(api, admin, "training", scene["start"], scene["end"])

    out = board["outcomes"]
    assert (out["succeeded"], out["failed"], out["cancelled"]) == (3, 2, 1)  # finished in the range only
    assert out["success_rate"] == pytest.approx(0.6)
    day0, day1 = scene["base"].date().isoformat(), (scene["base"] + timedelta(days=1)).date().isoformat()
    assert out["days"] == [
        {"day": day0, "succeeded": 2, "failed": 1, "cancelled": 1},
        {"day": day1, "succeeded": 1, "failed": 1, "cancelled": 0},
    ]

    gpu = board["gpu_hours"]
    assert gpu["total"] == pytest.approx(11.5)
    teams = {t["team"]: (pytest.approx(t["gpu_hours"]), t["jobs"]) for t in gpu["teams"]}
    assert teams == {"alpha": (7.5, 3), "beta": (4.0, 1)}  # 6 + 0.5 + 1 (clipped), 4 (clipped)
    assert [(j["name"], j["gpu_hours"]) for j in gpu["top_jobs"]] == [
        ("a1", pytest.approx(6.0)),
        ("b1", pytest.approx(4.0)),
        ("a3", pytest.approx(1.0)),
        ("a2", pytest.approx(0.5)),
    ]

    queue = board["queue"]
    overall = queue["overall"]  # waits 50, 60, 100, 300, 600, 1200 s
    assert overall["jobs"] == 6 and overall["p50_s"] == pytest.approx(200.0) and overall["max_s"] == pytest.approx(1200)
    assert overall["p95_s"] == pytest.approx(1050.0)
    assert [q["name"] for q in queue["queued"]] == ["a-queued", "b-queued"] and queue["queued_total"] == 2
    assert queue["queued"][0]["wait_s"] == pytest.approx(1800, abs=120)

    # a developer of alpha: alpha's jobs only
    alpha = _get(api, scene["alpha"].headers, "training", scene["start"], scene["end"])
    out = alpha["outcomes"]
    assert (out["succeeded"], out["failed"], out["cancelled"], out["success_rate"]) == (3, 1, 0, 0.75)
    assert [t["team"] for t in alpha["gpu_hours"]["teams"]] == ["alpha"]
    assert alpha["gpu_hours"]["total"] == pytest.approx(7.5)
    waits = alpha["queue"]  # 60; then 300, 600, 1200
    assert waits["overall"]["p50_s"] == pytest.approx(450.0)
    assert [(d["day"], d["jobs"], d["p50_s"]) for d in waits["days"]] == [(day0, 1, 60.0), (day1, 3, 600.0)]
    assert [q["name"] for q in waits["queued"]] == ["a-queued"]


def test_data_dashboard(api, admin, database_url):
    scene = dashboards_scene(api, admin, database_url)
    day0, day1 = scene["base"].date().isoformat(), (scene["base"] + timedelta(days=1)).date().isoformat()

    alpha = _get(api, scene["alpha"].headers, "data", scene["start"], scene["end"])
    quality = alpha["quality"]  # 말뭉치-alpha (latest v2), old-alpha, shared-beta; not secret-beta
    assert quality["datasets"] == 3 and quality["scanned"] == 1
    assert quality["mean_duplicate_ratio"] == pytest.approx(0.1)
    assert quality["with_warnings"] == 1 and quality["warning_kinds"] == {"duplicates": 1}
    assert quality["reviews"] == {"uploaded": 2, "scanned": 1, "approved": 1, "rejected": 0}
    top = quality["rows"][0]
    assert (top["name"], top["version"], top["warnings"]) == ("말뭉치-alpha", 2, 1)
    assert top["max_null_ratio"] == pytest.approx(0.2) and top["duplicate_ratio"] == pytest.approx(0.1)
    assert sorted(r["name"] for r in quality["rows"]) == ["old-alpha", "shared-beta", "말뭉치-alpha"]

    pii = alpha["pii"]
    assert pii["entities"] == {"PHONE": 5, "EMAIL": 1}
    assert pii["days"] == [{"day": day0, "entities": {"EMAIL": 1, "PHONE": 3}}, {"day": day1, "entities": {"PHONE": 2}}]
    assert (pii["scanned_versions"], pii["versions_with_findings"]) == (2, 2)

    growth = alpha["growth"]
    assert growth["before"] == {"versions": 1, "rows": 10, "bytes": 100}
    assert growth["days"] == [
        {
            "day": day0,
            "versions": 2,
            "rows": 101,
            "bytes": 1010,
            "total_versions": 3,
            "total_rows": 111,
            "total_bytes": 1110,
        },
        {
            "day": day1,
            "versions": 1,
            "rows": 150,
            "bytes": 2000,
            "total_versions": 4,
            "total_rows": 261,
            "total_bytes": 3110,
        },
    ]

    (link,) = alpha["lineage"]["links"]  # beta's job on the shared dataset is beta's
    assert (link["job"], link["dataset"], link["dataset_version"]) == ("a2", "말뭉치-alpha", 1)
    assert (link["model"], link["model_version"], link["status"]) == ("말뭉치-모델", 2, "succeeded")

    everything = _get(api, admin, "data", scene["start"], scene["end"])
    assert everything["quality"]["datasets"] == 4
    assert everything["pii"]["entities"] == {"RRN": 9, "PHONE": 5, "EMAIL": 1}
    links = {(x["job"], x["dataset"], x["model"]) for x in everything["lineage"]["links"]}
    assert links == {("a2", "말뭉치-alpha", "말뭉치-모델"), ("b1", "shared-beta", None), ("b3", "secret-beta", None)}


def test_time_ranges(api, admin, database_url):
    now = datetime.now(UTC)
    r = api.get(
        "/api/monitoring/dashboards/training", params={"from": now.isoformat(), "to": now.isoformat()}, headers=admin
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/dashboard_range_invalid")
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.get(
        "/api/monitoring/dashboards/data",
        params={"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()},
        headers=admin,
    )
    assert r.status_code == 422
    r = api.get("/api/monitoring/dashboards/system", params={"from": "2000-01-01T00:00:00Z"}, headers=admin)
    assert r.status_code == 200, r.text
    window = r.json()["range"]
    assert window["clipped"] is True
    span = datetime.fromisoformat(window["to"]) - datetime.fromisoformat(window["from"])
    assert span == timedelta(days=400)
    r = api.get("/api/monitoring/dashboards/system", headers=admin)  # default: the last day
    window = r.json()["range"]
    assert datetime.fromisoformat(window["to"]) - datetime.fromisoformat(window["from"]) == timedelta(days=1)
    assert api.get("/api/monitoring/dashboards/system", params={"from": "yesterday"}, headers=admin).status_code == 422


def _history(database_url: str, base: datetime) -> None:
    """chat-alpha's gateway series: an hour rolled up (100 requests) before the rollups' watermark, raw minutes
    after it (5 requests, 2 errors, p95 100 and 300 ms), and a raw point the hour rollup already holds."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        ids = {}
        for name in ("gateway_requests", "gateway_errors", "gateway_latency_p95_ms"):
            (ids[name],) = conn.execute(
                "INSERT INTO metric_series (name, labels) VALUES (%s, %s::jsonb) RETURNING id",
                (name, '{"route": "chat-alpha"}'),
            ).fetchone()
        conn.execute(
            "INSERT INTO metric_points_1h (series_id, bucket, count, sum, min, max) VALUES (%s, %s, 60, 100, 0, 5)",
            (ids["gateway_requests"], base + timedelta(hours=1)),
        )
        for name, at, value in (
            ("gateway_requests", base + timedelta(hours=1, minutes=30), 999.0),  # inside the rolled-up hour
            ("gateway_requests", base + timedelta(days=1), 5.0),
            ("gateway_errors", base + timedelta(days=1), 2.0),
            ("gateway_latency_p95_ms", base + timedelta(days=1), 100.0),
            ("gateway_latency_p95_ms", base + timedelta(days=1, minutes=1), 300.0),
        ):
            conn.execute("INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, %s)", (ids[name], at, value))
        for source in ("rollup_1m", "rollup_1h"):
            conn.execute(
                "INSERT INTO metric_watermarks (source, at) VALUES (%s, %s) ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at",
                (source, base + timedelta(hours=2)),
            )


def test_system_dashboard_over_days_reads_the_history(api, admin, database_url):
    scene = dashboards_scene(api, admin, database_url)
    _history(database_url, scene["base"])
    req = _get(api, admin, "system", scene["start"], scene["end"])["requests"]
    assert (req["requests"], req["errors"], req["exact"]) == (105, 2, False)
    assert req["error_rate"] == pytest.approx(2 / 105) and req["p95_ms"] == pytest.approx(200.0)
    beta = _get(api, scene["beta"].headers, "system", scene["start"], scene["end"])
    assert beta["requests"]["requests"] == 0 and beta["routes"] == []
