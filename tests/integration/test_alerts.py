"""Alert rules over HTTP: validation with positions and suggestions, preview, create/list/patch/delete,
the built-in pack, an evaluation cycle raising an alert that is listed, acknowledged and notified,
silences, team scoping (404) and the viewer's read-only access (403), every change audited."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation

from axops.core.db import Database, libpq_url
from axops.monitoring import alert_pack, alerts
from tests.factories import make_account
from tests.mocks import Receiver


def write_points(database_url: str, name: str, labels: str, points: list[tuple[datetime, float]]) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        sid = conn.execute(
            "INSERT INTO metric_series (name, labels) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (name, labels) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            (name, labels),
        ).fetchone()[0]
        for ts, value in points:
            conn.execute(
                "INSERT INTO metric_points (series_id, ts, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value",
                (sid, ts, value),
            )


def run_cycle(database_url: str, now: datetime) -> alerts.CycleResult:
    async def go():
        db = Database(database_url, pool_size=1)
        try:
            async with db.sessionmaker() as session:
                result = await alerts.run_cycle(session, now)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_alert_rule_journey(api, admin, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    write_points(database_url, "gpu_temperature_c", '{"node": "n1", "gpu": "0"}', [(now - timedelta(seconds=30), 91.0)])
    write_points(database_url, "gpu_temperature_c", '{"node": "n1", "gpu": "1"}', [(now - timedelta(seconds=30), 60.0)])
    a = make_account(api, admin, "alice", new_team="ops-a")
    b = make_account(api, admin, "bob", new_team="ops-b")
    viewer = make_account(api, admin, "vera", role="viewer", team=a.team)

    # bad expressions: the position and the reason; unknown names with suggestions
    r = api.post("/api/alerts/rules/preview", json={"expression": "avg(gpu_temperature_c) > 1"}, headers=a.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/alert_expression_invalid") and r.json()["position"] == 21
    r = api.post("/api/alerts/rules/preview", json={"expression": "last(gpu_temprature_c[5m]) > 1"}, headers=a.headers)
    assert r.status_code == 422 and r.json()["suggestions"] == ["gpu_temperature_c"]

    r = api.post(
        "/api/alerts/rules/preview", json={"expression": "last(gpu_temperature_c[5m]) >= 85"}, headers=viewer.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["samples"] == [
        {"labels": {"node": "n1", "gpu": "0"}, "value": 91.0, "matches": True},
        {"labels": {"node": "n1", "gpu": "1"}, "value": 60.0, "matches": False},
    ]

    body = {
        "name": "GPU 과열",
        "expression": "last(gpu_temperature_c[5m]) >= 85",
        "for": "0s",
        "severity": "critical",
        "group_by": ["node"],
        "annotations": {"summary": "{{labels.gpu}}번 GPU {{value}}도"},
    }
    assert api.post("/api/alerts/rules", json=body, headers=viewer.headers).status_code == 403
    r = api.post("/api/alerts/rules", json=body, headers=a.headers)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["for"], rule["repeat_interval"], rule["team_id"]) == ("0s", "4h", a.team["id"])
    assert api.post("/api/alerts/rules", json=body, headers=a.headers).status_code == 409
    bad = {**body, "name": "x", "for": "25h"}
    assert api.post("/api/alerts/rules", json=bad, headers=a.headers).json()["type"].endswith("/alert_duration_invalid")

    # another team's rule is not there for bob
    url = f"/api/alerts/rules/{rule['id']}"
    assert api.get(url, headers=b.headers).status_code == 404
    assert api.patch(url, json={"severity": "info"}, headers=b.headers).status_code == 404
    assert api.delete(url, headers=b.headers).status_code == 404
    assert api.get("/api/alerts/rules", headers=b.headers).json()["items"] == []
    assert api.get(url, headers=viewer.headers).status_code == 200

    # one cycle: the hot GPU fires, listed with its summary, notified to alice's team only
    result = run_cycle(database_url, now)
    assert result.firing >= 1
    (alert,) = api.get("/api/alerts", params={"state": "firing"}, headers=a.headers).json()["items"]
    assert alert["labels"]["gpu"] == "0" and alert["labels"]["alertname"] == "GPU 과열"
    assert alert["summary"] == "0번 GPU 91도" and alert["severity"] == "critical"
    assert api.get("/api/alerts", headers=b.headers).json()["items"] == []
    listed = api.get("/api/alerts/rules", headers=a.headers).json()
    assert listed["total"] == 1 and listed["items"][0]["firing"] == 1
    (note,) = api.get("/api/alerts/notifications", headers=a.headers).json()["items"]
    assert note["status"] == "firing" and note["payload"]["alerts"][0]["labels"]["team"] == "ops-a"
    assert api.get("/api/alerts/notifications", headers=b.headers).json()["items"] == []

    # acknowledgement: alice's team only; the viewer may not
    assert api.post(f"/api/alerts/{alert['id']}/ack", headers=b.headers).status_code == 404
    assert api.post(f"/api/alerts/{alert['id']}/ack", headers=viewer.headers).status_code == 403
    r = api.post(f"/api/alerts/{alert['id']}/ack", headers=a.headers)
    assert r.status_code == 200 and r.json()["acked_by_name"] == "alice"

    # silences: made, listed, expired
    r = api.post(
        "/api/alerts/silences",
        json={"matchers": [{"name": "node", "value": "n1"}], "duration": "1h", "comment": "점검"},
        headers=a.headers,
    )
    assert r.status_code == 201, r.text
    silence = r.json()
    assert silence["active"] and silence["created_by_name"] == "alice"
    assert api.delete(f"/api/alerts/silences/{silence['id']}", headers=b.headers).status_code == 404
    assert api.delete(f"/api/alerts/silences/{silence['id']}", headers=a.headers).status_code == 204
    (listed,) = api.get("/api/alerts/silences", headers=a.headers).json()["items"]
    assert not listed["active"]

    r = api.patch(url, json={"severity": "warning", "enabled": False}, headers=a.headers)
    assert r.status_code == 200 and r.json()["severity"] == "warning" and not r.json()["enabled"]
    assert r.json()["firing"] == 0  # a paused rule's alerts end
    assert (
        api.get("/api/alerts", params={"state": "resolved"}, headers=a.headers).json()["items"][0]["id"] == alert["id"]
    )

    # the built-in pack: installed once, idempotent
    r = api.post("/api/alerts/rules/builtin", json={"enabled": False}, headers=a.headers)
    assert r.status_code == 201, r.text
    assert {x["builtin"] for x in r.json()["items"]} == {p["builtin"] for p in alert_pack.PACK}
    assert api.post("/api/alerts/rules/builtin", json={}, headers=a.headers).json()["items"] == []

    assert api.delete(url, headers=a.headers).status_code == 204
    assert api.get(url, headers=a.headers).status_code == 404
    events = api.get("/api/audit/logs", params={"resource_type": "alert_rule", "limit": 50}, headers=admin).json()
    actions = [e["action"] for e in events["items"]]
    assert {"alert_rule.create", "alert_rule.update", "alert_rule.delete"} <= set(actions)
    events = api.get("/api/audit/logs", params={"resource_type": "alert", "limit": 50}, headers=admin).json()
    assert [e["action"] for e in events["items"]] == ["alert.ack"]


def test_the_periodic_task_fires_and_delivers_to_a_webhook(
    api, admin, database_url, live_server, settings, monkeypatch, task_worker
):
    """Breach → the 15-second task evaluates, commits and dispatches: the rule's webhook receives the
    notification (a real HTTP receiver), then the resolution once the series is back to normal."""
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")
    receiver = Receiver()
    try:
        now = datetime.now(UTC)
        labels = '{"node": "task-node"}'
        write_points(database_url, "gpu_node_up", labels, [(now - timedelta(seconds=5), 0.0)])
        r = api.post(
            "/api/alerts/channels",
            json={"name": "hook", "kind": "webhook", "config": {"url": receiver.url + "/hook"}},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        body = {"name": "node down", "expression": "last(gpu_node_up[5m]) == 0", "channel_ids": [r.json()["id"]]}
        rule = api.post("/api/alerts/rules", json=body, headers=admin)
        assert rule.status_code == 201, rule.text

        def notified(status: str) -> dict:
            state = live_server.app.state.axops
            defer = state.tasks.tasks["alerts:evaluate_alerts"].defer_async(timestamp=int(time.time()))
            with contextlib.suppress(AlreadyEnqueued, UniqueViolation):
                asyncio.run_coroutine_threadsafe(defer, live_server.server_loop).result(30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for req in receiver.requests:
                    payload = json.loads(req["body"])
                    if payload.get("status") == status:
                        return payload
                time.sleep(0.2)
            raise AssertionError(f"no {status} notification reached the receiver: {receiver.requests}")

        firing = notified("firing")
        assert firing["rule_name"] == "node down" and firing["alerts"][0]["labels"]["node"] == "task-node"
        write_points(database_url, "gpu_node_up", labels, [(datetime.now(UTC) - timedelta(seconds=1), 1.0)])
        resolved = notified("resolved")
        assert resolved["alerts"][0]["state"] == "resolved"
    finally:
        receiver.close()
