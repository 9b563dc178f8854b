"""Workflows over real HTTP and PostgreSQL, with model calls through the gateway to a mock upstream:
input → model → output with traces, a condition taking both branches, a loop over items, saved
prompts in a model node, YAML export and import, invalid definitions naming the node, immutable
versions, limits, and another team's workflow answering 404."""

from __future__ import annotations

import copy

import pytest
import yaml
from aiohttp import web

from tests.factories import make_account, make_prompt, make_route, make_team
from tests.mocks import MockUpstream
from tests.tool_server import LoopbackServer

BASE = "/api/agent/workflows"


def _code(r) -> str:
    return r.json()["type"].rsplit("/", 1)[-1]


def _last_user(body: dict) -> str:
    return body["messages"][-1]["content"]


@pytest.fixture(scope="module")
def upstream():
    u = MockUpstream("wf")
    u.answer_for = lambda body: "ANSWER:" + _last_user(body).upper()
    yield u
    u.stop()


class WeatherApi(LoopbackServer):
    """A local HTTP server the workflow's HTTP tool calls."""

    def __init__(self) -> None:
        self.cities: list[str] = []
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/weather", self.weather)

    async def weather(self, request: web.Request) -> web.Response:
        city = request.query["city"]
        self.cities.append(city)
        if city == "atlantis":
            return web.json_response({"error": "no such city"}, status=404)
        return web.json_response({"city": city, "sky": "clear" if len(city) % 2 else "rain"})


@pytest.fixture(scope="module")
def weather_api():
    w = WeatherApi()
    yield w
    w.close()


@pytest.fixture
def lab(api, admin, upstream):
    upstream.requests.clear()
    make_route(api, admin, "wf-model", upstream.url, input_price=1.0, output_price=2.0)
    team = make_team(api, admin, "builders")
    dev = make_account(api, admin, "builder", team=team)
    return {"headers": dev.headers, "team": team}


def node(id_, type_, **config):
    return {"id": id_, "type": type_, "label": id_, "position": {"x": 0, "y": 0}, "config": config}


def edge(source, target, handle=None):
    e = {"id": f"{source}-{target}-{handle or 'n'}", "source": source, "target": target}
    if handle:
        e["source_handle"] = handle
    return e


TWO_NODE = {
    "inputs": [{"name": "question", "type": "string"}],
    "nodes": [
        node("start", "input"),
        node("ask", "model", route="wf-model", messages=[{"role": "user", "content": "Q: {{ input.question }}"}]),
        node("done", "output", template="{{ ask }}"),
    ],
    "edges": [edge("start", "ask"), edge("ask", "done")],
}


def create(api, h, name, definition, **extra):
    r = api.post(BASE, json={"name": name, "version": {"definition": definition}, **extra}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def run(api, h, wf_id, inputs, **extra):
    r = api.post(f"{BASE}/{wf_id}/runs", json={"input": inputs, **extra}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def test_two_node_workflow_runs_through_the_gateway(api, lab, upstream):
    h = lab["headers"]
    wf = create(api, h, "qa", TWO_NODE)
    assert wf["latest_version"] == 1 and wf["team_id"] == lab["team"]["id"]

    out = run(api, h, wf["id"], {"question": "why is the sky blue"})
    assert out["status"] == "succeeded", out
    assert out["output"] == "ANSWER:Q: WHY IS THE SKY BLUE"
    assert [(n["node_id"], n["status"]) for n in out["nodes"]] == [("start", "ok"), ("ask", "ok"), ("done", "ok")]
    ask = out["nodes"][1]
    # the mock counts prompt words and answer pieces; the route's prices make the cost
    assert ask["prompt_tokens"] == 6 and ask["completion_tokens"] == 1
    assert ask["latency_ms"] > 0 and ask["cost"] > 0
    assert ask["input"]["route"] == "wf-model"
    assert ask["input"]["messages"] == [{"role": "user", "content": "Q: why is the sky blue"}]
    assert out["totals"]["model_calls"] == 1 and out["totals"]["prompt_tokens"] == 6
    assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "Q: why is the sky blue"}]

    # the stored run reads back the same, and the run's gateway key is revoked
    again = api.get(f"/api/agent/workflow-runs/{out['id']}", headers=h).json()
    assert again["nodes"] == out["nodes"] and again["output"] == out["output"]
    keys = api.get("/api/auth/api-keys", headers=h)
    if keys.status_code == 200:
        items = keys.json()["items"] if isinstance(keys.json(), dict) else keys.json()
        assert all(k.get("revoked_at") for k in items if str(k.get("name", "")).startswith("workflow-run-"))

    # bad input is refused before anything runs
    r = api.post(f"{BASE}/{wf['id']}/runs", json={"input": {}}, headers=h)
    assert r.status_code == 422 and _code(r) == "workflow_input_invalid"
    r = api.post(f"{BASE}/{wf['id']}/runs", json={"input": {"question": 3}}, headers=h)
    assert r.status_code == 422 and _code(r) == "workflow_input_invalid"


