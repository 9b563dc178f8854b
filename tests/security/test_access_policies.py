"""Access policies: what they must refuse — edits by non-admins, rules that lock every admin out,
malformed rules, other subjects' rules read by a developer, and PII leaking to an external provider
through other request shapes (completions, embeddings, content parts)."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import make_account, make_key
from tests.mocks import MockUpstream

URL = "/api/policy/model-access"


def rule(**fields) -> dict:
    return {"subject_type": "everyone", "action": "call", "resource": "*", "effect": "deny", **fields}


def test_developers_cannot_change_policies(api, admin):
    dev = make_account(api, admin, "sec-dev", new_team="sec-team")
    r = api.post(URL, json=rule(resource="x"), headers=dev.headers)
    assert r.status_code == 403
    made = api.post(URL, json=rule(resource="x", subject_type="role", subject="viewer"), headers=admin)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    assert api.patch(f"{URL}/{rid}", json={"effect": "allow"}, headers=dev.headers).status_code == 403
    assert api.delete(f"{URL}/{rid}", headers=dev.headers).status_code == 403
    r = api.put("/api/policy/transfer", json={"team_id": dev.team["id"], "external": "allowed"}, headers=dev.headers)
    assert r.status_code == 403
    # a rule for viewers does not apply to the developer: invisible, like a missing one
    assert api.get(f"{URL}/{rid}", headers=dev.headers).status_code == 404
    assert api.get(URL, headers=dev.headers).json() == []
    assert api.get(f"{URL}/{rid}", headers=admin).status_code == 200
    events = api.get("/api/audit/logs", params={"resource_id": rid}, headers=admin).json()["items"]
    assert [e["action"] for e in events] == ["policy.access_create"]


@pytest.mark.parametrize(
    "body",
    [
        rule(subject_type="role", subject="admin"),  # deny admins every call
        rule(),  # deny everyone every call
        rule(action="deploy"),
        rule(effect="allow", subject_type="role", subject="developer", action="download"),  # allow-list without admins
    ],
)
def test_lockout_is_refused(api, admin, body):
    r = api.post(URL, json=body, headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("/policy_lockout"), r.text
    assert api.get(URL, headers=admin).json() == []  # nothing half-written


def test_lockout_through_update_and_delete(api, admin):
    # an allow-list on `*` naming developers and admins is fine ...
    a = api.post(URL, json=rule(effect="allow", subject_type="role", subject="admin"), headers=admin).json()
    api.post(URL, json=rule(effect="allow", subject_type="role", subject="developer"), headers=admin)
    # ... but removing the admins' entry or turning it into a deny would lock them out
    r = api.delete(f"{URL}/{a['id']}", headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("/policy_lockout")
    r = api.patch(f"{URL}/{a['id']}", json={"subject": "viewer"}, headers=admin)
    assert r.status_code == 422 and r.json()["type"].endswith("/policy_lockout")
    assert api.get(f"{URL}/{a['id']}", headers=admin).json()["subject"] == "admin"


@pytest.mark.parametrize(
    "body",
    [
        rule(subject_type="team", subject="not-a-uuid"),
        rule(subject_type="team", subject="00000000-0000-0000-0000-000000000000"),  # no such team
        rule(subject_type="role", subject="root"),
        rule(subject="someone"),  # everyone takes no subject
        rule(action="delete"),
        rule(effect="maybe"),
        rule(resource="../../etc/passwd x"),
        rule(resource=""),
        rule(resource="a" * 201),
        {**rule(), "extra": 1},
    ],
)
def test_malformed_rules_are_refused(api, admin, body):
    r = api.post(URL, json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert api.get(URL, headers=admin).json() == []


def test_transfer_setting_needs_exactly_one_existing_subject(api, admin):
    team = make_account(api, admin, "sec-t", new_team="sec-t").team
    key = make_key(api, admin, "k")
    for body in (
        {"external": "forbidden"},
        {"team_id": team["id"], "api_key_id": key["id"], "external": "forbidden"},
        {"team_id": team["id"], "external": "sometimes"},
        {"team_id": "00000000-0000-0000-0000-000000000000", "external": "forbidden"},
    ):
        assert api.put("/api/policy/transfer", json=body, headers=admin).status_code == 422, body


@pytest.fixture
def external_only(api, admin):
    mock = MockUpstream("EXT")
    p = api.post("/api/gateway/providers", json={"name": "ext", "base_url": mock.url}, headers=admin).json()
    assert p["external"] is False  # unmarked: a loopback address is internal ...
    r = api.patch(f"/api/gateway/providers/{p['id']}", json={"external": True}, headers=admin)
    assert r.status_code == 200 and r.json()["external"] is True  # ... until the admin says otherwise
    public = api.post(
        "/api/gateway/providers", json={"name": "pub", "base_url": "https://api.openai.com/v1"}, headers=admin
    )
    assert public.json()["external"] is True
    for name in ("ext-chat", "ext-embed"):
        r = api.post(
            "/api/gateway/routes",
            json={"model_name": name, "targets": [{"provider_id": p["id"], "model": "m"}]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    yield mock
    asyncio.run_coroutine_threadsafe(mock.runner.cleanup(), mock.loop).result(10)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"model": "ext-chat", "prompt": ["hi", "card 4111-1111-1111-1111"]}),
        ("/v1/embeddings", {"model": "ext-embed", "input": "주민번호 900101-1234568"}),
        (
            "/v1/chat/completions",
            {
                "model": "ext-chat",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "전화 010-1234-5678로 연락"}]}],
            },
        ),
        (
            "/v1/chat/completions",
            {"model": "ext-chat", "messages": [{"role": "system", "content": "mail kim@example.co.kr"}]},
        ),
    ],
)
def test_pii_never_reaches_an_external_provider(api, admin, external_only, path, body):
    key = make_key(api, admin, "pii")["key"]
    r = api.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "external_transfer_refused", r.text
    assert external_only.requests == []
    for secret in ("4111", "900101", "010-1234", "kim@"):
        assert secret not in r.text  # the refusal never echoes the prompt


def test_control_a_plain_prompt_does_reach_the_external_provider(api, admin, external_only):
    key = make_key(api, admin, "plain")["key"]
    body = {"model": "ext-chat", "messages": [{"role": "user", "content": "오늘 회의 요약해 줘"}]}
    r = api.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert len(external_only.requests) == 1


def test_updates_are_checked_like_new_rules(api, admin):
    team = make_account(api, admin, "sec-u", new_team="sec-u").team
    r = api.post(URL, json=rule(subject_type="team", subject=team["id"], resource="m1"), headers=admin).json()
    for bad in ({"subject_type": "role"}, {"subject": "not-a-uuid"}, {"resource": "a b"}, {"action": "steal"}):
        assert api.patch(f"{URL}/{r['id']}", json=bad, headers=admin).status_code == 422, bad
    # to everyone: the team id is dropped, not kept as a stale subject
    done = api.patch(f"{URL}/{r['id']}", json={"subject_type": "everyone", "subject": None}, headers=admin)
    assert done.status_code == 200 and done.json()["subject"] == "", done.text
    assert api.patch(f"{URL}/00000000-0000-0000-0000-000000000000", json={}, headers=admin).status_code == 404
