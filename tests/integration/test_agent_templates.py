"""Agent templates over HTTP: the built-in gallery, one-click installs against a scripted upstream
through the real gateway, Python tools reading a real uploaded dataset version in the sandbox (DuckDB),
and templates shared across teams."""

from __future__ import annotations

import json

import pytest

from tests.factories import make_account, make_route, run_tasks, upload_dataset
from tests.mocks import MockUpstream

SCOPES = ["gateway:invoke", "agents:read", "agents:write", "tools:read", "tools:write"]
TICKETS = (
    "id,subject,body,category\n"
    "1,Refund please,I was charged twice for my order,billing\n"
    "2,Login fails,Password reset email never arrives,account\n"
    "3,Charged twice,Double charge on my card this month,billing\n"
    "4,App crashes,The app crashes when I open settings,bug\n"
    "5,환불 요청,결제가 두 번 되었습니다,billing\n"
    "6,Cannot log in,Two-factor code rejected on login,account\n"
)


@pytest.fixture(scope="module")
def upstream():
    return MockUpstream("templates-up")


@pytest.fixture
def lab(api, admin, upstream):
    upstream.script, upstream.scripted = None, 0
    upstream.requests.clear()
    make_route(api, admin, "tpl-model", upstream.url)
    return {
        "a": make_account(api, admin, "tpla", new_team="tpl-a", key_scopes=SCOPES),
        "b": make_account(api, admin, "tplb", new_team="tpl-b", key_scopes=SCOPES),
    }


def tickets_version(api, headers, live_server, name="tickets") -> str:
    r = upload_dataset(api, headers, TICKETS.encode(), "tickets.csv", name=name)
    assert r.status_code == 201, r.text
    run_tasks(live_server)
    return r.json()["id"]


def install(api, headers, template_id, **body):
    return api.post(f"/api/agent/templates/{template_id}/install", json={"route": "tpl-model", **body}, headers=headers)


