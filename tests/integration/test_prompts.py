"""The prompt registry over real HTTP and PostgreSQL: create, versions, labels and their history,
references, diff, render, save-time checks, export and import, archive, and version numbers that
stay gapless under concurrent creates."""

from __future__ import annotations

import asyncio

import httpx
import yaml

from tests.factories import add_prompt_version, insert_rows, make_account, make_prompt, make_team

CHAT = [
    {"role": "system", "content": "You are {{ company }}'s support agent. Answer in {{ language }}."},
    {"role": "user", "content": "{{ question }}"},
]
VARIABLES = [
    {"name": "company", "type": "string", "description": "Company name"},
    {"name": "language", "type": "string", "required": False, "default": "Korean"},
    {"name": "question", "type": "string"},
]


def _code(r: httpx.Response) -> str:
    return r.json()["type"].rsplit("/", 1)[-1]


def test_prompt_journey(api, admin):
    team = make_team(api, admin, "support")
    dev = make_account(api, admin, "dev1", "developer", team).headers
    viewer = make_account(api, admin, "view1", "viewer", team).headers

    # create with a first version labelled production
    p = make_prompt(
        api,
        dev,
        "support-bot",
        CHAT,
        VARIABLES,
        labels=["production"],
        description="상담 봇",
        tags=["support", "ko"],
        binding={
            "route": "gpt-small",
            "allowed_routes": ["gpt-small", "gpt-large"],
            "parameters": {"temperature": 0.2},
        },
    )
    assert p["latest_version"] == 1 and p["labels"] == {"production": 1} and p["team_name"] == "support"
    assert p["created_by_name"] == "dev1" and p["running_experiments"] == 0 and p["archived_at"] is None

    # v2 (staging) and v3 (a text prompt), with a message
    v2 = add_prompt_version(
        api,
        dev,
        "support-bot",
        [CHAT[0], {"role": "user", "content": "Question: {{ question }}\nBe brief."}],
        VARIABLES,
        labels=["staging"],
        message="shorter answers",
        binding={"route": "gpt-large", "parameters": {"temperature": 0.5, "max_tokens": 200}},
    )
    assert v2["version"] == 2 and v2["labels"] == ["staging"] and v2["message"] == "shorter answers"
    assert v2["created_by_name"] == "dev1" and v2["quality"]["feedback_count"] == 0
    v3 = add_prompt_version(api, dev, "support-bot", "Q: {{ question }}", [{"name": "question", "type": "string"}])
    assert v3["version"] == 3 and v3["kind"] == "text" and v3["labels"] == []

    # reading: the prompt, versions newest first with cursor pages, one version
    assert api.get("/api/prompts/SUPPORT-BOT", headers=viewer).json()["labels"] == {"production": 1, "staging": 2}
    page = api.get("/api/prompts/support-bot/versions?limit=2", headers=viewer).json()
    assert [v["version"] for v in page["items"]] == [3, 2] and page["total"] == 3 and page["next_cursor"]
    rest = api.get(f"/api/prompts/support-bot/versions?limit=2&cursor={page['next_cursor']}", headers=viewer).json()
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None
    assert rest["items"][0]["labels"] == ["production"]
    assert api.get("/api/prompts/support-bot/versions/2", headers=viewer).json()["binding"]["route"] == "gpt-large"
    r = api.get("/api/prompts/support-bot/versions/9", headers=viewer)
    assert r.status_code == 404 and _code(r) == "prompt_version_not_found"

    # references: name (production), name@label, name:N; unknown label/version 404; bad ref 422
    def resolve(ref):
        return api.get("/api/prompts/resolve", params={"ref": ref}, headers=viewer)

    assert resolve("support-bot").json()["version"] == 1
    assert resolve("support-bot@staging").json()["version"] == 2
    assert resolve("support-bot:3").json()["version"] == 3
    assert _code(resolve("support-bot@canary")) == "prompt_label_not_found"
    assert _code(resolve("support-bot:7")) == "prompt_version_not_found"
    assert _code(resolve("nobody")) == "prompt_not_found"
    for bad in ("support bot", "support-bot@Prod", "support-bot:x", "support-bot:0"):
        assert resolve(bad).status_code == 422 and _code(resolve(bad)) == "prompt_ref_invalid", bad

    # labels: move production to 2 (with a reason), history newest first; delete staging
    r = api.put("/api/prompts/support-bot/labels/production", json={"version": 2, "reason": "better"}, headers=dev)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["updated_by_name"] == "dev1"
    assert resolve("support-bot").json()["version"] == 2
    r = api.put("/api/prompts/support-bot/labels/production", json={"version": 5}, headers=dev)
    assert r.status_code == 404 and _code(r) == "prompt_version_not_found"
    assert api.delete("/api/prompts/support-bot/labels/staging", headers=dev).status_code == 204
    r = api.delete("/api/prompts/support-bot/labels/staging", headers=dev)
    assert r.status_code == 404 and _code(r) == "prompt_label_not_found"
    history = api.get("/api/prompts/support-bot/labels/history", headers=viewer).json()["items"]
    assert [(m["label"], m["from_version"], m["to_version"]) for m in history] == [
        ("staging", 2, None),
        ("production", 1, 2),
        ("staging", None, 2),
        ("production", None, 1),
    ]
    assert history[1]["reason"] == "better" and history[1]["actor_name"] == "dev1"
    only = api.get("/api/prompts/support-bot/labels/history?label=production", headers=viewer).json()["items"]
    assert [m["to_version"] for m in only] == [2, 1]
    # without a production label, the name means the latest version
    api.delete("/api/prompts/support-bot/labels/production", headers=dev)
    assert resolve("support-bot").json()["version"] == 3
    api.put("/api/prompts/support-bot/labels/production", json={"version": 2}, headers=dev)

    # diff: template lines per message, variables, binding
    d = api.get("/api/prompts/support-bot/diff?base=1&head=2", headers=viewer).json()
    assert d["base"] == 1 and d["head"] == 2 and d["kind_changed"] is False
    changed = [(line["op"], line["text"], line["message_index"]) for line in d["template"] if line["op"] != " "]
    assert changed == [
        ("-", "{{ question }}", 1),
        ("+", "Question: {{ question }}", 1),
        ("+", "Be brief.", 1),
    ]
    binding = {c["key"]: (c["before"], c["after"]) for c in d["binding"]}
    assert binding == {
        "route": ("gpt-small", "gpt-large"),
        "allowed_routes": (["gpt-small", "gpt-large"], []),
        "parameters.temperature": (0.2, 0.5),
        "parameters.max_tokens": (None, 200),
    }
    d = api.get("/api/prompts/support-bot/diff?base=2&head=3", headers=viewer).json()
    assert d["kind_changed"] is True
    assert [v["name"] for v in d["variables"]["removed"]] == ["company", "language"]
    assert d["variables"]["added"] == [] and d["variables"]["changed"] == []

    # render: production by default, a version, a label; defaults filled in; a draft
    r = api.post(
        "/api/prompts/support-bot/render",
        json={"variables": {"company": "악스옵스", "question": "환불?"}},
        headers=viewer,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == 2 and out["kind"] == "chat" and out["text"] is None
    assert out["messages"] == [
        {"role": "system", "content": "You are 악스옵스's support agent. Answer in Korean."},
        {"role": "user", "content": "Question: 환불?\nBe brief."},
    ]
    assert out["variables_used"] == {"company": "악스옵스", "language": "Korean", "question": "환불?"}
    r = api.post("/api/prompts/support-bot/render", json={"ref": "3", "variables": {"question": "hi"}}, headers=viewer)
    assert r.json()["text"] == "Q: hi" and r.json()["version"] == 3
    r = api.post(
        "/api/prompts/support-bot/render",
        json={"ref": "@production", "variables": {"company": "A", "question": "q"}},
        headers=viewer,
    )
    assert r.json()["version"] == 2
    draft = {"kind": "text", "template": "{{ n * 2 }}!", "variables": [{"name": "n", "type": "integer"}]}
    r = api.post("/api/prompts/support-bot/render", json={"draft": draft, "variables": {"n": 21}}, headers=viewer)
    assert r.json() == {"kind": "text", "text": "42!", "messages": None, "version": None, "variables_used": {"n": 21}}

    # render refusals name the variable
    for variables, code, variable in (
        ({"question": "q"}, "prompt_variable_missing", "company"),
        ({"company": "A", "question": "q", "mood": "x"}, "prompt_variable_unknown", "mood"),
        ({"company": 42, "question": "q"}, "prompt_variable_type", "company"),
    ):
        r = api.post("/api/prompts/support-bot/render", json={"variables": variables}, headers=viewer)
        assert r.status_code == 422 and _code(r) == code and r.json()["variable"] == variable, r.text
    r = api.post("/api/prompts/support-bot/render", json={"ref": "@nolabel", "variables": {}}, headers=viewer)
    assert r.status_code == 404 and _code(r) == "prompt_label_not_found"

    # a syntax error is refused at save time with line and column; the check endpoint answers 200
    broken = "Hello\n{{ name }\n"
    r = api.post(
        "/api/prompts/support-bot/versions",
        json={"kind": "text", "template": broken, "variables": [{"name": "name", "type": "string"}]},
        headers=dev,
    )
    assert r.status_code == 422 and _code(r) == "prompt_template_invalid", r.text
    assert (r.json()["line"], r.json()["column"], r.json()["message_index"]) == (2, 1, None)
    r = api.post(
        "/api/prompts/support-bot/versions",
        json={
            "kind": "chat",
            "template": [{"role": "system", "content": "ok"}, {"role": "user", "content": "{% if %}"}],
        },
        headers=dev,
    )
    assert r.status_code == 422 and r.json()["message_index"] == 1 and r.json()["line"] == 1
    c = api.post("/api/prompts/check", json={"kind": "text", "template": broken}, headers=viewer).json()
    assert c["ok"] is False and c["error"]["line"] == 2 and c["placeholders"] == []
    c = api.post("/api/prompts/check", json={"kind": "text", "template": "{{ a }} {{ b|upper }}"}, headers=viewer)
    assert c.json()["ok"] is False and c.json()["placeholders"] == ["a", "b"]
    assert "not declared" in c.json()["error"]["message"]
    typing = {"kind": "text", "template": "{{ a }}", "variables": [{"name": "1a", "type": "string"}]}
    c = api.post("/api/prompts/check", json=typing, headers=viewer)
    assert c.status_code == 200 and c.json()["ok"] is False and "'1a'" in c.json()["error"]["message"]
    ok = {"kind": "text", "template": "{{ a }}", "variables": [{"name": "a", "type": "string"}]}
    assert api.post("/api/prompts/check", json=ok, headers=viewer).json() == {
        "ok": True,
        "placeholders": ["a"],
        "error": None,
    }
    assert api.get("/api/prompts/support-bot", headers=viewer).json()["latest_version"] == 3  # nothing written

    # list: search, tag, label filters; total on the first page
    make_prompt(api, dev, "translator", "Translate {{ text }}", labels=[], tags=["ko"])
    listing = api.get("/api/prompts", headers=viewer).json()
    assert [p["name"] for p in listing["items"]] == ["translator", "support-bot"] and listing["total"] == 2
    assert [p["name"] for p in api.get("/api/prompts?q=상담", headers=viewer).json()["items"]] == ["support-bot"]
    assert [p["name"] for p in api.get("/api/prompts?tag=ko&tag=support", headers=viewer).json()["items"]] == [
        "support-bot"
    ]
    assert [p["name"] for p in api.get("/api/prompts?label=production", headers=viewer).json()["items"]] == [
        "support-bot"
    ]
    first = api.get("/api/prompts?limit=1", headers=viewer).json()
    second = api.get(f"/api/prompts?limit=1&cursor={first['next_cursor']}", headers=viewer).json()
    assert second["items"][0]["name"] == "support-bot" and second["total"] is None

    # export → import into a fresh name → a round trip adds nothing → an edited file adds a version
    r = api.get("/api/prompts/support-bot/export", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    doc = yaml.safe_load(r.text)
    assert doc["name"] == "support-bot" and [v["version"] for v in doc["versions"]] == [1, 2, 3]
    assert doc["labels"] == {"production": 2} and doc["versions"][1]["message"] == "shorter answers"
    assert "Be brief." in r.text and "|" in r.text  # multi-line templates stay readable in git

    doc["name"] = "support-bot-copy"
    r = api.post("/api/prompts/import", content=yaml.safe_dump(doc, allow_unicode=True), headers=_yaml_headers(dev))
    assert r.status_code == 200, r.text
    copy = r.json()
    assert copy["latest_version"] == 3 and copy["labels"] == {"production": 2} and copy["description"] == "상담 봇"
    copy_v2 = api.get("/api/prompts/support-bot-copy/versions/2", headers=dev).json()
    original_v2 = api.get("/api/prompts/support-bot/versions/2", headers=dev).json()
    for key in ("kind", "template", "variables", "binding", "message"):
        assert copy_v2[key] == original_v2[key], key

    same = api.post("/api/prompts/import", content=r.request.content, headers=_yaml_headers(dev))
    assert same.status_code == 200 and same.json()["latest_version"] == 3  # nothing new

    doc["versions"].append(
        {"version": 4, "kind": "text", "template": "Edited {{ q }}", "variables": [{"name": "q", "type": "string"}]}
    )
    doc["labels"] = {"production": 4, "staging": 1}
    r = api.post("/api/prompts/import", content=yaml.safe_dump(doc), headers=_yaml_headers(dev, "text/plain"))
    assert r.status_code == 200, r.text
    assert r.json()["latest_version"] == 4 and r.json()["labels"] == {"production": 4, "staging": 1}
    moves = api.get("/api/prompts/support-bot-copy/labels/history?label=production", headers=dev).json()["items"]
    assert moves[0]["to_version"] == 4 and moves[0]["reason"] == "import"

    # archive: hidden from the list and from references; no new version; unarchive restores
    r = api.post("/api/prompts/support-bot-copy/archive", headers=dev)
    assert r.status_code == 200 and r.json()["archived_at"]
    assert "support-bot-copy" not in [p["name"] for p in api.get("/api/prompts", headers=dev).json()["items"]]
    assert "support-bot-copy" in [
        p["name"] for p in api.get("/api/prompts?include_archived=true", headers=dev).json()["items"]
    ]
    assert _code(resolve("support-bot-copy")) == "prompt_not_found"
    r = api.post(
        "/api/prompts/support-bot-copy/versions", json={"kind": "text", "template": "x", "variables": []}, headers=dev
    )
    assert r.status_code == 409 and _code(r) == "prompt_archived"
    assert api.post("/api/prompts/support-bot-copy/unarchive", headers=dev).json()["archived_at"] is None
    assert resolve("support-bot-copy").json()["version"] == 4

    # metadata edits; names are unique across teams, case-insensitively; reserved words are refused
    r = api.patch("/api/prompts/support-bot", json={"description": "Support", "tags": ["b", "a", "a"]}, headers=dev)
    assert r.json()["description"] == "Support" and r.json()["tags"] == ["a", "b"]
    other = make_account(api, admin, "dev2", "developer", new_team="other").headers
    r = api.post("/api/prompts", json={"name": "Support-Bot"}, headers=other)
    assert r.status_code == 409 and _code(r) == "prompt_name_taken"
    r = api.post("/api/prompts", json={"name": "resolve"}, headers=other)
    assert r.status_code == 422 and _code(r) == "prompt_name_reserved"

    # every change is in the audit log
    actions = [
        e["action"] for e in api.get("/api/audit/logs?resource_type=prompt&limit=200", headers=admin).json()["items"]
    ]
    for action in (
        "prompt.create",
        "prompt.update",
        "prompt.version_create",
        "prompt.label_move",
        "prompt.label_delete",
        "prompt.archive",
        "prompt.unarchive",
        "prompt.import",
    ):
        assert action in actions, action


def _yaml_headers(headers: dict, media: str = "application/yaml") -> dict:
    return {**headers, "content-type": media}


def test_concurrent_version_creates_are_numbered_without_gaps(api, admin, live_server):
    dev = make_account(api, admin, "dev1", "developer", new_team="t").headers
    make_prompt(api, dev, "busy", "v0 {{ x }}")
    n = 20

    async def create_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/prompts/busy/versions",
                        json={
                            "kind": "text",
                            "template": f"v{i} {{{{ x }}}}",
                            "variables": [{"name": "x", "type": "string"}],
                        },
                        headers=dev,
                    )
                    for i in range(n)
                )
            )

    responses = asyncio.run(create_all())
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    numbers = sorted(r.json()["version"] for r in responses)
    assert numbers == list(range(2, n + 2))
    listed = api.get("/api/prompts/busy/versions?limit=200", headers=dev).json()
    assert [v["version"] for v in listed["items"]] == list(range(n + 1, 0, -1)) and listed["total"] == n + 1
    # each number holds the template its request sent
    for r in responses:
        v = api.get(f"/api/prompts/busy/versions/{r.json()['version']}", headers=dev).json()
        assert v["template"] == r.json()["template"]
    assert api.get("/api/prompts/busy", headers=dev).json()["latest_version"] == n + 1


def test_a_label_under_an_ab_test_cannot_be_removed(api, admin, database_url):
    from axops.prompts.models import PromptExperiment

    dev = make_account(api, admin, "dev1", "developer", new_team="t").headers
    p = make_prompt(api, dev, "tested", "v1 {{ x }}", labels=["production"])
    add_prompt_version(api, dev, "tested", "v2 {{ x }}", [{"name": "x", "type": "string"}])
    insert_rows(
        database_url,
        PromptExperiment,
        [
            {
                "prompt_id": p["id"],
                "label": "production",
                "variants": [{"version": 1, "weight": 1}, {"version": 2, "weight": 1}],
            }
        ],
    )
    r = api.delete("/api/prompts/tested/labels/production", headers=dev)
    assert r.status_code == 409 and _code(r) == "prompt_experiment_running", r.text
    assert api.get("/api/prompts/tested", headers=dev).json()["labels"] == {"production": 1}
    assert api.get("/api/prompts/tested", headers=dev).json()["running_experiments"] == 1
