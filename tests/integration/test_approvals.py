"""Approvals over HTTP: a production promotion without an approval is refused (409 approval_required) and
leaves a pending request; the requester cannot approve it themselves, an Operator of the team can; the
retry passes and uses the approval up. A rejection keeps the stage; deploying a production version needs
its own approval; an access request, approved, is a grant the team holds. Every step is audited."""

from __future__ import annotations

import struct

import pytest

from tests.factories import make_account, register_model, upload_model


@pytest.fixture
def approvals_on(settings):
    """The suite runs with approvals off (other domains promote freely); these tests switch them on."""
    settings.approvals_required = True
    yield
    settings.approvals_required = False


def _version(api, headers, model_id: str, files=None) -> dict:
    r = upload_model(api, headers, model_id, files or {"config.json": b'{"model_type": "gpt2"}'})
    assert r.status_code == 201, r.text
    return r.json()


def _promote(api, headers, version_id: str):
    return api.post(f"/api/model/version/{version_id}/stage", json={"stage": "production"}, headers=headers)


def _actions(api, admin) -> list[str]:
    items = api.get("/api/audit/logs", params={"resource_type": "approval", "limit": 200}, headers=admin).json()
    return [e["action"] for e in items["items"]]


def test_promotion_needs_another_persons_approval(api, admin, approvals_on):
    dev = make_account(api, admin, "dev-a", new_team="모델팀")
    ops = make_account(api, admin, "ops-a", "operator", dev.team)
    model = register_model(api, dev.headers, "요약-모델")
    v1 = _version(api, dev.headers, model["id"])

    r = _promote(api, dev.headers, v1["id"])
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("approval_required") and problem["approval_status"] == "pending"
    assert api.get(f"/api/model/{model['id']}/versions", headers=dev.headers).json()[0]["stage"] == "draft"
    # a second refusal reuses the open request
    again = _promote(api, dev.headers, v1["id"]).json()
    assert again["approval_id"] == problem["approval_id"]
    mine = api.get("/api/governance/approvals", headers=dev.headers).json()
    assert [(a["id"], a["kind"], a["status"], a["target_name"], a["version"]) for a in mine] == [
        (problem["approval_id"], "promote", "pending", "요약-모델", 1)
    ]
    assert mine[0]["requested_by_name"] == "dev-a" and mine[0]["can_decide"] is False

    # the operator's inbox shows it, decidable
    inbox = api.get("/api/governance/approvals", headers=ops.headers).json()
    assert [a["id"] for a in inbox] == [problem["approval_id"]] and inbox[0]["can_decide"] is True
    r = api.post(
        f"/api/governance/approvals/{problem['approval_id']}/approve",
        json={"comment": "평가 통과 확인"},
        headers=ops.headers,
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "approved" and decided["decided_by_name"] == "ops-a"
    assert decided["comment"] == "평가 통과 확인" and decided["expires_at"]
    # decided once only
    r = api.post(f"/api/governance/approvals/{problem['approval_id']}/reject", json={}, headers=ops.headers)
    assert r.status_code == 409 and r.json()["type"].endswith("approval_not_pending")

    r = _promote(api, dev.headers, v1["id"])
    assert r.status_code == 200 and r.json()["stage"] == "production", r.text
    assert (
        api.get(f"/api/governance/approvals/{problem['approval_id']}", headers=dev.headers).json()["status"] == "used"
    )
    # used up: the next version needs its own approval, and so does moving v1 back after leaving production
    v2 = _version(api, dev.headers, model["id"])
    assert _promote(api, dev.headers, v2["id"]).status_code == 409
    assert api.post(f"/api/model/version/{v1['id']}/stage", json={"stage": "staging"}, headers=dev.headers).is_success
    assert _promote(api, dev.headers, v1["id"]).json()["type"].endswith("approval_required")
    assert _actions(api, admin).count("approval.request") == 3
    assert {"approval.request", "approval.approve", "approval.use"} <= set(_actions(api, admin))


def test_switched_off_promotions_need_no_approval(api, admin):
    dev = make_account(api, admin, "dev-off", new_team="team-off")
    model = register_model(api, dev.headers, "free")
    v1 = _version(api, dev.headers, model["id"])
    assert _promote(api, dev.headers, v1["id"]).json()["stage"] == "production"
    assert api.get("/api/governance/approvals", headers=dev.headers).json() == []


def test_reject_and_cancel(api, admin, approvals_on):
    dev = make_account(api, admin, "dev-r", new_team="team-r")
    ops = make_account(api, admin, "ops-r", "operator", dev.team)
    model = register_model(api, dev.headers, "m")
    v1 = _version(api, dev.headers, model["id"])
    approval_id = _promote(api, dev.headers, v1["id"]).json()["approval_id"]
    r = api.post(f"/api/governance/approvals/{approval_id}/reject", json={"comment": "품질 미달"}, headers=ops.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    # refused still, with a fresh request for the next decision
    r = _promote(api, dev.headers, v1["id"])
    assert r.status_code == 409 and r.json()["approval_id"] != approval_id
    # the requester withdraws it; an operator cannot cancel someone else's request
    second = r.json()["approval_id"]
    r = api.post(f"/api/governance/approvals/{second}/cancel", headers=ops.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("approval_not_requester")
    r = api.post(f"/api/governance/approvals/{second}/cancel", headers=dev.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    actions = _actions(api, admin)
    assert {"approval.reject", "approval.cancel"} <= set(actions)


def test_explicit_request_ahead_then_promote(api, admin, approvals_on):
    dev = make_account(api, admin, "dev-e", new_team="team-e")
    model = register_model(api, dev.headers, "ahead")
    v1 = _version(api, dev.headers, model["id"])
    r = api.post(
        "/api/governance/approvals",
        json={"kind": "promote", "version_id": v1["id"], "reason": "고객 A 요구로 금주 배포"},
        headers=dev.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["reason"] == "고객 A 요구로 금주 배포"
    dup = api.post("/api/governance/approvals", json={"kind": "promote", "version_id": v1["id"]}, headers=dev.headers)
    assert dup.status_code == 409 and dup.json()["type"].endswith("approval_already_requested")
    # the refused promotion points at the same request
    assert _promote(api, dev.headers, v1["id"]).json()["approval_id"] == r.json()["id"]
    # an admin decides (any team)
    ok = api.post(f"/api/governance/approvals/{r.json()['id']}/approve", json={}, headers=admin)
    assert ok.status_code == 200, ok.text
    assert _promote(api, dev.headers, v1["id"]).json()["stage"] == "production"


def test_deploying_a_production_version_needs_approval(api, admin, settings):
    dev = make_account(api, admin, "dev-d", new_team="team-d")
    ops = make_account(api, admin, "ops-d", "operator", dev.team)
    model = register_model(api, dev.headers, "served")
    header = b'{"__metadata__":{}}    '  # a valid safetensors file holding no tensors
    files = {"config.json": b'{"model_type": "gpt2"}', "model.safetensors": struct.pack("<Q", len(header)) + header}
    v1 = _version(api, dev.headers, model["id"], files)
    assert _promote(api, dev.headers, v1["id"]).status_code == 200  # approvals still off
    settings.approvals_required = True
    try:
        # memory far too small: once the approval check passes, the deploy stops at the memory check (422)
        body = {"version_id": v1["id"], "resources": {"memory_gb": 0.01}}
        r = api.post("/api/serving/deploy", json=body, headers=dev.headers)
        assert r.status_code == 409 and r.json()["kind"] == "deploy", r.text
        approval_id = r.json()["approval_id"]
        assert api.post(f"/api/governance/approvals/{approval_id}/approve", json={}, headers=ops.headers).is_success
        r = api.post("/api/serving/deploy", json=body, headers=dev.headers)
        assert r.status_code == 422 and r.json()["type"].endswith("replica_memory_too_small"), r.text
        # the failed deploy rolled back, so the approval is still there to use
        assert api.get(f"/api/governance/approvals/{approval_id}", headers=dev.headers).json()["status"] == "approved"
        # a staging version deploys with no approval (it reaches the same memory check)
        v2 = _version(api, dev.headers, model["id"], files)
        r = api.post("/api/serving/deploy", json={**body, "version_id": v2["id"]}, headers=dev.headers)
        assert r.json()["type"].endswith("replica_memory_too_small")
    finally:
        settings.approvals_required = False


def test_access_request_approved_is_a_grant(api, admin, approvals_on):
    owner = make_account(api, admin, "owner", new_team="owners")
    ops = make_account(api, admin, "ops-o", "operator", owner.team)
    asker = make_account(api, admin, "asker", new_team="askers")
    model = register_model(api, owner.headers, "공유모델", visibility="organization")
    # downloads of the model are an allow-list: the owners only
    rule = {"subject_type": "team", "subject": owner.team["id"], "action": "download", "resource": "공유모델"}
    assert api.post("/api/policy/model-access", json={**rule, "effect": "allow"}, headers=admin).status_code == 201
    r = api.post(
        "/api/governance/approvals",
        json={"kind": "access", "model_id": model["id"], "action": "download", "reason": "평가용"},
        headers=asker.headers,
    )
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["requester_team_id"] == asker.team["id"] and req["team_id"] == owner.team["id"]
    # the owning team's operator decides; the access lasts (no expiry)
    inbox = api.get("/api/governance/approvals", params={"status": "pending"}, headers=ops.headers).json()
    assert [a["id"] for a in inbox] == [req["id"]]
    ok = api.post(f"/api/governance/approvals/{req['id']}/approve", json={"comment": "ok"}, headers=ops.headers).json()
    assert ok["status"] == "approved" and ok["expires_at"] is None
    rules = api.get("/api/policy/model-access", headers=admin).json()
    granted = [r for r in rules if r["subject"] == asker.team["id"]]
    assert [(r["action"], r["resource"], r["effect"]) for r in granted] == [("download", "공유모델", "allow")]
    # a second approval cannot be decided again, and the grant is not repeated
    assert api.post(f"/api/governance/approvals/{req['id']}/approve", json={}, headers=ops.headers).status_code == 409
    # a route by name (it need not be visible to the asker)
    r = api.post("/api/governance/approvals", json={"kind": "access", "route": "chat-ko"}, headers=asker.headers)
    assert r.status_code == 201 and r.json()["target_type"] == "route" and r.json()["action"] == "call"
    # approved with no allow-list on the route: the team may call it already, so no rule is added
    assert api.post(f"/api/governance/approvals/{r.json()['id']}/approve", json={}, headers=admin).is_success
    assert len(api.get("/api/policy/model-access", headers=admin).json()) == 2
    approves = api.get("/api/audit/logs", params={"action": "approval.approve"}, headers=admin).json()["items"]
    assert sorted(bool(e["summary"].get("access_policy_id")) for e in approves) == [False, True]
