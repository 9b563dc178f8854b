"""What alerting must refuse: code in expressions (parsed by hand, never evaluated by Python), templates
that try to reach anything but {{value}} and {{labels.x}}, oversized or deeply nested expressions,
other teams' series in a preview or a rule, other teams' channels and teams, writes by viewers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.factories import make_account
from tests.integration.test_alerts import run_cycle, write_points


def test_expressions_never_run_code(api, admin, tmp_path):
    marker = tmp_path / "pwned"
    for expression in (
        f"__import__('os').system('touch {marker}')",
        f"last(x[5m]) > 1 or __import__('os').system('touch {marker}')",
        "().__class__.__bases__[0].__subclasses__()",
        '{{ cycler.__init__.__globals__.os.popen("id").read() }}',
        "last(x[5m]) > 1; DROP TABLE alert_rules",
    ):
        r = api.post("/api/alerts/rules/preview", json={"expression": expression}, headers=admin)
        assert r.status_code == 422, (expression, r.text)
        assert r.json()["type"].endswith("/alert_expression_invalid")
    assert not Path(marker).exists()
    assert api.get("/api/alerts/rules", headers=admin).status_code == 200


def test_oversized_and_nested_expressions_are_refused(api, admin):
    for expression in ("(" * 100 + "1" + ")" * 100, "1" + " + 1" * 400, "x" * 2001):
        r = api.post("/api/alerts/rules/preview", json={"expression": expression}, headers=admin)
        assert r.status_code == 422, r.text


def test_templates_only_substitute_value_and_labels(api, admin, database_url):
    now = datetime.now(UTC)
    write_points(database_url, "gpu_temperature_c", '{"node": "{{value}}", "gpu": "0"}', [(now, 99.0)])
    r = api.post(
        "/api/alerts/rules",
        json={
            "name": "tmpl",
            "expression": "last(gpu_temperature_c[5m]) > 1",
            "annotations": {"summary": "{{ config }} {{ ''.__class__ }} {{labels.node}} {% for x in y %}"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    run_cycle(database_url, now + timedelta(seconds=1))
    (alert,) = api.get("/api/alerts", params={"state": "firing"}, headers=admin).json()["items"]
    assert alert["summary"] == "{{ config }} {{ ''.__class__ }} {{value}} {% for x in y %}"


def test_other_teams_series_channels_and_teams(api, admin, database_url):
    now = datetime.now(UTC)
    # a series of a gateway route nobody in alice's team may see
    write_points(database_url, "gateway_requests", '{"route": "secret-route"}', [(now - timedelta(seconds=5), 7.0)])
    a = make_account(api, admin, "alice", new_team="ops-a")
    b = make_account(api, admin, "bob", new_team="ops-b")
    viewer = make_account(api, admin, "vera", role="viewer", team=a.team)
    preview = {"expression": "sum(gateway_requests[5m]) > 0"}
    assert api.post("/api/alerts/rules/preview", json=preview, headers=a.headers).json()["samples"] == []
    assert len(api.post("/api/alerts/rules/preview", json=preview, headers=admin).json()["samples"]) == 1

    # alice's rule over the same series never fires: her team may not read it
    body = {"name": "spy", "expression": "sum(gateway_requests[5m]) > 0"}
    assert api.post("/api/alerts/rules", json=body, headers=a.headers).status_code == 201
    run_cycle(database_url, now)
    assert api.get("/api/alerts", params={"state": "all"}, headers=a.headers).json()["items"] == []

    # channels and teams not hers
    r = api.post("/api/alerts/rules", json={**body, "name": "c", "channel_ids": [str(uuid.uuid4())]}, headers=a.headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/alert_channel_unknown")
    r = api.post("/api/alerts/rules", json={**body, "name": "t", "team_id": b.team["id"]}, headers=a.headers)
    assert r.status_code == 404
    silence = {"matchers": [{"name": "alertname", "value": "spy"}], "team_id": b.team["id"]}
    assert api.post("/api/alerts/silences", json=silence, headers=a.headers).status_code == 404
    assert api.post("/api/alerts/rules/builtin", json={"team_id": b.team["id"]}, headers=a.headers).status_code == 404

    # viewers read, never write
    del silence["team_id"]
    assert api.post("/api/alerts/silences", json=silence, headers=viewer.headers).status_code == 403
    assert api.post("/api/alerts/rules/builtin", json={}, headers=viewer.headers).status_code == 403
    assert api.get("/api/alerts/silences", headers=viewer.headers).status_code == 200
    # reserved labels cannot be forged by a rule
    r = api.post("/api/alerts/rules", json={**body, "name": "f", "labels": {"team": "ops-b"}}, headers=a.headers)
    assert r.status_code == 422
