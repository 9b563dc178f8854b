"""Two-factor authentication over the real HTTP API: enrolment, the login's second step, recovery codes,
step-up before destructive actions, and the admins-must-enrol setting."""

from __future__ import annotations

import psycopg
import pytest

from axops.core.db import libpq_url
from tests.factories import (
    ADMIN_PASSWORD,
    PASSWORD,
    bearer,
    enrol_two_factor,
    login,
    make_user,
    mfa_login,
    register_model,
)


def test_enrol_login_replay_recovery_and_disable(api, admin):
    make_user(api, admin, "mina")
    h = bearer(login(api, "mina", PASSWORD)["access_token"])
    assert api.get("/api/user/2fa", headers=h).json()["enabled"] is False
    app, recovery = enrol_two_factor(api, h)
    status = api.get("/api/user/2fa", headers=h).json()
    assert status["enabled"] is True and status["recovery_codes_left"] == 10
    assert api.post("/api/user/2fa/enrol", headers=h).status_code == 409

    # The password alone gives a challenge, not tokens; the challenge is no access token.
    first = api.post("/api/auth/login", json={"username": "mina", "password": PASSWORD}).json()
    assert api.get("/api/user/info", headers=bearer(first["challenge"])).status_code == 401
    wrong = api.post("/api/auth/login/mfa", json={"challenge": first["challenge"], "code": "000000"})
    assert wrong.status_code == 422 and wrong.json()["type"].endswith("/mfa_invalid_code")

    code = app.code()
    ok = api.post("/api/auth/login/mfa", json={"challenge": first["challenge"], "code": code})
    assert ok.status_code == 200, ok.text
    assert ok.cookies.get("axops_refresh") and ok.json()["user"]["username"] == "mina"
    assert api.get("/api/user/info", headers=bearer(ok.json()["access_token"])).status_code == 200

    # The same code again (within its 30 s window) is refused: a code works once.
    replay = mfa_login(api, "mina", PASSWORD, code)
    assert replay.status_code == 422 and replay.json()["type"].endswith("/mfa_invalid_code")

    # A recovery code works once, in place of a TOTP code.
    assert mfa_login(api, "mina", PASSWORD, recovery[0].upper()).status_code == 200
    assert mfa_login(api, "mina", PASSWORD, recovery[0]).status_code == 422
    assert api.get("/api/user/2fa", headers=h).json()["recovery_codes_left"] == 9

    # A forged or stale challenge is refused.
    forged = api.post("/api/auth/login/mfa", json={"challenge": first["challenge"] + "x", "code": app.code()})
    assert forged.status_code == 401 and forged.json()["type"].endswith("/mfa_challenge_invalid")

    assert api.post("/api/user/2fa/disable", json={"code": "123456"}, headers=h).status_code == 422
    assert api.post("/api/user/2fa/disable", json={"code": recovery[1]}, headers=h).status_code == 204
    assert "access_token" in login(api, "mina", PASSWORD)

    actions = [
        e["action"]
        for e in api.get("/api/audit/logs", params={"limit": 200}, headers=admin).json()["items"]
        if e["action"].startswith("mfa.")
    ]
    assert {"mfa.enable", "mfa.disable", "mfa.recovery_used"} <= set(actions)
    failed = api.get("/api/audit/logs", params={"action": "auth.login_failed"}, headers=admin).json()["items"]
    assert {e["summary"]["reason"] for e in failed} == {"mfa_invalid_code"}
    # Nothing secret in the audit trail.
    trail = api.get("/api/audit/logs", params={"limit": 200}, headers=admin).text
    assert app.totp.secret not in trail and recovery[0] not in trail


def test_wrong_codes_are_throttled(api, admin):
    make_user(api, admin, "jun")
    h = bearer(login(api, "jun", PASSWORD)["access_token"])
    app, _ = enrol_two_factor(api, h)
    first = api.post("/api/auth/login", json={"username": "jun", "password": PASSWORD}).json()
    for _ in range(5):
        r = api.post("/api/auth/login/mfa", json={"challenge": first["challenge"], "code": "111111"})
        assert r.status_code == 422
    locked = api.post("/api/auth/login/mfa", json={"challenge": first["challenge"], "code": app.code()})
    assert locked.status_code == 429 and locked.json()["type"].endswith("/mfa_throttled")
    assert int(locked.headers["retry-after"]) > 0
    # Step-up is locked too: the same counter, whatever the route.
    assert api.post("/api/auth/mfa/step-up", json={"code": app.code()}, headers=h).status_code == 429


