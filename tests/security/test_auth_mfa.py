"""Attacks on two-factor authentication and single sign-on that must fail."""

from __future__ import annotations

import concurrent.futures

import httpx
import jwt
import psycopg

from axops.core.db import libpq_url
from tests.factories import (
    PASSWORD,
    bearer,
    enrol_two_factor,
    login,
    make_user,
    mfa_login,
    register_model,
)


def _challenge(api, username: str) -> str:
    body = api.post("/api/auth/login", json={"username": username, "password": PASSWORD}).json()
    assert body["mfa_required"] is True
    return body["challenge"]


def test_tokens_do_not_stand_in_for_each_other(api, admin):
    make_user(api, admin, "alice")
    h = bearer(login(api, "alice", PASSWORD)["access_token"])
    app, _ = enrol_two_factor(api, h)
    challenge = _challenge(api, "alice")
    # A challenge is no access token, and an access token is no challenge (it would skip the password).
    assert api.get("/api/user/info", headers=bearer(challenge)).status_code == 401
    r = api.post("/api/auth/login/mfa", json={"challenge": h["Authorization"][7:], "code": app.code()})
    assert r.status_code == 401 and r.json()["type"].endswith("/mfa_challenge_invalid")
    # A challenge signed with another key, or with alg none, is refused.
    claims = jwt.decode(challenge, options={"verify_signature": False})
    for forged in (
        jwt.encode(claims, "not-the-server-key-" + "y" * 32, algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
    ):
        r = api.post("/api/auth/login/mfa", json={"challenge": forged, "code": app.code()})
        assert r.status_code == 401


def test_one_users_code_does_not_open_another_account(api, admin):
    make_user(api, admin, "alice")
    make_user(api, admin, "bob")
    alice_app, _ = enrol_two_factor(api, bearer(login(api, "alice", PASSWORD)["access_token"]))
    enrol_two_factor(api, bearer(login(api, "bob", PASSWORD)["access_token"]))
    r = api.post("/api/auth/login/mfa", json={"challenge": _challenge(api, "bob"), "code": alice_app.code()})
    assert r.status_code == 422


def test_secrets_are_stored_encrypted_and_never_shown_again(api, admin, database_url):
    make_user(api, admin, "alice")
    h = bearer(login(api, "alice", PASSWORD)["access_token"])
    app, recovery = enrol_two_factor(api, h)
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored = conn.execute("SELECT secret_encrypted FROM user_two_factor").fetchone()[0]
        hashes = [r[0] for r in conn.execute("SELECT code_hash FROM mfa_recovery_codes")]
    assert app.totp.secret not in stored
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code in h for code in recovery for h in hashes)
    # Once on, the secret cannot be read again (a stolen access token cannot clone the authenticator).
    assert app.totp.secret not in api.get("/api/user/2fa", headers=h).text
    assert api.post("/api/user/2fa/enrol", headers=h).status_code == 409
    # Nor turned off without a code.
    assert api.post("/api/user/2fa/disable", json={"code": "000000"}, headers=h).status_code == 422
    assert api.get("/api/user/2fa", headers=h).json()["enabled"] is True


def test_a_code_raced_twice_works_once(api, admin):
    make_user(api, admin, "alice")
    app, _ = enrol_two_factor(api, bearer(login(api, "alice", PASSWORD)["access_token"]))
    challenges = [_challenge(api, "alice") for _ in range(4)]
    code = app.code()

    def attempt(challenge):
        return httpx.post(f"{api.base_url}/api/auth/login/mfa", json={"challenge": challenge, "code": code}).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(attempt, challenges))
    assert codes == [200, 422, 422, 422]


def test_step_up_belongs_to_one_session(api, admin, database_url):
    make_user(api, admin, "alice")
    h = bearer(login(api, "alice", PASSWORD)["access_token"])
    app, _ = enrol_two_factor(api, h)
    first = bearer(mfa_login(api, "alice", PASSWORD, app.code()).json()["access_token"])
    second = bearer(mfa_login(api, "alice", PASSWORD, app.code()).json()["access_token"])
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE auth_sessions SET mfa_at = now() - interval '1 hour'")
    model = register_model(api, first, "victim-model")["id"]
    assert api.post("/api/auth/mfa/step-up", json={"code": app.code()}, headers=first).status_code == 204
    # The other session (a stolen token, say) is not stepped up by it.
    refused = api.request("DELETE", f"/api/model/{model}", json={"confirm_name": "victim-model"}, headers=second)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/mfa_step_up_required")
    done = api.request("DELETE", f"/api/model/{model}", json={"confirm_name": "victim-model"}, headers=first)
    assert done.status_code == 204


def test_sso_callback_without_a_flow_is_refused(api, admin):
    # SSO off: nothing to call.
    assert api.get("/api/auth/sso/callback", params={"code": "x", "state": "y"}).status_code == 404