BRANCHING = {
    "inputs": [{"name": "n", "type": "integer"}],
    "nodes": [
        node("start", "input"),
        node("big", "condition", expression="input.n > 10"),
        node("yes", "model", route="wf-model", messages=[{"role": "user", "content": "big {{ input.n }}"}]),
        node("no", "model", route="wf-model", messages=[{"role": "user", "content": "small {{ input.n }}"}]),
        node("done", "output", template="{{ yes if yes is defined else no }}"),
    ],
    "edges": [
        edge("start", "big"),
        edge("big", "yes", "true"),
        edge("big", "no", "false"),
        edge("yes", "done"),
        edge("no", "done"),
    ],
}


def test_a_condition_takes_either_branch(api, lab):
    h = lab["headers"]
    wf = create(api, h, "branch", BRANCHING)
    big = run(api, h, wf["id"], {"n": 42})
    assert big["status"] == "succeeded", big
    assert big["output"] == "ANSWER:BIG 42"
    assert {n["node_id"]: n["status"] for n in big["nodes"]} == {
        "start": "ok",
        "big": "ok",
        "yes": "ok",
        "no": "skipped",
        "done": "ok",
    }
    small = run(api, h, wf["id"], {"n": 3})
    assert small["output"] == "ANSWER:SMALL 3"
    assert {n["node_id"]: n["status"] for n in small["nodes"]}["yes"] == "skipped"
    assert small["totals"]["model_calls"] == 1


LOOP = {
    "inputs": [{"name": "cities", "type": "list"}],
    "nodes": [
        node("start", "input"),
        node("each", "loop", items="input.cities"),
        node("describe", "model", route="wf-model", messages=[{"role": "user", "content": "{{ index }}:{{ item }}"}]),
        node("done", "output", template="{{ each }}"),
    ],
    "edges": [edge("start", "each"), edge("each", "describe", "body"), edge("each", "done")],
}


def test_a_loop_runs_its_body_per_item(api, lab):
    h = lab["headers"]
    wf = create(api, h, "loop", LOOP)
    out = run(api, h, wf["id"], {"cities": ["seoul", "busan", "jeju"]})
    assert out["status"] == "succeeded", out
    assert out["output"] == ["ANSWER:0:SEOUL", "ANSWER:1:BUSAN", "ANSWER:2:JEJU"]
    body = [(n["node_id"], n["iteration"]) for n in out["nodes"] if n["node_id"] == "describe"]
    assert body == [("describe", 0), ("describe", 1), ("describe", 2)]
    assert out["totals"]["model_calls"] == 3

    # too many items fail the loop node, and nothing after it runs
    out = run(api, h, wf["id"], {"cities": [str(i) for i in range(101)]})
    assert out["status"] == "failed" and out["error_node"] == "each"
    assert [n["node_id"] for n in out["nodes"]] == ["start", "each"]


def test_limits_and_model_errors_fail_the_run_at_the_node(api, lab, upstream):
    h = lab["headers"]
    limited = copy.deepcopy(LOOP)
    limited["limits"] = {"max_model_calls": 2}
    wf = create(api, h, "limited", limited)
    out = run(api, h, wf["id"], {"cities": ["a", "b", "c"]})
    assert out["status"] == "failed" and out["error_node"] == "describe"
    assert "2 model calls" in out["error"]
    assert [n["status"] for n in out["nodes"] if n["node_id"] == "describe"] == ["ok", "ok", "error"]
    assert out["output"] is None

    upstream.fail_for = lambda body: True
    try:
        out = run(api, h, create(api, h, "failing", TWO_NODE)["id"], {"question": "x"})
    finally:
        upstream.fail_for = None
    assert out["status"] == "failed" and out["error_node"] == "ask"
    assert "model call failed" in out["error"]
    assert out["nodes"][-1]["node_id"] == "ask" and out["nodes"][-1]["status"] == "error"


