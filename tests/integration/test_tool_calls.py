"""A tool's recent calls (`GET /api/tool/tools/{id}/calls`): newest first, paged, scoped to the tool's team."""

from __future__ import annotations

from tests.factories import make_account
from tests.integration.test_tools import _import, shop  # noqa: F401  (the fixture)


def test_recent_calls_newest_first_paged_and_scoped(api, admin, shop):  # noqa: F811
    dev = make_account(api, admin, "callsdev", "developer", new_team="calls-team").headers
    other = make_account(api, admin, "callsother", "developer", new_team="calls-other").headers
    tool = _import(api, dev, shop)["getItem"]
    url = f"/api/tool/tools/{tool['id']}/calls"
    assert api.get(url, headers=dev).json() == {"items": [], "next_cursor": None}

    ok = api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"item_id": "1"}}, headers=dev)
    assert ok.json()["ok"] is True, ok.text
    bad = api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"item_id": 5}}, headers=dev)
    assert bad.json()["error_kind"] == "invalid_arguments", bad.text
    api.post(f"/api/tool/tools/{tool['id']}/test", json={"arguments": {"item_id": "2"}}, headers=dev)

    first = api.get(url, params={"limit": 2}, headers=dev).json()
    assert [c["status"] for c in first["items"]] == ["ok", "error"]
    newest, failed = first["items"]
    assert failed["error_kind"] == "invalid_arguments" and newest["error_kind"] is None
    assert newest["caller_name"] == "callsdev" and newest["agent_run_id"] is None and newest["version"] == 1
    assert newest["latency_ms"] >= 0 and newest["created_at"] >= failed["created_at"]
    rest = api.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=dev).json()
    assert [c["status"] for c in rest["items"]] == ["ok"] and rest["next_cursor"] is None
    assert {c["id"] for c in rest["items"]}.isdisjoint(c["id"] for c in first["items"])

    r = api.get(url, headers=other)
    assert r.status_code == 404 and r.json()["type"].endswith("tool_not_found")
    assert api.get(url, params={"cursor": "nonsense!"}, headers=dev).status_code == 422
