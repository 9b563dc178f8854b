"""Compliance reports and the governance dashboard over HTTP: a report of a past week counts the audit
rows written into it, comes as HTML and a real PDF, is archived and downloadable; the scheduled task
makes one report per period; the dashboard's heatmap counts known rows in Seoul time."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta

import psycopg

from axops.core.db import libpq_url
from axops.governance import report_tasks, reports
from tests.factories import insert_audit_events, make_account

WEEK = date(2026, 11, 2)  # a Monday (Asia/Seoul)
# 10:30 on Tuesday 3 Nov in Seoul = 01:30 UTC
AT = datetime(2026, 11, 3, 1, 30, tzinfo=UTC)


def _events():
    rows = [("auth.login", "kim", "success")] * 3 + [("auth.login_failed", "<script>alert(1)</script>", "failure")] * 2
    rows += [("auth.login_throttled", "박지성", "failure"), ("apikey.create", "kim", "success")]
    rows += [
        ("apikey.create", "kim", "success"),
        ("apikey.revoke", "kim", "success"),
        ("audit.export", "kim", "success"),
    ]
    rows += [("dataset.scan_requested", "kim", "success")]
    events = [
        {"created_at": AT + timedelta(minutes=i), "action": a, "actor_name": n, "outcome": o}
        for i, (a, n, o) in enumerate(rows)
    ]
    # outside the week: must not be counted
    events.append({"created_at": datetime(2026, 11, 1, 14, 0, tzinfo=UTC), "action": "auth.login"})  # Sun 23:00 KST
    events.append(
        {"created_at": datetime(2026, 11, 8, 15, 0, tzinfo=UTC), "action": "auth.login"}
    )  # Mon 00:00 KST next
    return events


def _sql(database_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(sql).fetchall()


def _cell(html: str, key: str) -> int:
    return int(re.search(rf'data-k="{key}">(\d+)<', html).group(1))


def test_report_on_request_counts_archive_and_download(api, admin, database_url, live_server):
    insert_audit_events(database_url, _events())
    r = api.post("/api/governance/reports", json={"period": "week", "start": "2026-11-04"}, headers=admin)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["period_start"].startswith("2026-11-01T15:00:00")  # Monday 00:00 KST
    assert report["period_end"].startswith("2026-11-08T15:00:00")
    assert report["pdf_size"] > 1000 and len(report["html_sha256"]) == 64
    assert set(report["checklist"]) >= {"access_control", "access_logs", "encryption", "pseudonymisation"}

    html = api.get(f"/api/governance/reports/{report['id']}/download", params={"format": "html"}, headers=admin)
    assert html.status_code == 200
    assert html.headers["content-disposition"].startswith("attachment;")
    assert "default-src 'none'" in html.headers["content-security-policy"]
    body = html.text
    assert (_cell(body, "logins"), _cell(body, "failed"), _cell(body, "throttled")) == (3, 2, 1)
    assert (_cell(body, "issued"), _cell(body, "revoked"), _cell(body, "scans")) == (2, 1, 1)
    assert "박지성" in body
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "not recorded" in body or "none in this period" in body  # guardrails/violations: absent or empty
    # audit retention 365 days by default: partial, not assumed met
    assert 'class="partial" data-control="access_logs"' in body

    pdf = api.get(f"/api/governance/reports/{report['id']}/download", headers=admin)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert len(pdf.content) == report["pdf_size"]

    listed = api.get("/api/governance/reports", headers=admin).json()
    assert [x["id"] for x in listed] == [report["id"]]
    audit = api.get("/api/audit/logs", params={"action": "compliance_report.download"}, headers=admin).json()
    assert len(audit["items"]) == 2

    # regenerating the same period replaces the archived row rather than adding one, and its files
    old_keys = [r[0] for r in _sql(database_url, "SELECT unnest(ARRAY[html_key, pdf_key]) FROM compliance_reports")]
    assert len(old_keys) == 2
    again = api.post("/api/governance/reports", json={"period": "week", "start": "2026-11-08"}, headers=admin)
    assert again.json()["id"] == report["id"]
    gone = api.get(f"/api/governance/reports/{report['id']}/download", headers=admin)
    assert gone.status_code == 200 and gone.content.startswith(b"%PDF")  # the new files, the old ones deleted
    storage_dir = live_server.app.state.axops.storage.local_path("governance/reports")
    assert not (set(old_keys) & {f"governance/reports/{p.name}" for p in storage_dir.iterdir()})
    assert len(api.get("/api/governance/reports", headers=admin).json()) == 1


def test_scheduled_report_once_per_period(api, admin, live_server):
    state = live_server.app.state.axops

    async def twice():
        await report_tasks.run_scheduled(state, "month")
        await report_tasks.run_scheduled(state, "month")

    asyncio.run_coroutine_threadsafe(twice(), live_server.server_loop).result(120)
    listed = api.get("/api/governance/reports", headers=admin).json()
    assert len(listed) == 1 and listed[0]["period"] == "month"
    assert listed[0]["generated_by_name"] == "system"
    start, _ = reports.period_bounds("month", None)
    assert datetime.fromisoformat(listed[0]["period_start"]) == start


def test_dashboard_heatmap_and_checklist(api, admin, database_url):
    insert_audit_events(database_url, _events())
    r = api.get(
        "/api/governance/dashboard",
        params={"from": "2026-11-01T15:00:00Z", "to": "2026-11-08T15:00:00Z"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    d = r.json()
    cells = {(w, h): n for w, h, n in d["heatmap"]}
    assert cells == {(1, 10): 11}  # Tuesday 10:xx KST, the two rows outside the range left out
    assert d["violations"] == [] or d["violations_recorded"]
    assert {c["status"] for c in d["checklist"]} <= {"met", "partial", "not_met"}
    bad = api.get(
        "/api/governance/dashboard",
        params={"from": "2026-11-08T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        headers=admin,
    )
    assert bad.status_code == 422


def test_developer_is_refused(api, admin):
    dev = make_account(api, admin, "gov-dev")
    assert api.get("/api/governance/reports", headers=dev.headers).status_code == 403
    assert api.post("/api/governance/reports", json={"period": "week"}, headers=dev.headers).status_code == 403
    assert api.get("/api/governance/dashboard", headers=dev.headers).status_code == 403


def test_guardrail_decisions_and_violations_sections(api, admin, database_url):
    from axops.governance.violation_models import Violation
    from axops.guardrails.models import GuardrailDecision
    from tests.factories import insert_rows

    decision = {
        "policy_name": "<b>기본</b>",
        "check": "pii",
        "kinds": "rrn",
        "direction": "request",
        "excerpt": "주민번호 [RRN] <script>x</script>",
        "created_at": AT,
    }
    insert_rows(
        database_url, GuardrailDecision, [{**decision, "action": "block"}] * 2 + [{**decision, "action": "mask"}]
    )
    violation = {
        "kind": "failed_logins",
        "severity": "critical",
        "status": "open",
        "subject_type": "user",
        "subject_id": "u1",
        "subject_name": "kim",
        "evidence": {},
        "event_count": 5,
        "first_seen": AT,
        "last_seen": AT,
        "created_at": AT,
    }
    insert_rows(database_url, Violation, [violation, {**violation, "status": "resolved", "subject_id": "u2"}])

    made = api.post("/api/governance/reports", json={"period": "week", "start": "2026-11-02"}, headers=admin).json()
    body = api.get(f"/api/governance/reports/{made['id']}/download?format=html", headers=admin).text
    assert "&lt;b&gt;기본&lt;/b&gt;" in body and "<b>기본" not in body
    guard = body.split("Guardrail decisions")[1].split("Policy violations")[0]
    assert re.search(r"<td>block</td><td>2</td>", guard) and re.search(r"<td>mask</td><td>1</td>", guard)
    handled = body.split("Policy violations")[1].split("Exports")[0]
    assert re.search(r"<td>open</td><td>-</td><td>1</td>", handled)
    assert re.search(r"<td>resolved</td><td>-</td><td>1</td>", handled)
    assert made["checklist"]["monitoring"] == "met"  # both are recorded on this installation

    d = api.get(
        "/api/governance/dashboard",
        params={"from": "2026-11-01T15:00:00Z", "to": "2026-11-08T15:00:00Z"},
        headers=admin,
    ).json()
    assert d["violations"] == [{"policy": "failed_logins", "kind": "critical", "count": 2}]
    assert [p["action"] for p in d["high_risk"]] == ["block", "block"]
    assert d["high_risk"][0]["excerpt"] == "주민번호 [RRN] <script>x</script>"  # JSON; the UI renders it as text
