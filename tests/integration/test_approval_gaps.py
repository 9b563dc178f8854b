"""The approvals issue 18 added: promoting a canary of a production version to all the traffic and
raising a production deployment's max replicas need another person's approval, like its deployment;
a new request notifies the team's alert channels; the inbox count for the menu's badge."""

from __future__ import annotations

import asyncio
import json
import struct
import uuid

import pytest

from axops.monitoring import delivery
from axops.serving.models import Deployment
from tests.factories import make_account, register_model, upload_model
from tests.mocks import Receiver

HEADER = b'{"__metadata__":{}}    '  # a valid safetensors file holding no tensors
FILES = {"config.json": b'{"model_type": "gpt2"}', "model.safetensors": struct.pack("<Q", len(HEADER)) + HEADER}


@pytest.fixture
def loopback(settings, monkeypatch):
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")


@pytest.fixture
def team(api, admin, settings):
    dev = make_account(api, admin, "dev-g", new_team="serving-team")
    ops = make_account(api, admin, "ops-g", "operator", dev.team)
    model = register_model(api, dev.headers, "served")
    versions = []
    for _ in range(2):
        r = upload_model(api, dev.headers, model["id"], FILES)
        assert r.status_code == 201, r.text
        versions.append(r.json())
    prod = api.post(f"/api/model/version/{versions[1]['id']}/stage", json={"stage": "production"}, headers=dev.headers)
    assert prod.status_code == 200, prod.text
    settings.approvals_required = True
    yield {"dev": dev, "ops": ops, "model": model, "versions": versions}
    settings.approvals_required = False


def insert(live_server, **fields) -> str:
    """A deployment written straight to the table, on a cluster this installation does not drive (no replica starts)."""
    state = live_server.app.state.axops
    d = Deployment(executor="kubernetes", status="ready", **fields)

    async def run() -> None:
        async with state.db.sessionmaker() as session:
            session.add(d)
            await session.commit()

    asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(30)
    return str(d.id)


def approve(api, ops, approval_id: str) -> None:
    r = api.post(f"/api/governance/approvals/{approval_id}/approve", json={"comment": "ok"}, headers=ops.headers)
    assert r.status_code == 200, r.text


def test_scaling_a_production_deployment_up_needs_approval(api, admin, team, live_server):
    dev, ops, model, (staging, prod) = team["dev"], team["ops"], team["model"], team["versions"]
    common = {"team_id": uuid.UUID(dev.team["id"]), "model_id": uuid.UUID(model["id"])}
    deployed = insert(live_server, name="served", version_id=uuid.UUID(prod["id"]), replicas_max=2, **common)
    url = f"/api/serving/deployments/{deployed}/scale"

    assert api.get("/api/governance/approvals/inbox-count", headers=ops.headers).json() == {"pending": 0}
    r = api.post(url, json={"replicas_min": 1, "replicas_max": 6}, headers=dev.headers)
    assert r.status_code == 409 and r.json()["kind"] == "scale", r.text
    approval_id = r.json()["approval_id"]
    assert "served" in r.json()["detail"] and "6" in r.json()["detail"]
    listed = api.get(f"/api/governance/approvals/{approval_id}", headers=ops.headers).json()
    assert (listed["target_type"], listed["target_id"], listed["action"]) == ("deployment", deployed, "6")
    assert api.get("/api/governance/approvals/inbox-count", headers=ops.headers).json() == {"pending": 1}
    assert api.get("/api/governance/approvals/inbox-count", headers=dev.headers).json() == {"pending": 0}  # own
    # nothing changed; scaling down or keeping the max needs no approval
    r = api.post(url, json={"replicas_min": 1, "replicas_max": 1}, headers=dev.headers)
    assert r.status_code == 200 and r.json()["replicas_max"] == 1, r.text
    r = api.post(url, json={"replicas_min": 1, "replicas_max": 2}, headers=dev.headers)
    assert r.status_code == 409  # 1 → 2 is up again: its own request

    approve(api, ops, approval_id)
    r = api.post(url, json={"replicas_min": 2, "replicas_max": 7}, headers=dev.headers)
    assert r.status_code == 409  # approved for 6, not 7
    r = api.post(url, json={"replicas_min": 2, "replicas_max": 6}, headers=dev.headers)
    assert r.status_code == 200 and r.json()["replicas_max"] == 6, r.text
    assert api.get(f"/api/governance/approvals/{approval_id}", headers=dev.headers).json()["status"] == "used"

    # a deployment of a version not in production scales freely
    other = insert(live_server, name="served-staging", version_id=uuid.UUID(staging["id"]), **common)
    r = api.post(
        f"/api/serving/deployments/{other}/scale", json={"replicas_min": 1, "replicas_max": 5}, headers=dev.headers
    )
    assert r.status_code == 200, r.text


def test_canary_promotion_needs_approval_and_requests_notify_the_team(api, admin, team, live_server, loopback):
    dev, ops, model, (_, prod) = team["dev"], team["ops"], team["model"], team["versions"]
    hook = Receiver()
    try:
        r = api.post(
            "/api/alerts/channels",
            json={"name": "승인", "kind": "webhook", "config": {"url": f"{hook.url}/approvals"}},
            headers=ops.headers,
        )
        assert r.status_code == 201, r.text
        common = {"team_id": uuid.UUID(dev.team["id"]), "model_id": uuid.UUID(model["id"])}
        stable = insert(live_server, name="served", version_id=uuid.UUID(prod["id"]), **common)
        canary = insert(
            live_server,
            name="served-canary",
            version_id=uuid.UUID(prod["id"]),
            canary_of=uuid.UUID(stable),
            canary_weight=10,
            **common,
        )
        r = api.post(f"/api/serving/deployments/{canary}/promote", headers=dev.headers)
        assert r.status_code == 409 and r.json()["kind"] == "canary", r.text
        approval_id = r.json()["approval_id"]
        assert api.get(f"/api/serving/deployments/{stable}", headers=dev.headers).json()["status"] == "ready"

        db = live_server.app.state.axops.db
        asyncio.run_coroutine_threadsafe(delivery.dispatch(db), live_server.server_loop).result(30)
        assert hook.received.wait(30), "the deciders' channel got nothing"
        sent = json.loads(hook.requests[-1]["body"])
        assert sent["rule_name"] == "approval: canary" and "served-canary" in json.dumps(sent)
        assert "dev-g" in json.dumps(sent)

        # another team's operator neither sees it nor counts it
        other = make_account(api, admin, "ops-x", "operator", new_team="other-team")
        assert api.get("/api/governance/approvals/inbox-count", headers=other.headers).json() == {"pending": 0}
        assert api.get("/api/governance/approvals/inbox-count", headers=admin).json() == {"pending": 1}

        approve(api, ops, approval_id)
        assert api.get("/api/governance/approvals/inbox-count", headers=ops.headers).json() == {"pending": 0}
        r = api.post(f"/api/serving/deployments/{canary}/promote", headers=dev.headers)
        assert r.status_code == 200 and r.json()["name"] == "served", r.text
        assert api.get(f"/api/governance/approvals/{approval_id}", headers=dev.headers).json()["status"] == "used"
    finally:
        hook.close()
