"""Access policies over real HTTP: rules refusing calls, downloads and deploys, and external transfer —
a prompt carrying personal data (or a no-external-transfer team's request) never reaches the external
provider while an internal target answers; with no internal target nothing is sent at all."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import make_account, make_key, register_model, upload_model
from tests.mocks import MockUpstream

RRN = "900101-1234568"


@pytest.fixture
def mocks():
    ext, internal = MockUpstream("EXT"), MockUpstream("INT")
    yield ext, internal
    for m in (ext, internal):
        if m.runner:
            asyncio.run_coroutine_threadsafe(m.runner.cleanup(), m.loop).result(10)


@pytest.fixture
def world(api, admin, mocks):
    ext, internal = mocks
    pe = api.post(
        "/api/gateway/providers", json={"name": "openai-like", "base_url": ext.url, "external": True}, headers=admin
    )
    assert pe.status_code == 201 and pe.json()["external"] is True, pe.text
    pi = api.post(
        "/api/gateway/providers", json={"name": "vllm-in", "base_url": internal.url, "external": False}, headers=admin
    )
    assert pi.status_code == 201 and pi.json()["external"] is False, pi.text
    pe, pi = pe.json(), pi.json()
    # the external target is preferred (priority 0); the internal one is the second choice
    mixed = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "hybrid",
            "targets": [
                {"provider_id": pe["id"], "model": "gpt-x", "priority": 0},
                {"provider_id": pi["id"], "model": "local-x", "priority": 1},
            ],
        },
        headers=admin,
    )
    assert mixed.status_code == 201, mixed.text
    only = api.post(
        "/api/gateway/routes",
        json={"model_name": "ext-only", "targets": [{"provider_id": pe["id"], "model": "gpt-x"}]},
        headers=admin,
    )
    assert only.status_code == 201, only.text
    dev = make_account(api, admin, "fin1", new_team="finance")
    key = make_key(api, dev.headers, "app")
    return {"dev": dev, "key": key, "ext": ext, "internal": internal, "providers": (pe, pi)}


def chat(api, key: str, model: str, text: str, **extra):
    return api.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        headers={"Authorization": f"Bearer {key}"},
    )


def sent(mock: MockUpstream) -> str:
    return repr(mock.requests)


def test_pii_and_no_external_teams_stay_inside(api, admin, world):
    ext, internal, key = world["ext"], world["internal"], world["key"]["key"]
    r = chat(api, key, "hybrid", "오늘 날씨 알려줘")
    assert r.status_code == 200, r.text
    assert r.headers["x-axops-upstream"] == "openai-like/gpt-x"  # plain requests go out as before
    before = len(ext.requests)

    r = chat(api, key, "hybrid", f"내 주민등록번호는 {RRN} 입니다. 요약해 줘")
    assert r.status_code == 200, r.text
    assert r.headers["x-axops-upstream"] == "vllm-in/local-x"
    assert "hello from INT" in r.json()["choices"][0]["message"]["content"]
    with api.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "hybrid", "stream": True, "messages": [{"role": "user", "content": f"RRN {RRN}"}]},
        headers={"Authorization": f"Bearer {key}"},
    ) as s:
        assert s.status_code == 200 and s.headers["x-axops-upstream"] == "vllm-in/local-x"
        s.read()
    assert len(ext.requests) == before and RRN not in sent(ext)
    assert RRN in sent(internal)

    # only an external target: refused, nothing sent
    r = chat(api, key, "ext-only", f"주민번호 {RRN}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "external_transfer_refused"
    assert RRN not in r.text
    assert len(ext.requests) == before

    # the finance team may not send anything out: takes effect on the next request, no restart
    team_id = world["dev"].team["id"]
    r = api.put("/api/policy/transfer", json={"team_id": team_id, "external": "forbidden"}, headers=admin)
    assert r.status_code == 200 and r.json()["team_name"] == "finance", r.text
    r = chat(api, key, "hybrid", "plain question")
    assert r.status_code == 200 and r.headers["x-axops-upstream"] == "vllm-in/local-x"
    r = chat(api, key, "ext-only", "plain question")
    assert r.status_code == 403 and r.json()["error"]["code"] == "external_transfer_refused"
    assert len(ext.requests) == before
    mine = api.get("/api/policy/mine", headers=world["dev"].headers).json()
    assert mine["external_transfer"] == "forbidden"

    # another team is unaffected
    other = make_account(api, admin, "mkt1", new_team="marketing")
    other_key = make_key(api, other.headers, "app")["key"]
    r = chat(api, other_key, "ext-only", "plain question")
    assert r.status_code == 200 and len(ext.requests) == before + 1

    # a single key can be held back too, and allowed again
    r = api.put(
        "/api/policy/transfer",
        json={"api_key_id": make_key(api, other.headers, "k2")["id"], "external": "forbidden"},
        headers=admin,
    )
    assert r.status_code == 200
    r = api.put("/api/policy/transfer", json={"team_id": team_id, "external": "allowed"}, headers=admin)
    assert r.status_code == 200
    assert chat(api, key, "ext-only", "plain question").status_code == 200

    # the provider's switch: marking the external one internal lets PII through it (the admin's call)
    pe = world["providers"][0]
    r = api.patch(f"/api/gateway/providers/{pe['id']}", json={"external": False}, headers=admin)
    assert r.status_code == 200 and r.json()["external"] is False
    assert chat(api, key, "ext-only", f"RRN {RRN}").status_code == 200

    events = api.get("/api/audit/logs", params={"action": "policy.transfer_set"}, headers=admin).json()["items"]
    assert {e["summary"]["external"] for e in events} >= {"forbidden", "allowed"}


def test_call_rules_apply_at_once_and_deny_wins(api, admin, world):
    key, dev = world["key"]["key"], world["dev"]
    team_id = dev.team["id"]
    assert chat(api, key, "hybrid", "hi").status_code == 200
    deny = api.post(
        "/api/policy/model-access",
        json={"subject_type": "team", "subject": team_id, "action": "call", "resource": "hybrid", "effect": "deny"},
        headers=admin,
    )
    assert deny.status_code == 201, deny.text
    assert deny.json()["subject_name"] == "finance"
    r = chat(api, key, "hybrid", "hi")
    assert r.status_code == 403 and r.json()["error"]["code"] == "policy_denied"
    listed = api.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert "hybrid" not in {m["id"] for m in listed} and "ext-only" in {m["id"] for m in listed}
    assert r.json()["error"]["type"] == "permission_error"
    # an allow rule for everyone does not beat the team's deny
    allow = api.post(
        "/api/policy/model-access",
        json={"subject_type": "everyone", "action": "call", "resource": "hybrid", "effect": "allow"},
        headers=admin,
    ).json()
    assert chat(api, key, "hybrid", "hi").status_code == 403
    # the developer sees what applies to them
    mine = api.get("/api/policy/model-access", headers=dev.headers).json()
    assert {r["id"] for r in mine} == {deny.json()["id"], allow["id"]}
    # allow-list: only the marketing team may call ext-only; finance is refused, admins still via wildcard none
    mkt = make_account(api, admin, "mkt2", new_team="marketing2")
    rule = api.post(
        "/api/policy/model-access",
        json={
            "subject_type": "team",
            "subject": mkt.team["id"],
            "action": "call",
            "resource": "ext-only",
            "effect": "allow",
        },
        headers=admin,
    ).json()
    assert chat(api, key, "ext-only", "hi").status_code == 403
    assert chat(api, make_key(api, mkt.headers, "m")["key"], "ext-only", "hi").status_code == 200
    # lift the deny: the next request passes
    assert api.delete(f"/api/policy/model-access/{deny.json()['id']}", headers=admin).status_code == 204
    assert chat(api, key, "hybrid", "hi").status_code == 200
    r = api.patch(f"/api/policy/model-access/{rule['id']}", json={"effect": "deny"}, headers=admin)
    assert r.status_code == 200 and r.json()["effect"] == "deny"
    audit = api.get("/api/audit/logs", params={"resource_id": rule["id"]}, headers=admin).json()["items"]
    assert {"policy.access_create", "policy.access_update"} <= {e["action"] for e in audit}


def test_download_and_deploy_rules(api, admin):
    dev = make_account(api, admin, "ml1", new_team="ml")
    model = register_model(api, dev.headers, "bert-ko")
    version = upload_model(api, dev.headers, model["id"], {"config.json": b"{}"}).json()
    # no rule: the existing checks decide (this version has no weights to serve)
    r = api.post("/api/serving/deploy", json={"version_id": version["id"]}, headers=dev.headers)
    assert r.status_code == 422, r.text
    r = api.get(f"/api/model/version/{version['id']}/download", headers=dev.headers)
    assert r.status_code == 200, r.text
    for action in ("deploy", "download"):
        r = api.post(
            "/api/policy/model-access",
            json={
                "subject_type": "role",
                "subject": "developer",
                "action": action,
                "resource": "bert-ko",
                "effect": "deny",
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
    r = api.post("/api/serving/deploy", json={"version_id": version["id"]}, headers=dev.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("/policy_denied"), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.get(f"/api/model/version/{version['id']}/download", headers=dev.headers)
    assert r.status_code == 403 and r.json()["type"].endswith("/policy_denied")
    assert r.json()["action"] == "download" and r.json()["resource"] == "bert-ko"
    # the admin is not a developer: still allowed
    assert api.get(f"/api/model/version/{version['id']}/download", headers=admin).status_code == 200


def test_semantic_cache_embeddings_do_not_carry_pii_out(api, admin, world):
    ext, key = world["ext"], world["key"]["key"]
    pe, pi = world["providers"]
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": "ext-embed", "targets": [{"provider_id": pe["id"], "model": "emb"}]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = api.post(
        "/api/gateway/routes",
        json={
            "model_name": "inside-cached",
            "targets": [{"provider_id": pi["id"], "model": "local-x"}],
            "semantic_cache": {"enabled": True, "embeddings_route": "ext-embed"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    before = len(ext.requests)
    r = chat(api, key, "inside-cached", "what is the weather like", temperature=0)
    assert r.status_code == 200 and len(ext.requests) == before + 1  # control: the prompt was embedded outside
    r = chat(api, key, "inside-cached", f"my RRN is {RRN}", temperature=0)
    assert r.status_code == 200 and r.headers["x-axops-upstream"] == "vllm-in/local-x"
    assert len(ext.requests) == before + 1 and RRN not in sent(ext)
