"""What the drift and anomaly API must refuse: other teams' routes and other users' anomalies (404 like
missing ones), writes without alerts:write, the jobs without gateway:admin, bad reference windows, and
anonymous callers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from axops.core.db import libpq_url
from tests.factories import login_headers, make_account, make_team, make_user


def _route(api, admin, name: str, team_id: str | None) -> dict:
    provider = api.post(
        "/api/gateway/providers", json={"name": f"p-{name}", "base_url": "http://127.0.0.1:9/v1"}, headers=admin
    ).json()
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": name, "targets": [{"provider_id": provider["id"], "model": "m"}], "team_id": team_id},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _drift_row(database_url: str, route: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            """INSERT INTO drift_results (id, route, feature, test, statistic, severity, n_current, n_reference,
                   current_start, current_end, reference_start, reference_end, computed_at)
               VALUES (%s, %s, 'prompt_chars', 'psi', 0.5, 'drifted', 100, 100, %s, %s, %s, %s, %s)""",
            (uuid.uuid4(), route, now - timedelta(days=1), now, now - timedelta(days=8), now - timedelta(days=1), now),
        )


def _anomaly(database_url: str, user_id: str, name: str) -> str:
    now = datetime.now(UTC)
    anomaly_id = str(uuid.uuid4())
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            """INSERT INTO usage_anomalies (id, kind, subject_type, subject_id, subject_name, user_id, observed,
                   expected, score, keys, detail, first_seen, last_seen)
               VALUES (%s, 'requests', 'user', %s, %s, %s, 200, 10, 60, '{k}', '{}', %s, %s)""",
            (anomaly_id, user_id, name, user_id, now, now),
        )
    return anomaly_id


def test_other_teams_routes_and_other_users_anomalies_are_invisible(api, admin, database_url):
    alice = make_account(api, admin, "alice", new_team="team-a")
    bob = make_account(api, admin, "bob", new_team="team-b")
    _route(api, admin, "a-chat", alice.team["id"])
    _route(api, admin, "b-chat", bob.team["id"])
    _route(api, admin, "org-chat", None)
    for route in ("a-chat", "b-chat", "org-chat"):
        _drift_row(database_url, route)

    seen = {r["route"] for r in api.get("/api/monitoring/drift", headers=alice.headers).json()}
    assert seen == {"a-chat", "org-chat"}
    assert api.get("/api/monitoring/drift", params={"route": "b-chat"}, headers=alice.headers).json() == []
    hidden = api.get("/api/monitoring/drift/b-chat", headers=alice.headers)
    missing = api.get("/api/monitoring/drift/nope", headers=alice.headers)
    assert hidden.status_code == missing.status_code == 404 and hidden.json()["type"] == missing.json()["type"]
    assert api.get("/api/monitoring/drift/a-chat", headers=alice.headers).status_code == 200
    assert {r["route"] for r in api.get("/api/monitoring/drift", headers=admin).json()} == {
        "a-chat",
        "b-chat",
        "org-chat",
    }

    window = {
        "start": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        "end": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
    }
    assert api.put("/api/monitoring/drift/b-chat/reference", json=window, headers=alice.headers).status_code == 404
    # an organisation-wide route is seen by all but changed only by gateway admins
    org = api.put("/api/monitoring/drift/org-chat/reference", json=window, headers=alice.headers)
    assert org.status_code == 403 and org.json()["type"].endswith("team_members_only")
    mine = api.put("/api/monitoring/drift/a-chat/reference", json=window, headers=alice.headers)
    assert mine.status_code == 200 and mine.json()["pinned"] is True

    alice_anomaly = _anomaly(database_url, alice.user_id, "alice")
    bob_anomaly = _anomaly(database_url, bob.user_id, "bob")
    listed = {a["id"] for a in api.get("/api/monitoring/anomalies", headers=alice.headers).json()}
    assert listed == {alice_anomaly}
    assert {a["id"] for a in api.get("/api/monitoring/anomalies", headers=admin).json()} == {alice_anomaly, bob_anomaly}
    other = api.post(f"/api/monitoring/anomalies/{bob_anomaly}/ack", headers=alice.headers)
    assert other.status_code == 404 and other.json()["type"].endswith("anomaly_not_found")
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("SELECT acknowledged_at FROM usage_anomalies WHERE id = %s", (bob_anomaly,)).fetchone() == (
            None,
        )


def test_viewers_read_only_and_jobs_need_gateway_admin(api, admin, database_url):
    team = make_team(api, admin, "viewers")
    make_user(api, admin, "vera", role="viewer", team_ids=[team["id"]])

    vera = login_headers(api, "vera")
    dev = make_account(api, admin, "devon", new_team="dev-team")
    _route(api, admin, "v-chat", team["id"])
    anomaly = _anomaly(database_url, dev.user_id, "devon")
    assert api.get("/api/monitoring/anomalies", headers=vera).status_code == 200
    denied = api.put(
        "/api/monitoring/drift/v-chat/reference",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
        headers=vera,
    )
    assert denied.status_code == 403 and denied.json()["type"].endswith("permission_denied")
    assert api.post(f"/api/monitoring/anomalies/{anomaly}/ack", headers=vera).status_code == 403
    for path in ("/api/monitoring/drift/run", "/api/monitoring/anomalies/run"):
        assert api.post(path, headers=dev.headers).status_code == 403
        assert api.post(path, headers=vera).status_code == 403
    for method, path in (
        ("get", "/api/monitoring/drift"),
        ("get", "/api/monitoring/anomalies"),
        ("post", f"/api/monitoring/anomalies/{anomaly}/ack"),
        ("post", "/api/monitoring/drift/run"),
    ):
        assert getattr(api, method)(path).status_code == 401


def test_bad_reference_windows_and_parameters_are_refused(api, admin):
    _route(api, admin, "w-chat", None)
    now = datetime.now(UTC)
    bad = [
        {"start": now.isoformat(), "end": (now - timedelta(days=1)).isoformat()},  # backwards
        {"start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(days=1)).isoformat()},  # future
        {"start": (now - timedelta(days=200)).isoformat(), "end": (now - timedelta(days=1)).isoformat()},  # too long
        {"start": (now - timedelta(days=2)).isoformat()},  # one end only
    ]
    for body in bad:
        r = api.put("/api/monitoring/drift/w-chat/reference", json=body, headers=admin)
        assert r.status_code == 422 and r.json()["type"].endswith("drift_reference_invalid"), (body, r.text)
    naive = api.put(
        "/api/monitoring/drift/w-chat/reference",
        json={"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"},
        headers=admin,
    )
    assert naive.status_code == 422
    assert api.get("/api/monitoring/anomalies", params={"kind": "x' OR 1=1 --"}, headers=admin).status_code == 422
    assert api.post("/api/monitoring/anomalies/not-a-uuid/ack", headers=admin).status_code == 422
    assert api.post(f"/api/monitoring/anomalies/{uuid.uuid4()}/ack", headers=admin).status_code == 404
    odd = api.get("/api/monitoring/drift/..%2F..%2Fetc%2Fpasswd", headers=admin)
    assert odd.status_code == 404 and odd.headers["content-type"].startswith("application/problem+json")
    assert api.put("/api/monitoring/drift/nope/reference", json={}, headers=admin).status_code == 404
