"""Issue 12, finding 1 (the signing key): rotating AXOPS_SECRET_KEY ends every session — access JWTs
are signed with the key, and refresh tokens carry a MAC under it."""

from __future__ import annotations

from axops.auth.cache import principals
from tests.factories import ADMIN_PASSWORD, bearer, refresh_with_cookie


def test_rotating_the_key_ends_access_and_refresh_tokens(api, live_server):
    first = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    access, refresh = first.json()["access_token"], first.cookies["axops_refresh"]
    assert api.get("/api/user/info", headers=bearer(access)).status_code == 200

    state = live_server.app.state.axops
    original = state.secret_key
    state.secret_key = "rotated-" + "k" * 40
    principals.clear()  # a restart (how a new key takes effect) starts with an empty cache
    try:
        assert api.get("/api/user/info", headers=bearer(access)).status_code == 401
        r = refresh_with_cookie(api, refresh)
        assert r.status_code == 401, r.text

        # Logging in again works under the new key.
        again = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert api.get("/api/user/info", headers=bearer(again.json()["access_token"])).status_code == 200
        assert refresh_with_cookie(api, again.cookies["axops_refresh"]).status_code == 200
    finally:
        state.secret_key = original
        principals.clear()


def test_a_forged_refresh_mac_is_refused(api):
    first = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    nonce, _, _ = first.cookies["axops_refresh"].rpartition(".")
    assert refresh_with_cookie(api, nonce + ".AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 401
