"""Guard models see the unmasked prompt, so their route must not become a way out: a moderation or
classifier route whose target is an external provider receives no text carrying personal data (nor
anything from a team that may not send data out); the request then follows the policy's
`on_model_error`. A developer cannot point a policy at a guard route (policies need policies:admin)."""

from __future__ import annotations

from tests.factories import make_account, make_key, make_team
from tests.integration.test_guardrail_models import (  # noqa: F401 (fixtures)
    guard,
    no_policy_outlives_its_test,
    upstream,
)
from tests.integration.test_guardrails import chat, internal_route, policy

RRN = "900101-1234568"


def test_an_external_guard_route_never_gets_personal_data(api, admin, upstream, guard, live_server):  # noqa: F811
    internal_route(api, admin, upstream.url)
    provider = api.post(
        "/api/gateway/providers", json={"name": "cloud-mod", "base_url": guard.url, "external": True}, headers=admin
    )
    assert provider.status_code == 201, provider.text
    target = {"provider_id": provider.json()["id"], "model": "omni-moderation"}
    assert api.post("/api/gateway/routes", json={"model_name": "guard", "targets": [target]}, headers=admin).is_success
    team = make_team(api, admin, "alpha")
    dev = make_account(api, admin, "dev-a", team=team)
    key = make_key(api, dev.headers, "a", team_id=team["id"])["key"]
    checks = {"harmful": {"moderation_route": "guard", "on_model_error": "block"}}
    policy(api, admin, name="cloud-moderated", direction="input", checks=checks)

    assert chat(live_server, key, "a friendly greeting").status_code == 200  # no PII: the cloud may see it
    assert len(guard.requests) == 1
    r = chat(live_server, key, f"내 주민등록번호는 {RRN}")  # the Korean rule does not apply: no pii check
    assert r.status_code == 503 and r.json()["error"]["code"] == "guardrail_unavailable"
    assert RRN not in repr(guard.requests) and len(guard.requests) == 1
    assert RRN not in repr(upstream.requests)

    # a team that may not send data out: nothing reaches the external guard at all
    assert api.put(
        "/api/policy/transfer", json={"team_id": team["id"], "external": "forbidden"}, headers=admin
    ).is_success
    assert chat(live_server, key, "another greeting").status_code == 503
    assert len(guard.requests) == 1


def test_developers_cannot_attach_guard_routes(api, admin):
    dev = make_account(api, admin, "dev-b", new_team="beta")
    body = {"name": "x", "scope": "global", "checks": {"injection": {"classifier_route": "anything"}}}
    assert api.post("/api/guardrails/policies", json=body, headers=dev.headers).status_code == 403
