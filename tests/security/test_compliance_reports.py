"""Exploits compliance reports must refuse: markup in a name someone typed at the login form reaching
the HTML and PDF report, reports read or made without audit:read, downloads rendered in the app's origin,
unknown ids and bad periods."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.factories import make_account

NAME = '<img src=x onerror="alert(1)">관리자'


def test_login_name_markup_is_escaped_and_download_is_inert(api, admin):
    r = api.post("/api/auth/login", json={"username": NAME, "password": "wrong-password-1"})
    assert r.status_code == 401
    today = datetime.now(UTC).date().isoformat()
    made = api.post("/api/governance/reports", json={"period": "week", "start": today}, headers=admin)
    assert made.status_code == 201, made.text
    html = api.get(f"/api/governance/reports/{made.json()['id']}/download?format=html", headers=admin)
    assert "<img" not in html.text and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;관리자" in html.text
    assert html.headers["content-disposition"].startswith("attachment;")
    assert html.headers["content-security-policy"].startswith("default-src 'none'")
    assert html.headers["x-content-type-options"] == "nosniff"


def test_permissions_and_bad_input(api, admin):
    dev = make_account(api, admin, "sec-gov-dev")
    made = api.post("/api/governance/reports", json={"period": "month"}, headers=admin).json()
    for method, url in (
        ("GET", "/api/governance/reports"),
        ("GET", f"/api/governance/reports/{made['id']}/download"),
        ("GET", "/api/governance/dashboard"),
    ):
        assert api.request(method, url, headers=dev.headers).status_code == 403
    assert api.post("/api/governance/reports", json={"period": "week"}, headers=dev.headers).status_code == 403
    assert api.get("/api/governance/reports").status_code == 401
    missing = api.get(f"/api/governance/reports/{uuid.uuid4()}/download", headers=admin)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    for body in ({"period": "year"}, {"period": "week", "start": "2026-13-01"}, {"period": "week", "x": 1}):
        assert api.post("/api/governance/reports", json=body, headers=admin).status_code == 422
    operator = make_account(api, admin, "sec-gov-op", role="operator")
    assert api.get("/api/governance/reports", headers=operator.headers).status_code == 200
