"""Revoking all of a user's API keys at once: own keys, an Admin for another user, another user's keys
refused to a non-admin, the two-factor step-up, the audit event with the count, and 401 for every
revoked key at once (the principal cache is dropped on commit)."""

from __future__ import annotations

import psycopg

from axops.core.db import libpq_url
from tests.factories import PASSWORD, bearer, enrol_two_factor, login, make_key, make_user, mfa_login


def works(api, key: str) -> int:
    return api.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code


def test_revoke_all_own_and_by_admin(api, admin):
    mina = make_user(api, admin, "mina")
    h = bearer(login(api, "mina", PASSWORD)["access_token"])
    keys = [make_key(api, h, f"k{i}")["key"] for i in range(3)]
    assert all(works(api, k) == 200 for k in keys)  # used once: now cached in the principal cache
    make_user(api, admin, "noah")
    other = bearer(login(api, "noah", PASSWORD)["access_token"])
    noah_key = make_key(api, other, "n")["key"]

    # Another user's keys: not for a non-admin (and the user's existence is not revealed).
    r = api.post("/api/apikey/revoke-all", json={"user_id": mina["id"]}, headers=other)
    assert r.status_code == 404 and r.json()["type"].endswith("/user_not_found")
    assert all(works(api, k) == 200 for k in keys)
    bad = api.post("/api/apikey/revoke-all", json={"user_id": "nope"}, headers=h)
    assert bad.status_code == 422

    r = api.post("/api/apikey/revoke-all", json={}, headers=h)
    assert r.status_code == 200 and r.json() == {"revoked": 3}, r.text
    assert all(works(api, k) == 401 for k in keys)
    assert works(api, noah_key) == 200  # nobody else's
    assert api.post("/api/apikey/revoke-all", json={}, headers=h).json() == {"revoked": 0}

    # An Admin revokes another user's keys.
    r = api.post("/api/apikey/revoke-all", json={"user_id": mina["id"]}, headers=admin)
    assert r.json() == {"revoked": 0}
    noah = api.get("/api/users", headers=admin).json()
    noah_id = next(u["id"] for u in noah.get("items", noah) if u["username"] == "noah")
    r = api.post("/api/apikey/revoke-all", json={"user_id": noah_id}, headers=admin)
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    assert works(api, noah_key) == 401
    missing = api.post(
        "/api/apikey/revoke-all", json={"user_id": "00000000-0000-7000-8000-000000000000"}, headers=admin
    )
    assert missing.status_code == 404

    events = api.get("/api/audit/logs", params={"action": "apikey.revoke_all"}, headers=admin).json()["items"]
    counts = sorted(e["summary"]["count"] for e in events)
    assert counts == [0, 0, 1, 3]
    assert all(e["resource_type"] == "user" for e in events)


def test_revoke_all_needs_a_recent_step_up_with_two_factor_on(api, admin, database_url):
    make_user(api, admin, "sora")
    h = bearer(login(api, "sora", PASSWORD)["access_token"])
    key = make_key(api, h, "k")["key"]
    app, _ = enrol_two_factor(api, h)
    h = bearer(mfa_login(api, "sora", PASSWORD, app.code()).json()["access_token"])
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE auth_sessions SET mfa_at = now() - interval '6 minutes'")
    refused = api.post("/api/apikey/revoke-all", json={}, headers=h)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/mfa_step_up_required")
    assert works(api, key) == 200  # nothing revoked
    assert api.post("/api/auth/mfa/step-up", json={"code": app.code()}, headers=h).status_code == 204
    r = api.post("/api/apikey/revoke-all", json={}, headers=h)
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    assert works(api, key) == 401
