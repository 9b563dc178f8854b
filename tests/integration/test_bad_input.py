"""Bad input gets a clear problem+json 4xx and leaves nothing half-written."""

from __future__ import annotations

import psycopg

from axops.core.db import libpq_url
from tests.factories import ADMIN_PASSWORD


def _count(database_url, table) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_malformed_wrong_types_unknown_fields_and_oversize(api, admin, database_url):
    users_before = _count(database_url, "users")
    r = api.post("/api/users", content=b'{"username": "x",', headers={**admin, "content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/malformed_json") and r.json()["request_id"]

    r = api.post("/api/users", json={"username": 123, "password": ["a"], "role": "overlord"}, headers=admin)
    assert r.status_code == 422
    body = r.json()
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "role") in locs and ("body", "password") in locs
    assert "input" not in body["errors"][0]  # submitted values (passwords!) are never echoed

    r = api.post("/api/users", json={"username": "ok-name", "password": "p" * 12, "is_superuser": True}, headers=admin)
    assert r.status_code == 422 and "is_superuser" in r.text

    r = api.post("/api/teams", json={"name": "t", "description": "x" * 200_000}, headers=admin)
    assert r.status_code == 413 and r.json()["type"].endswith("/payload_too_large")

    r = api.post(
        "/api/users",
        json={"username": "ghost", "password": "p" * 12, "team_ids": ["00000000-0000-0000-0000-000000000000"]},
        headers=admin,
    )
    assert r.status_code == 422 and "Unknown team" in r.json()["detail"]
    assert _count(database_url, "users") == users_before  # nothing half-written

    me = api.get("/api/user/info", headers=admin).json()
    r = api.patch(f"/api/users/{me['id']}", json={"role": None, "is_active": None, "email": None}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "admin" and r.json()["is_active"] is True
    team = api.post("/api/teams", json={"name": "keep"}, headers=admin).json()
    assert api.patch(f"/api/teams/{team['id']}", json={"name": None}, headers=admin).json()["name"] == "keep"
    assert api.patch(f"/api/teams/{team['id']}", json={"name": ""}, headers=admin).status_code == 422

    assert api.get("/api/users/not-a-uuid", headers=admin).status_code == 422
    assert api.get("/api/users/00000000-0000-0000-0000-000000000000", headers=admin).status_code == 404
    assert api.get("/api/audit/logs", params={"cursor": "%%%garbage"}, headers=admin).status_code == 422
    assert api.get("/api/audit/logs", params={"limit": 100000}, headers=admin).status_code == 422
    assert api.get("/api/no/such/route", headers=admin).status_code == 404


def test_injection_looking_strings_are_stored_verbatim(api, admin):
    name = "<script>alert('x')</script>'; DROP TABLE users; --"
    r = api.post("/api/teams", json={"name": name, "description": "Robert'); DROP TABLE teams;--"}, headers=admin)
    assert r.status_code == 201
    got = api.get(f"/api/teams/{r.json()['id']}", headers=admin).json()
    assert got["name"] == name
    found = api.get("/api/teams", params={"q": "drop TABLE users"}, headers=admin).json()["items"]
    assert [t["name"] for t in found] == [name]
    # LIKE wildcards in a search are matched literally.
    assert api.get("/api/teams", params={"q": "%"}, headers=admin).json()["items"] == []
    assert api.get("/api/teams", params={"q": "_"}, headers=admin).json()["items"] == []
    assert (
        api.post("/api/auth/login", json={"username": "admin' OR '1'='1", "password": ADMIN_PASSWORD}).status_code
        == 401
    )
