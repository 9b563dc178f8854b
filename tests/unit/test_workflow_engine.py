"""The workflow engine with scripted model, tool and prompt calls: dependency order, skipped branches
propagating, nested loops, limits (model calls, cost, time), sandboxed templates, masked traces; and
the graph checks naming the node at fault."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from axops.agents.workflow_engine import Deps, Engine, ModelAnswer, PromptContent
from axops.agents.workflow_graph import build
from axops.agents.workflow_schemas import Definition
from axops.core.errors import Invalid
from axops.tools.outcome import ToolOutcome


def node(id_, type_, **config):
    return {"id": id_, "type": type_, "config": config}


def edge(source, target, handle=None):
    return {"id": f"{source}>{target}>{handle}", "source": source, "target": target, "source_handle": handle}


def model(id_, content, route="m"):
    return node(id_, "model", route=route, messages=[{"role": "user", "content": content}])


class Script:
    def __init__(self, cost=0.0, delay=0.0):
        self.bodies: list[dict] = []
        self.tools: list[tuple[str, dict]] = []
        self.cost, self.delay = cost, delay

    async def chat(self, body):
        self.bodies.append(body)
        await asyncio.sleep(self.delay)
        text = body["messages"][-1]["content"]
        return ModelAnswer(f"<{text}>", prompt_tokens=len(text), completion_tokens=1, cost=self.cost, latency_ms=1.5)

    async def tool(self, tool_id, arguments):
        self.tools.append((tool_id, arguments))
        if arguments.get("fail"):
            return ToolOutcome(ok=False, error="boom", error_kind="tool_error", latency_ms=0.5)
        return ToolOutcome(ok=True, output={"echo": arguments}, latency_ms=0.5)

    async def prompt(self, name, version, label):
        return PromptContent("text", "Hi {{ who }}", [{"name": "who", "type": "string"}], {"route": "bound"})

    def deps(self):
        return Deps(chat=self.chat, call_tool=self.tool, prompt=self.prompt)


def engine(definition: dict, script: Script) -> Engine:
    d = Definition.model_validate(definition)
    return Engine(build(d), d.limits, script.deps())


async def test_branches_skip_and_what_only_they_lead_to_is_skipped():
    d = {
        "nodes": [
            node("start", "input"),
            node("c", "condition", expression="input.x == 'a'"),
            model("a1", "A"),
            model("a2", "after {{ a1 }}"),
            model("b1", "B"),
            node("out", "output", template="{{ a2 if a2 is defined else b1 }}"),
        ],
        "edges": [
            edge("start", "c"),
            edge("c", "a1", "true"),
            edge("a1", "a2"),
            edge("c", "b1", "false"),
            edge("a2", "out"),
            edge("b1", "out"),
        ],
        "inputs": [{"name": "x"}],
    }
    s = Script()
    result = await engine(d, s).run({"x": "b"})
    assert result.status == "succeeded" and result.output == "<B>"
    assert [(t.node_id, t.status) for t in result.traces] == [
        ("start", "ok"),
        ("c", "ok"),
        ("a1", "skipped"),
        ("a2", "skipped"),
        ("b1", "ok"),
        ("out", "ok"),
    ]
    result = await engine(d, s).run({"x": "a"})
    assert result.output == "<after <A>>"


async def test_nested_loops_collect_each_items_last_result():
    d = {
        "nodes": [
            node("start", "input"),
            node("rows", "loop", items="[[1, 2], [3]]"),
            node("cells", "loop", items="item"),
            node("t", "tool", tool_id="00000000-0000-0000-0000-000000000001", arguments={"v": "{{ item * 10 }}"}),
            node("out", "output", template="{{ rows }}"),
        ],
        "edges": [
            edge("start", "rows"),
            edge("rows", "cells", "body"),
            edge("cells", "t", "body"),
            edge("rows", "out"),
        ],
    }
    s = Script()
    result = await engine(d, s).run({})
    assert result.status == "succeeded", result.error
    assert [a for _, a in s.tools] == [{"v": 10}, {"v": 20}, {"v": 30}]  # a single expression keeps its type
    assert result.output == [[{"echo": {"v": 10}}, {"echo": {"v": 20}}], [{"echo": {"v": 30}}]]
    assert [(t.node_id, t.iteration) for t in result.traces if t.node_id == "t"] == [("t", 0), ("t", 1), ("t", 0)]


async def test_prompt_nodes_render_the_saved_version_with_the_inputs():
    d = {
        "inputs": [{"name": "who"}],
        "nodes": [
            node("start", "input"),
            node("p", "model", prompt={"name": "greet"}),
            node("o", "output", template="{{ p }}"),
        ],
        "edges": [edge("start", "p"), edge("p", "o")],
    }
    s = Script()
    result = await engine(d, s).run({"who": "Mina"})
    assert result.output == "<Hi Mina>"
    assert s.bodies == [{"model": "bound", "messages": [{"role": "user", "content": "Hi Mina"}]}]


def _chain(n: int, limits: dict) -> dict:
    nodes = [node("start", "input")] + [model(f"m{i}", f"step {i}") for i in range(n)]
    nodes.append(node("o", "output", template="{{ m0 }}"))
    ids = [x["id"] for x in nodes]
    return {"nodes": nodes, "edges": [edge(a, b) for a, b in itertools.pairwise(ids)], "limits": limits}


async def test_limits_stop_the_run_at_the_node():
    result = await engine(_chain(5, {"max_model_calls": 3}), Script()).run({})
    assert result.status == "failed" and result.error_node == "m3" and result.totals["model_calls"] == 3
    assert result.output is None

    result = await engine(_chain(5, {"max_cost": 0.25}), Script(cost=0.1)).run({})
    assert result.status == "failed" and result.error_node == "m2" and "cost limit" in result.error

    result = await engine(_chain(3, {"max_seconds": 0.2}), Script(delay=0.15)).run({})
    assert result.status == "failed" and result.error_node == "m1" and "0.2 s" in result.error
    assert [t.status for t in result.traces] == ["ok", "ok", "error"]


@pytest.mark.parametrize(
    "template",
    ["{{ ''.__class__.__mro__ }}", "{{ 'x' * 1000000 }}", "{% for i in range(10**6) %}{% endfor %}", "{{ missing }}"],
)
async def test_templates_run_in_the_prompt_sandbox(template):
    d = {"nodes": [node("start", "input"), node("o", "output", template=template)], "edges": [edge("start", "o")]}
    result = await engine(d, Script()).run({})
    assert result.status == "failed" and result.error_node == "o"


async def test_traces_mask_pii_and_tool_errors_fail_the_node():
    d = {
        "inputs": [{"name": "email"}],
        "nodes": [
            node("start", "input"),
            node(
                "t",
                "tool",
                tool_id="00000000-0000-0000-0000-000000000001",
                arguments={"to": "{{ input.email }}", "fail": True},
            ),
            node("o", "output", template="x"),
        ],
        "edges": [edge("start", "t"), edge("t", "o")],
    }
    result = await engine(d, Script()).run({"email": "mina.kim@example.com"})
    assert result.status == "failed" and result.error_node == "t" and "boom" in result.error
    assert "mina.kim@example.com" not in str([t.input for t in result.traces])
    assert [t.node_id for t in result.traces] == ["start", "t"]


@pytest.mark.parametrize(
    "mutate,where",
    [
        (lambda d: d["edges"].append(edge("b", "start")), "edge"),  # into the input
        (lambda d: d["edges"].append(edge("a", "l")), "node"),  # a cycle through the loop
        (lambda d: d["nodes"].append(node("x", "output", template="{{ 1 }}")), "node"),  # unreachable
        (lambda d: d["edges"].append(edge("start", "b")), "edge"),  # into a loop body from outside
        (lambda d: d["nodes"].append(node("item", "output", template="x")), "node"),  # a reserved id
        (lambda d: d["nodes"][1]["config"].update(max_items=500), "node"),
    ],
)
def test_graph_checks_name_the_node_or_edge(mutate, where):
    d = {
        "nodes": [
            node("start", "input"),
            node("l", "loop", items="[1, 2]"),
            model("a", "{{ item }}"),
            model("b", "{{ a }}"),
            node("o", "output", template="{{ l }}"),
        ],
        "edges": [edge("start", "l"), edge("l", "a", "body"), edge("a", "b"), edge("l", "o")],
    }
    build(Definition.model_validate(d))  # valid as given
    mutate(d)
    with pytest.raises(Invalid) as e:
        build(Definition.model_validate(d))
    assert where in e.value.extra and e.value.code == "workflow_definition_invalid"


async def test_values_in_the_state_are_data_never_templates():
    """An input (or a model's answer) holding template syntax is passed on as text, not evaluated."""
    d = {
        "inputs": [{"name": "q"}],
        "nodes": [node("start", "input"), model("m", "Q: {{ input.q }}"), node("o", "output", template="{{ m }}")],
        "edges": [edge("start", "m"), edge("m", "o")],
    }
    s = Script()
    result = await engine(d, s).run({"q": "{{ 7 * 7 }} {% for x in range(9) %}x{% endfor %}"})
    assert s.bodies[0]["messages"][0]["content"] == "Q: {{ 7 * 7 }} {% for x in range(9) %}x{% endfor %}"
    assert result.output == "<Q: {{ 7 * 7 }} {% for x in range(9) %}x{% endfor %}>"