def test_a_model_node_renders_a_saved_prompt(api, lab):
    h = lab["headers"]
    make_prompt(
        api, h, "wf-greeter", "Say hello to {{ name }}", binding={"route": "wf-model"}, team_id=lab["team"]["id"]
    )
    definition = {
        "inputs": [{"name": "name", "type": "string"}],
        "nodes": [
            node("start", "input"),
            node("greet", "model", prompt={"name": "wf-greeter", "label": "production"}),
            node("done", "output", template="{{ greet }}!"),
        ],
        "edges": [edge("start", "greet"), edge("greet", "done")],
    }
    out = run(api, h, create(api, h, "greeting", definition)["id"], {"name": "Mina"})
    assert out["status"] == "succeeded", out
    assert out["output"] == "ANSWER:SAY HELLO TO MINA!"


def test_yaml_round_trip_and_immutable_versions(api, lab):
    h = lab["headers"]
    wf = create(api, h, "exported", BRANCHING)
    r = api.get(f"{BASE}/{wf['id']}/versions/1/yaml", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    text = r.text
    assert yaml.safe_load(text)["name"] == "exported"

    # the same file as a new version of the same workflow, then as a new workflow in another name
    r = api.post(f"{BASE}/import", content=text.encode(), headers={**h, "content-type": "application/yaml"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["workflow_id"] == wf["id"]
    v1 = api.get(f"{BASE}/{wf['id']}/versions/1", headers=h).json()
    assert r.json()["definition"] == v1["definition"]
    assert api.get(f"{BASE}/{wf['id']}/versions/2/yaml", headers=h).text.replace("v2", "v1") == text

    renamed = text.replace("name: exported", "name: imported", 1)
    r = api.post(f"{BASE}/import", content=renamed.encode(), headers={**h, "content-type": "text/plain"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["definition"] == v1["definition"]

    # versions are immutable: no route changes one, and a new definition makes version 3
    assert api.put(f"{BASE}/{wf['id']}/versions/1", json={}, headers=h).status_code == 405
    changed = copy.deepcopy(BRANCHING)
    changed["nodes"][1]["config"]["expression"] = "input.n > 100"
    r = api.post(f"{BASE}/{wf['id']}/versions", json={"definition": changed, "message": "higher bar"}, headers=h)
    assert r.status_code == 201 and r.json()["version"] == 3
    assert api.get(f"{BASE}/{wf['id']}/versions/1", headers=h).json()["definition"] == v1["definition"]
    versions = api.get(f"{BASE}/{wf['id']}/versions", headers=h).json()["items"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    # a run of an older version uses that version
    assert run(api, h, wf["id"], {"n": 50}, version=1)["output"] == "ANSWER:BIG 50"
    assert run(api, h, wf["id"], {"n": 50})["output"] == "ANSWER:SMALL 50"

    # broken files: a YAML syntax error with its line, a bad node with the node and its line
    r = api.post(
        f"{BASE}/import", content=b"name: x\ndefinition: [\n", headers={**h, "content-type": "application/yaml"}
    )
    assert r.status_code == 422 and _code(r) == "workflow_import_invalid" and r.json()["line"] >= 2
    doc = yaml.safe_load(text)
    doc["definition"]["nodes"][1]["config"]["expression"] = "input.n >"
    r = api.post(
        f"{BASE}/import", content=yaml.safe_dump(doc).encode(), headers={**h, "content-type": "application/yaml"}
    )
    assert r.status_code == 422 and _code(r) == "workflow_definition_invalid", r.text
    assert r.json()["node"] == "big" and r.json()["line"] > 1
    r = api.post(f"{BASE}/import", content=text.encode(), headers={**h, "content-type": "application/json"})
    assert r.status_code == 415


def _broken(mutate):
    d = copy.deepcopy(BRANCHING)
    mutate(d)
    return d


INVALID = [
    (lambda d: d["nodes"].append(node("x", "teleport")), None),
    (lambda d: d["edges"].append(edge("yes", "ghost")), None),
    (lambda d: d["edges"].append(edge("done", "start")), None),
    (lambda d: d["edges"].append(edge("yes", "big")), "big"),  # a cycle outside any loop
    (lambda d: d["nodes"][1]["config"].update(expression="input.n >"), "big"),
    (lambda d: d["nodes"][2]["config"].update(messages=[{"role": "user", "content": "{% if %}"}]), "yes"),
    (lambda d: d["nodes"][2]["config"].pop("route"), "yes"),
    (lambda d: d["edges"].__setitem__(1, edge("big", "yes")), None),  # a condition edge without a branch
    (
        lambda d: d["nodes"].append(node("lonely", "model", route="r", messages=[{"role": "user", "content": "x"}])),
        "lonely",
    ),
    (lambda d: d["nodes"].append(node("start2", "input")), None),
    (lambda d: d["nodes"].extend(node(f"n{i}", "output", template="x") for i in range(200)), None),
]


@pytest.mark.parametrize("mutate,node_id", INVALID)
def test_invalid_definitions_are_refused_naming_the_node(api, lab, mutate, node_id):
    h = lab["headers"]
    r = api.post(BASE, json={"name": "bad", "version": {"definition": _broken(mutate)}}, headers=h)
    assert r.status_code == 422, r.text
    if node_id is not None:
        assert r.json()["node"] == node_id and node_id in r.json()["detail"]
    # nothing was written
    assert api.get(BASE, headers=h).json()["total"] == 0


def test_another_teams_workflow_is_not_found(api, admin, lab):
    h = lab["headers"]
    wf = create(api, h, "private", TWO_NODE)
    out = run(api, h, wf["id"], {"question": "q"})
    other = make_account(api, admin, "outsider", new_team="others").headers
    for path in (f"{BASE}/{wf['id']}", f"{BASE}/{wf['id']}/versions", f"{BASE}/{wf['id']}/versions/1/yaml"):
        r = api.get(path, headers=other)
        assert r.status_code == 404 and _code(r) == "workflow_not_found", path
    r = api.post(f"{BASE}/{wf['id']}/runs", json={"input": {"question": "q"}}, headers=other)
    assert r.status_code == 404
    r = api.post(f"{BASE}/{wf['id']}/versions", json={"definition": TWO_NODE}, headers=other)
    assert r.status_code == 404
    assert api.post(f"{BASE}/{wf['id']}/archive", headers=other).status_code == 404
    assert api.get(f"/api/agent/workflow-runs/{out['id']}", headers=other).status_code == 404
    assert api.get(BASE, headers=other).json()["total"] == 0
    # the same name in another team is another workflow
    create(api, other, "private", TWO_NODE)

    # archived: listed only on request, not run, no new versions
    assert api.post(f"{BASE}/{wf['id']}/archive", headers=h).json()["archived_at"]
    assert api.get(BASE, headers=h).json()["total"] == 0
    assert api.get(BASE, params={"include_archived": True}, headers=h).json()["total"] == 1
    r = api.post(f"{BASE}/{wf['id']}/runs", json={"input": {"question": "q"}}, headers=h)
    assert r.status_code == 409 and _code(r) == "workflow_archived"


def test_a_loop_calls_an_http_tool_per_item(api, lab, weather_api):
    h = lab["headers"]
    weather_api.cities.clear()
    r = api.post(
        "/api/tool/tools",
        json={
            "name": "weather",
            "kind": "http",
            "description": "The sky over a city",
            "timeout_s": 5.0,
            "allow_hosts": ["127.0.0.1"],
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "spec": {
                "method": "GET",
                "base_url": weather_api.url,
                "path": "/weather",
                "params": {"city": {"in": "query"}},
            },
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    tool_id = r.json()["id"]
    definition = {
        "inputs": [{"name": "cities", "type": "list"}],
        "nodes": [
            node("start", "input"),
            node("each", "loop", items="input.cities"),
            node("sky", "tool", tool_id=tool_id, arguments={"city": "{{ item }}"}),
            node("done", "output", template="{{ each | map(attribute='sky') | list }}"),
        ],
        "edges": [edge("start", "each"), edge("each", "sky", "body"), edge("each", "done")],
    }
    wf = create(api, h, "skies", definition)
    out = run(api, h, wf["id"], {"cities": ["seoul", "busan", "jeju"]})
    assert out["status"] == "succeeded", out
    assert weather_api.cities == ["seoul", "busan", "jeju"]
    assert out["output"] == ["clear", "clear", "rain"]
    sky = [n for n in out["nodes"] if n["node_id"] == "sky"]
    assert [(n["iteration"], n["input"]) for n in sky] == [
        (0, {"city": "seoul"}),
        (1, {"city": "busan"}),
        (2, {"city": "jeju"}),
    ]
    assert out["totals"]["tool_calls"] == 3 and out["totals"]["model_calls"] == 0

    # a failing call stops the run at that item; nothing after it runs
    out = run(api, h, wf["id"], {"cities": ["seoul", "atlantis", "jeju"]})
    assert out["status"] == "failed" and out["error_node"] == "sky"
    assert "HTTP 404" in out["error"]
    assert [(n["node_id"], n["iteration"], n["status"]) for n in out["nodes"]][-1] == ("sky", 1, "error")
    assert "done" not in [n["node_id"] for n in out["nodes"]]
