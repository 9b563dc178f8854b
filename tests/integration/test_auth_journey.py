"""Login, sessions, users, teams, roles and API keys, walked through the real HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import psycopg

from axops.core.db import libpq_url
from tests.factories import ADMIN_PASSWORD, PASSWORD, bearer, login, make_team, make_user, refresh_with_cookie


def _actions(api, admin, **params) -> list[str]:
    r = api.get("/api/audit/logs", params={"limit": 500, **params}, headers=admin)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


def test_login_refresh_rotation_and_logout(api):
    first = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    tokens, cookie = first.json(), first.cookies["axops_refresh"]
    assert tokens["token_type"] == "bearer" and tokens["user"]["role"] == "admin"
    assert "users:admin" in tokens["user"]["permissions"]
    assert "refresh_token" not in tokens

    rotated = refresh_with_cookie(api, cookie)
    assert rotated.status_code == 200
    new, new_cookie = rotated.json(), rotated.cookies["axops_refresh"]
    assert new_cookie != cookie and "refresh_token" not in new
    assert api.get("/api/user/info", headers=bearer(new["access_token"])).status_code == 200

    # Replaying the spent refresh token is treated as theft: the whole session ends.
    replay = refresh_with_cookie(api, cookie)
    assert replay.status_code == 401
    assert api.get("/api/user/info", headers=bearer(new["access_token"])).status_code == 401
    assert refresh_with_cookie(api, new_cookie).status_code == 401

    # Logout ends the session at once, not when the JWT expires, and clears the cookie.
    fresh = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    h, fresh_cookie = bearer(fresh.json()["access_token"]), fresh.cookies["axops_refresh"]
    out = httpx.post(
        f"{api.base_url}/api/auth/logout",
        headers={**h, "x-requested-with": "axops", "cookie": f"axops_refresh={fresh_cookie}"},
    )
    assert out.status_code == 204 and 'axops_refresh=""' in out.headers["set-cookie"]
    assert api.get("/api/user/info", headers=h).status_code == 401
    assert refresh_with_cookie(api, fresh_cookie).status_code == 401

    admin = bearer(login(api, "admin", ADMIN_PASSWORD)["access_token"])
    actions = _actions(api, admin)
    assert {"auth.login", "auth.logout", "auth.refresh_reuse"} <= set(actions)


def test_no_user_enumeration_and_throttling(api, admin):
    unknown = api.post("/api/auth/login", json={"username": "ghost", "password": "whatever-123"})
    wrong = api.post("/api/auth/login", json={"username": "admin", "password": "wrong-password"})
    assert unknown.status_code == wrong.status_code == 401

    def strip(r):
        return {k: v for k, v in r.json().items() if k != "request_id"}

    assert strip(unknown) == strip(wrong)
    assert unknown.headers["content-type"] == "application/problem+json"
    assert wrong.json()["type"] == "https://axops.dev/problems/invalid_credentials"  # the UI translates by this code
    short = api.post("/api/auth/login", json={"username": "", "password": "x"})
    assert short.status_code == 422 and short.json()["type"].endswith("/validation_error")
    assert {"loc": ["body", "username"], "type": "string_too_short"}.items() <= short.json()["errors"][0].items()
    assert short.json()["errors"][0]["ctx"] == {"min_length": 1} and "input" not in short.json()["errors"][0]

    for _ in range(4):
        assert api.post("/api/auth/login", json={"username": "admin", "password": "nope-nope"}).status_code == 401
    blocked = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Try again" in blocked.json()["detail"]

    failed = api.get("/api/audit/logs", params={"action": "auth.login_failed"}, headers=admin).json()["items"]
    assert len(failed) == 6
    assert all(e["outcome"] == "failure" for e in failed)
    assert {e["summary"]["reason"] for e in failed} == {"unknown_user", "bad_password"}
    assert "auth.login_throttled" in _actions(api, admin)


def test_admin_manages_users_teams_and_roles_are_enforced(api, admin):
    team = make_team(api, admin, "research")
    other = make_team(api, admin, "vision")
    dev = make_user(api, admin, "Dev.Kim", "developer", [team["id"]])
    assert dev["username"] == "dev.kim" and [t["name"] for t in dev["teams"]] == ["research"]
    assert (
        api.post(
            "/api/users", json={"username": "dev.kim", "password": PASSWORD, "role": "viewer"}, headers=admin
        ).status_code
        == 409
    )
    viewer = make_user(api, admin, "viewer1", "viewer")

    dev_h = bearer(login(api, "dev.kim", PASSWORD)["access_token"])
    viewer_h = bearer(login(api, "viewer1", PASSWORD)["access_token"])

    # A Developer cannot administer; a Viewer cannot mutate anything.
    assert api.get("/api/users", headers=dev_h).status_code == 403
    assert api.post("/api/teams", json={"name": "x"}, headers=dev_h).status_code == 403
    denied = api.post("/api/apikey/create", json={"name": "k"}, headers=viewer_h)
    assert denied.status_code == 403 and "apikeys:write" in denied.json()["detail"]
    assert api.get("/api/audit/logs", headers=viewer_h).status_code == 403
    info = api.get("/api/user/info", headers=viewer_h).json()
    assert "users:admin" not in info["permissions"] and "models:read" in info["permissions"]

    # Membership, role change and deactivation, each audited.
    assert api.put(f"/api/teams/{other['id']}/members/{dev['id']}", headers=admin).status_code == 204
    members = api.get(f"/api/teams/{other['id']}/members", headers=admin).json()["items"]
    assert [m["username"] for m in members] == ["dev.kim"]
    assert api.delete(f"/api/teams/{other['id']}/members/{dev['id']}", headers=admin).status_code == 204
    r = api.patch(f"/api/users/{viewer['id']}", json={"role": "operator"}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "operator"
    assert api.patch(f"/api/users/{dev['id']}", json={"is_active": False}, headers=admin).status_code == 200
    assert api.get("/api/user/info", headers=dev_h).status_code == 401  # sessions end at once
    assert api.post("/api/auth/login", json={"username": "dev.kim", "password": PASSWORD}).status_code == 401

    actions = _actions(api, admin)
    for expected in (
        "team.create",
        "user.create",
        "team.member_add",
        "team.member_remove",
        "user.role_change",
        "user.deactivate",
    ):
        assert expected in actions, expected

    # The last active admin cannot be demoted or deactivated.
    me = api.get("/api/user/info", headers=admin).json()
    r = api.patch(f"/api/users/{me['id']}", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 409 and "last active Admin" in r.json()["detail"]

    listed = api.get("/api/users", params={"q": "view", "limit": 10}, headers=admin).json()
    assert [u["username"] for u in listed["items"]] == ["viewer1"]


def test_password_change_and_reset(api, admin):
    user = make_user(api, admin, "lee", "developer")
    session1 = login(api, "lee", PASSWORD)
    session2 = bearer(login(api, "lee", PASSWORD)["access_token"])
    h1 = bearer(session1["access_token"])
    bad = api.post("/api/user/password", json={"current_password": "wrong", "new_password": "n" * 12}, headers=h1)
    assert bad.status_code == 422
    short = api.post("/api/user/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=h1)
    assert short.status_code == 422
    ok = api.post(
        "/api/user/password", json={"current_password": PASSWORD, "new_password": "brand-new-pass-1"}, headers=h1
    )
    assert ok.status_code == 204
    assert api.get("/api/user/info", headers=h1).status_code == 200  # this session stays
    assert api.get("/api/user/info", headers=session2).status_code == 401  # the others end
    login(api, "lee", "brand-new-pass-1")

    assert (
        api.post(
            f"/api/users/{user['id']}/password", json={"new_password": "reset-by-admin-1"}, headers=admin
        ).status_code
        == 204
    )
    assert api.get("/api/user/info", headers=h1).status_code == 401
    login(api, "lee", "reset-by-admin-1")


def test_api_keys_work_like_jwts_and_are_refused_once_revoked_or_expired(api, admin, database_url):
    team = make_team(api, admin, "research")
    other_team = make_team(api, admin, "other")
    make_user(api, admin, "dev1", "developer", [team["id"]])
    make_user(api, admin, "dev2", "developer")
    dev = bearer(login(api, "dev1", PASSWORD)["access_token"])
    dev2 = bearer(login(api, "dev2", PASSWORD)["access_token"])

    created = api.post(
        "/api/apikey/create", json={"name": "ci-bot", "team_id": team["id"], "expires_in_days": 30}, headers=dev
    )
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert secret.startswith(key["prefix"] + "_") and key["status"] == "active" and key["team_name"] == "research"

    info = api.get("/api/user/info", headers=bearer(secret))
    assert info.status_code == 200 and info.json()["auth"] == "apikey" and info.json()["username"] == "dev1"

    # The secret is never shown again nor stored in clear.
    listed = api.get("/api/apikey", headers=dev).json()["items"]
    assert len(listed) == 1 and "key" not in listed[0]
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys").fetchone()[0]
    assert secret not in stored and len(stored) == 64

    # Scopes narrow what a key can do, and can never exceed the owner's role.
    narrow = api.post("/api/apikey/create", json={"name": "ro", "scopes": ["models:read"]}, headers=dev).json()
    assert api.post("/api/apikey/create", json={"name": "x"}, headers=bearer(narrow["key"])).status_code == 403
    assert api.post("/api/apikey/create", json={"name": "x", "scopes": ["users:admin"]}, headers=dev).status_code == 403
    assert api.post("/api/apikey/create", json={"name": "x", "scopes": ["bogus:scope"]}, headers=dev).status_code == 422
    # Another team's id is not found (existence does not leak).
    assert (
        api.post("/api/apikey/create", json={"name": "x", "team_id": other_team["id"]}, headers=dev).status_code == 404
    )
    # Another user's key cannot be revoked, or seen.
    assert api.post(f"/api/apikey/{key['id']}/revoke", headers=dev2).status_code == 404
    assert api.get("/api/apikey", headers=dev2).json()["items"] == []

    revoked = api.post(f"/api/apikey/{key['id']}/revoke", headers=dev)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert api.get("/api/user/info", headers=bearer(secret)).status_code == 401

    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s", (narrow["id"],))
    assert api.get("/api/user/info", headers=bearer(narrow["key"])).status_code == 401
    assert {k["name"]: k["status"] for k in api.get("/api/apikey", headers=dev).json()["items"]} == {
        "ci-bot": "revoked",
        "ro": "expired",
    }
    actions = _actions(api, admin, action="apikey.")
    assert actions.count("apikey.create") == 2 and actions.count("apikey.revoke") == 1


def test_forged_expired_and_malformed_tokens_are_401(api, settings):
    assert api.get("/api/user/info").status_code == 401
    assert api.get("/api/user/info", headers={"Authorization": "Basic abc"}).status_code == 401
    forged = jwt.encode({"sub": "x", "sid": "y", "exp": datetime.now(UTC) + timedelta(hours=1)}, "not-our-secret")
    assert api.get("/api/user/info", headers=bearer(forged)).status_code == 401
    tokens = login(api, "admin", ADMIN_PASSWORD)
    claims = jwt.decode(tokens["access_token"], settings.secret_key, algorithms=["HS256"], issuer="axops")
    claims["exp"] = datetime.now(UTC) - timedelta(seconds=5)
    expired = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    r = api.get("/api/user/info", headers=bearer(expired))
    assert r.status_code == 401 and r.json()["type"].endswith("/not_authenticated")
    assert api.get("/api/user/info", headers=bearer("axk_deadbeef_nope")).status_code == 401


def test_a_fresh_install_works_on_first_use(api, admin):
    """The admin of a fresh install, naming no team anywhere, uploads a dataset and creates an experiment
    through the MLflow API: both belong to the default team. Users created without teams join it too."""
    me = api.get("/api/user/info", headers=admin).json()
    default = api.get("/api/teams", params={"q": "default"}, headers=admin).json()["items"]
    assert [t["name"] for t in default] == ["default"] and me["teams"] == [{"id": default[0]["id"], "name": "default"}]
    default_id = default[0]["id"]

    r = api.post(
        "/api/dataset/upload",
        data={"name": "first"},
        files={"file": ("first.csv", b"id,text\n1,hello\n")},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert api.get(f"/api/dataset/{r.json()['dataset_id']}", headers=admin).json()["team_id"] == default_id

    key = api.post("/api/apikey/create", json={"name": "mlflow"}, headers=admin).json()[
        "key"
    ]  # the mlflow client's way
    r = api.post("/api/2.0/mlflow/experiments/create", json={"name": "first"}, headers=bearer(key))
    assert r.status_code == 200, r.text
    experiment = api.get(f"/api/experiments/{uuid.UUID(r.json()['experiment_id'])}", headers=admin).json()
    assert experiment["team_id"] == default_id

    newcomer = make_user(api, admin, "newcomer", "developer")
    assert [t["name"] for t in newcomer["teams"]] == ["default"]
    research = make_team(api, admin, "research")
    placed = make_user(api, admin, "placed", "developer", [research["id"]])
    assert [t["name"] for t in placed["teams"]] == ["research"]  # placed elsewhere: not in the default team
    members = api.get(f"/api/teams/{default_id}/members", headers=admin).json()["items"]
    assert sorted(m["username"] for m in members) == ["admin", "newcomer"]

    # Someone placed in a team besides the default one creates there when naming none.
    assert api.put(f"/api/teams/{research['id']}/members/{newcomer['id']}", headers=admin).status_code == 204
    dev = bearer(login(api, "newcomer", PASSWORD)["access_token"])
    r = api.post("/api/2.0/mlflow/experiments/create", json={"name": "mine"}, headers=dev)
    assert r.status_code == 200, r.text
    experiment = api.get(f"/api/experiments/{uuid.UUID(r.json()['experiment_id'])}", headers=dev).json()
    assert experiment["team_id"] == research["id"]


def test_names_are_trimmed_one_line_and_not_blank(api, admin):
    """Team and API key names and display names: what the web forms check (web/src/rules.ts) is what the API
    enforces; a refused name leaves nothing behind."""
    r = api.post("/api/teams", json={"name": "  research  "}, headers=admin)
    assert r.status_code == 201 and r.json()["name"] == "research"
    team_count = len(api.get("/api/teams", headers=admin).json()["items"])
    for bad in ("", "   ", "two\nlines", "tab\there", "x" * 101):
        r = api.post("/api/teams", json={"name": bad}, headers=admin)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), bad
    assert len(api.get("/api/teams", headers=admin).json()["items"]) == team_count
    assert (
        api.patch(
            f"/api/teams/{api.get('/api/teams', headers=admin).json()['items'][0]['id']}",
            json={"name": " "},
            headers=admin,
        ).status_code
        == 422
    )
    for bad in ("   ", "ci\nkey"):
        assert api.post("/api/apikey/create", json={"name": bad}, headers=admin).status_code == 422
    ok = api.post("/api/apikey/create", json={"name": " ci key "}, headers=admin)
    assert ok.status_code == 201 and ok.json()["name"] == "ci key"
    user = {"username": "kim.dev", "password": "long-enough-pass-1"}
    assert api.post("/api/users", json={**user, "display_name": "a\nb"}, headers=admin).status_code == 422
    for bad in ("bad name with spaces!!", "ab", "-dash", "x" * 65):
        assert api.post("/api/users", json={**user, "username": bad}, headers=admin).status_code == 422
    for bad in ("kim@", "kim@localhost", "kim example.com"):
        assert api.post("/api/users", json={**user, "email": bad}, headers=admin).status_code == 422
    r = api.post("/api/users", json={**user, "display_name": "  김 개발  ", "email": "kim@example.com"}, headers=admin)
    assert r.status_code == 201 and r.json()["display_name"] == "김 개발"