def test_tool(api, headers, tool_id, **arguments) -> dict:
    r = api.post(f"/api/tool/tools/{tool_id}/test", json={"arguments": arguments}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


test_tool.__test__ = False  # a helper, not a test


def run_agent(api, headers, agent_id, text) -> dict:
    r = api.post(f"/api/agent/agents/{agent_id}/runs", json={"input": text}, headers=headers, timeout=90)
    assert r.status_code == 201, r.text
    return r.json()


def test_gallery_lists_the_built_ins_in_both_languages(api, lab):
    r = api.get("/api/agent/templates", headers=lab["a"].headers)
    assert r.status_code == 200, r.text
    page = r.json()
    by_id = {t["id"]: t for t in page["items"]}
    assert {"ko-summariser", "ticket-triage", "sql-analyst"} <= set(by_id)
    ko = by_id["ko-summariser"]
    assert ko["builtin"] and ko["translations"]["ko"]["name"] == "한국어 문서 요약"
    assert "한국어" in ko["system_prompt"] and ko["needs_dataset"] is False
    assert [t["name"] for t in ko["tools"]] == ["split_text"]
    assert by_id["sql-analyst"]["needs_dataset"] and by_id["ticket-triage"]["needs_dataset"]
    assert [t["id"] for t in api.get("/api/agent/templates?tag=duckdb", headers=lab["a"].headers).json()["items"]] == [
        "sql-analyst"
    ]
    assert api.get("/api/agent/templates/nope", headers=lab["a"].headers).status_code == 404


def test_korean_summariser_installs_and_runs_its_sandboxed_splitter(api, admin, lab, upstream):
    a = lab["a"]
    r = install(api, a.headers, "ko-summariser")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["agent_name"] == "ko-summariser" and [t["name"] for t in out["tools"]] == ["split_text"]
    agent = api.get(f"/api/agent/agents/{out['agent_id']}", headers=a.headers).json()
    assert agent["team_id"] == a.team["id"] and agent["current"]["route"] == "tpl-model"
    assert agent["current"]["limits"]["max_steps"] == 8

    text = "첫 번째 문장입니다. 두 번째 문장이에요! 세 번째는 질문인가요? " * 40
    upstream.script = [
        {"tool_calls": [{"name": "split_text", "arguments": {"text": text, "max_chars": 300}}]},
        {"content": "- 요약: 세 문장이 반복됩니다."},
    ]
    run = run_agent(api, a.headers, out["agent_id"], "이 문서를 요약해 주세요.")
    assert run["status"] == "succeeded", run
    assert run["output"] == "- 요약: 세 문장이 반복됩니다."
    assert upstream.requests[-2]["messages"][0]["content"].startswith("당신은 한국어 문서 요약 도우미")
    (tool_message,) = [m for m in upstream.requests[-1]["messages"] if m["role"] == "tool"]
    result = json.loads(tool_message["content"])
    assert result["sentences"] == 120
    assert all(len(c) <= 300 for c in result["chunks"]) and result["count"] == len(result["chunks"]) > 1
    assert " ".join(result["chunks"]) == " ".join(text.split())

    # the same template again: the agent name is taken (409 with a free one), the tools get a suffix
    r = install(api, a.headers, "ko-summariser")
    assert r.status_code == 409 and r.json()["suggestion"] == "ko-summariser-2"
    r = install(api, a.headers, "ko-summariser", name="ko-summariser-2", language="ko")
    assert r.status_code == 201, r.text
    assert [t["name"] for t in r.json()["tools"]] == ["split_text_2"]
    # the agent's description in the installer's language (a built-in carries both), English by default
    assert agent["description"].startswith("Reads a long Korean document")
    second = api.get(f"/api/agent/agents/{r.json()['agent_id']}", headers=a.headers).json()
    assert second["description"].startswith("긴 한국어 문서를")
    assert install(api, a.headers, "ko-summariser", name="x-3", language="korean").status_code == 422
    assert api.get("/api/agent/templates/ko-summariser", headers=a.headers).json()["install_count"] == 2
    events = api.get("/api/audit/logs", params={"action": "agent_template.install"}, headers=admin).json()["items"]
    assert len(events) == 2 and {e["summary"]["name"] for e in events} == {"ko-summariser", "ko-summariser-2"}


def test_sql_analyst_queries_an_uploaded_csv_with_duckdb_in_the_sandbox(api, admin, lab, upstream, live_server):
    a = lab["a"]
    assert install(api, a.headers, "sql-analyst").json()["type"].endswith("/agent_template_dataset_required")
    version_id = tickets_version(api, a.headers, live_server)
    r = install(api, a.headers, "sql-analyst", dataset_version_id=version_id)
    assert r.status_code == 201, r.text
    (tool,) = r.json()["tools"]

    out = test_tool(
        api,
        a.headers,
        tool["id"],
        query="SELECT category, count(*) AS n FROM data GROUP BY category ORDER BY n DESC, category",
    )
    assert out["ok"], out
    assert out["output"] == {
        "columns": ["category", "n"],
        "rows": [["billing", 3], ["account", 2], ["bug", 1]],
        "truncated": False,
    }
    capped = test_tool(api, a.headers, tool["id"], query="SELECT id FROM data ORDER BY id", max_rows=2)["output"]
    assert capped == {"columns": ["id"], "rows": [[1], [2]], "truncated": True}
    # the query reads the table only: no file of the sandbox, no changing that setting back
    escape = test_tool(api, a.headers, tool["id"], query="SELECT * FROM read_csv_auto('/etc/passwd')")
    assert not escape["ok"] and "disabled" in escape["error"]
    unlock = test_tool(api, a.headers, tool["id"], query="SET enable_external_access = true")
    assert not unlock["ok"]

    # through the agent loop; once the data is confidential, each read by the tool is audited
    dataset_id = api.get(f"/api/dataset/version/{version_id}", headers=a.headers).json()["dataset_id"]
    r2 = api.patch(f"/api/dataset/{dataset_id}", json={"sensitivity_floor": "confidential"}, headers=a.headers)
    assert r2.status_code == 200, r2.text
    upstream.script = [
        {
            "tool_calls": [
                {"name": "run_sql", "arguments": {"query": "SELECT count(*) AS n FROM data WHERE category = 'billing'"}}
            ]
        },
        {"content": "3 billing tickets."},
    ]
    run = run_agent(api, a.headers, r.json()["agent_id"], "How many billing tickets?")
    assert run["status"] == "succeeded" and run["output"] == "3 billing tickets."
    (tool_message,) = [m for m in upstream.requests[-1]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_message["content"])["rows"] == [[3]]
    reads = api.get("/api/audit/logs", params={"action": "dataset.read_rows"}, headers=admin).json()["items"]
    assert [(e["summary"]["what"], e["summary"]["sensitivity"]) for e in reads] == [("tool", "confidential")]


def test_ticket_triage_searches_the_picked_dataset(api, lab, live_server):
    a, b = lab["a"], lab["b"]
    version_id = tickets_version(api, a.headers, live_server)
    # another team's dataset version is not one the installer can pick
    assert install(api, b.headers, "ticket-triage", dataset_version_id=version_id).status_code == 404
    assert install(api, a.headers, "ko-summariser", dataset_version_id=version_id).status_code == 422
    r = install(api, a.headers, "ticket-triage", dataset_version_id=version_id)
    assert r.status_code == 201, r.text
    (tool,) = r.json()["tools"]
    out = test_tool(api, a.headers, tool["id"], query="I was charged twice", limit=2)
    assert out["ok"], out
    matches = out["output"]["matches"]
    assert [m["id"] for m in matches] == [1, 3] and out["output"]["categories"] == {"billing": 2}


def test_shared_template_installs_in_another_team_with_its_own_dataset(api, lab, live_server):
    a, b = lab["a"], lab["b"]
    version_a = tickets_version(api, a.headers, live_server, "tickets-a")
    installed = install(api, a.headers, "sql-analyst", name="team-a-analyst", dataset_version_id=version_a).json()

    r = api.post(
        "/api/agent/templates",
        json={"agent_id": installed["agent_id"], "description": "Our analyst", "tags": ["sql", "shared"]},
        headers=a.headers,
    )
    assert r.status_code == 201, r.text
    shared = r.json()
    assert shared["builtin"] is False and shared["team_name"] == "tpl-a" and shared["shared_by_name"] == "tpla"
    assert shared["needs_dataset"] and shared["tools"][0]["uses_dataset"]
    # team A's dataset is not part of the template
    assert version_a not in json.dumps(shared)
    # only the agent's own team shares it
    assert (
        api.post("/api/agent/templates", json={"agent_id": installed["agent_id"]}, headers=b.headers).status_code == 404
    )

    listed = {t["id"]: t for t in api.get("/api/agent/templates", headers=b.headers).json()["items"]}
    assert shared["id"] in listed
    by_tag = api.get("/api/agent/templates", params={"tag": "SHARED"}, headers=b.headers).json()
    assert [t["id"] for t in by_tag["items"]] == [shared["id"]] and by_tag["total"] == 1
    by_text = api.get("/api/agent/templates", params={"q": "our analy"}, headers=b.headers).json()
    assert [t["id"] for t in by_text["items"]] == [shared["id"]]
    assert api.get("/api/agent/templates", params={"q": "100%_"}, headers=b.headers).json() == {"items": [], "total": 0}
    assert install(api, b.headers, shared["id"], name="b-x", dataset_version_id=version_a).status_code == 404
    assert api.get("/api/tool/tools", headers=b.headers).json()["items"] == []  # nothing half-installed
    version_b = tickets_version(api, b.headers, live_server, "tickets-b")
    r = install(api, b.headers, shared["id"], dataset_version_id=version_b)
    assert r.status_code == 409 and r.json()["suggestion"] == "team-a-analyst-2"
    r = install(api, b.headers, shared["id"], name="team-b-analyst", dataset_version_id=version_b)
    assert r.status_code == 201, r.text
    assert r.json()["team_id"] == b.team["id"]
    out = test_tool(api, b.headers, r.json()["tools"][0]["id"], query="SELECT count(*) FROM data")
    assert out["ok"] and out["output"]["rows"] == [[6]]
    assert api.get(f"/api/agent/templates/{shared['id']}", headers=b.headers).json()["install_count"] == 1

    # another team cannot delete it; built-ins cannot be deleted; the sharing team can
    assert api.delete(f"/api/agent/templates/{shared['id']}", headers=b.headers).status_code == 403
    assert api.delete("/api/agent/templates/sql-analyst", headers=a.headers).status_code == 409
    assert api.delete(f"/api/agent/templates/{shared['id']}", headers=a.headers).status_code == 204
    assert api.get(f"/api/agent/templates/{shared['id']}", headers=b.headers).status_code == 404
    # what was installed from it stays
    assert api.get(f"/api/agent/agents/{r.json()['agent_id']}", headers=b.headers).status_code == 200
