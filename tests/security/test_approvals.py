"""The exploits approvals must refuse: deciding your own request (even as an Admin or Operator), deciding
without `approvals:decide` (Viewer, Developer), another team's requests (404 like missing ones, for
reading, deciding and cancelling), using someone else's approval, asking about a model you cannot see,
and a route name that is not a name."""

from __future__ import annotations

import pytest

from tests.factories import make_account, register_model, upload_model


@pytest.fixture
def approvals_on(settings):
    settings.approvals_required = True
    yield
    settings.approvals_required = False


def _pending(api, account) -> tuple[dict, str]:
    model = register_model(api, account.headers, "guarded")
    r = upload_model(api, account.headers, model["id"], {"config.json": b'{"model_type": "gpt2"}'})
    version = r.json()
    r = api.post(f"/api/model/version/{version['id']}/stage", json={"stage": "production"}, headers=account.headers)
    assert r.status_code == 409, r.text
    return version, r.json()["approval_id"]


def test_nobody_decides_their_own_request(api, admin, approvals_on):
    # an Admin promoting needs another person too
    model = register_model(api, admin, "admin-model")
    version = upload_model(api, admin, model["id"], {"config.json": b"{}"}).json()
    r = api.post(f"/api/model/version/{version['id']}/stage", json={"stage": "production"}, headers=admin)
    approval_id = r.json()["approval_id"]
    r = api.post(f"/api/governance/approvals/{approval_id}/approve", json={}, headers=admin)
    assert r.status_code == 403 and r.json()["type"].endswith("approval_self_decision")
    # an Operator asking for access cannot grant it to themselves
    ops = make_account(api, admin, "ops-self", "operator", new_team="ops-team")
    mine = register_model(api, admin, "shared", visibility="organization", team_id=ops.team["id"])
    r = api.post("/api/governance/approvals", json={"kind": "access", "model_id": mine["id"]}, headers=ops.headers)
    assert r.status_code == 201, r.text
    r = api.post(f"/api/governance/approvals/{r.json()['id']}/approve", json={}, headers=ops.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("approval_self_decision")
    # the refused decisions changed nothing
    statuses = {a["status"] for a in api.get("/api/governance/approvals", headers=admin).json()}
    assert statuses == {"pending"}


def test_viewers_and_developers_cannot_decide(api, admin, approvals_on):
    dev = make_account(api, admin, "dev-1", new_team="t1")
    dev2 = make_account(api, admin, "dev-2", team=dev.team)
    viewer = make_account(api, admin, "viewer-1", "viewer", dev.team)
    _, approval_id = _pending(api, dev)
    for who in (dev2, viewer):
        r = api.post(f"/api/governance/approvals/{approval_id}/approve", json={}, headers=who.headers)
        assert r.status_code == 403 and r.json()["type"].endswith("permission_denied"), r.text
        # they see only their own requests: the team's pending one is not in their list
        assert api.get("/api/governance/approvals", headers=who.headers).json() == []
    assert api.get(f"/api/governance/approvals/{approval_id}", headers=dev.headers).json()["status"] == "pending"


def test_other_teams_requests_are_not_found(api, admin, approvals_on):
    dev = make_account(api, admin, "dev-a", new_team="team-a")
    other_ops = make_account(api, admin, "ops-b", "operator", new_team="team-b")
    other_dev = make_account(api, admin, "dev-b", team=other_ops.team)
    version, approval_id = _pending(api, dev)
    for who in (other_ops, other_dev):
        assert api.get("/api/governance/approvals", headers=who.headers).json() == []
        assert api.get(f"/api/governance/approvals/{approval_id}", headers=who.headers).status_code == 404
        for verb in ("approve", "reject", "cancel"):
            r = api.post(f"/api/governance/approvals/{approval_id}/{verb}", json={}, headers=who.headers)
            if who is other_dev and verb != "cancel":  # refused for lacking the permission, before any lookup
                assert r.status_code == 403 and r.json()["type"].endswith("permission_denied"), (verb, r.text)
            else:
                assert r.status_code == 404 and r.json()["type"].endswith("approval_not_found"), (verb, r.text)
        # asking ahead about a version of a model they cannot see: 404 as for a missing one
        r = api.post(
            "/api/governance/approvals", json={"kind": "promote", "version_id": version["id"]}, headers=who.headers
        )
        assert r.status_code == 404
    assert api.get(f"/api/governance/approvals/{approval_id}", headers=dev.headers).json()["status"] == "pending"


def test_an_approval_is_only_for_the_person_who_asked(api, admin, approvals_on):
    dev = make_account(api, admin, "asker", new_team="team-x")
    teammate = make_account(api, admin, "teammate", team=dev.team)
    ops = make_account(api, admin, "ops-x", "operator", dev.team)
    version, approval_id = _pending(api, dev)
    assert api.post(f"/api/governance/approvals/{approval_id}/approve", json={}, headers=ops.headers).is_success
    r = api.post(f"/api/model/version/{version['id']}/stage", json={"stage": "production"}, headers=teammate.headers)
    assert r.status_code == 409 and r.json()["approval_id"] != approval_id
    assert api.get(f"/api/governance/approvals/{approval_id}", headers=dev.headers).json()["status"] == "approved"
    # nor does `force` (the evaluation gate's override) skip it
    r = api.post(
        f"/api/model/version/{version['id']}/stage", json={"stage": "production", "force": True}, headers=admin
    )
    assert r.status_code == 409 and r.json()["type"].endswith("approval_required")


@pytest.mark.parametrize("route", ["../etc/passwd x", "<script>", "a b", ""])
def test_route_names_are_names(api, admin, route):
    dev = make_account(api, admin, "dev-r", new_team="team-r")
    r = api.post("/api/governance/approvals", json={"kind": "access", "route": route}, headers=dev.headers)
    assert r.status_code == 422
    assert api.get("/api/governance/approvals", headers=dev.headers).json() == []