def _model(api, headers, name="기사-요약") -> str:
    return register_model(api, headers, name, description="요약 모델")["id"]


def test_step_up_before_model_delete(api, admin, database_url):
    make_user(api, admin, "sora", role="developer")
    h = bearer(login(api, "sora", PASSWORD)["access_token"])
    app, _ = enrol_two_factor(api, h)
    r = mfa_login(api, "sora", PASSWORD, app.code())
    h = bearer(r.json()["access_token"])
    first = _model(api, h)
    # Logged in with a code just now: allowed.
    assert (
        api.request("DELETE", f"/api/model/{first}", json={"confirm_name": "기사-요약"}, headers=h).status_code == 204
    )

    # A session whose last code is older than 5 minutes: refused until a step-up.
    second = _model(api, h, "기사-요약-2")  # the first one's name stays held while it can be restored
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE auth_sessions SET mfa_at = now() - interval '6 minutes'")
    refused = api.request("DELETE", f"/api/model/{second}", json={"confirm_name": "기사-요약-2"}, headers=h)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/mfa_step_up_required")
    assert api.get(f"/api/model/{second}", headers=h).status_code == 200
    assert api.post("/api/auth/mfa/step-up", json={"code": "999999"}, headers=h).status_code == 422
    assert api.post("/api/auth/mfa/step-up", json={"code": app.code()}, headers=h).status_code == 204
    assert (
        api.request("DELETE", f"/api/model/{second}", json={"confirm_name": "기사-요약-2"}, headers=h).status_code
        == 204
    )
    actions = {e["action"] for e in api.get("/api/audit/logs", params={"limit": 200}, headers=admin).json()["items"]}
    assert "mfa.step_up" in actions

    # Users without two-factor are not asked.
    make_user(api, admin, "noah", role="developer")
    h2 = bearer(login(api, "noah", PASSWORD)["access_token"])
    third = _model(api, h2, "plain")
    assert api.request("DELETE", f"/api/model/{third}", json={"confirm_name": "plain"}, headers=h2).status_code == 204


@pytest.fixture
def admins_must_enrol(live_server):
    settings = live_server.app.state.axops.settings
    settings.mfa_required_for_admins = True
    yield
    settings.mfa_required_for_admins = False


def test_admins_required_when_configured(api, admin, admins_must_enrol):
    assert api.get("/api/user/2fa", headers=admin).json() == {
        "enabled": False,
        "enabled_at": None,
        "recovery_codes_left": 0,
        "required": True,
    }
    model = _model(api, admin, "old")
    refused = api.request("DELETE", f"/api/model/{model}", json={"confirm_name": "old"}, headers=admin)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/mfa_enrolment_required")
    # Non-admins are not bound by it.
    make_user(api, admin, "dev1", role="developer")
    dev = bearer(login(api, "dev1", PASSWORD)["access_token"])
    mine = _model(api, dev, "mine")
    assert api.request("DELETE", f"/api/model/{mine}", json={"confirm_name": "mine"}, headers=dev).status_code == 204

    enrol_two_factor(api, admin)  # enrolling verifies a code in this session
    assert api.request("DELETE", f"/api/model/{model}", json={"confirm_name": "old"}, headers=admin).status_code == 204
    assert mfa_login(api, "admin", ADMIN_PASSWORD, "000000").status_code == 422


def test_policy_changes_need_step_up(api, admin, database_url):
    app, _ = enrol_two_factor(api, admin)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE auth_sessions SET mfa_at = NULL")
    missing = "/api/guardrails/policies/00000000-0000-7000-8000-000000000000"
    for method, path in (
        ("DELETE", missing),
        ("DELETE", "/api/policy/model-access/00000000-0000-7000-8000-000000000000"),
    ):
        r = api.request(method, path, headers=admin)
        assert r.status_code == 403 and r.json()["type"].endswith("/mfa_step_up_required"), (path, r.text)
    assert api.post("/api/auth/mfa/step-up", json={"code": app.code()}, headers=admin).status_code == 204
    assert api.request("DELETE", missing, headers=admin).status_code == 404
