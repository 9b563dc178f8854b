"""Running a workflow version: nodes in dependency order from the input node, a trace record per node
(per item inside a loop), limits on time, cost and model calls. The engine holds no database session:
the model call, the tool call and the prompt lookup are handed in, so the service wires the gateway
client (agents/llm.py), the tool registry and the prompt registry, and the tests can script them.

A node runs when at least one edge into it is live: an edge is live when its source ran, and for a
condition only the branch its expression chose (a loop's `body` edges are live inside the body). A
node with no live edge is skipped, and so are the nodes only it leads to. The first error stops the
run: the failing node is marked and nothing after it runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from axops import templating
from axops.agents.workflow_graph import Graph
from axops.agents.workflow_schemas import Limits
from axops.agents.workflow_templates import TemplateFailure, evaluate, render_text, render_value
from axops.pii.mask import redact

MAX_TRACE_CHARS = 16_000  # a node's input or output in its trace record, as JSON
MAX_STATE_VALUE_CHARS = 1_000_000  # one node's output kept in the state


@dataclass(slots=True)
class ModelAnswer:
    """What a model call gave: the fields of agents.llm.ChatResult the engine uses."""

    content: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class PromptContent:
    kind: str
    template: Any
    variables: list[dict]
    binding: dict


@dataclass
class Deps:
    chat: Callable[[dict], Awaitable[ModelAnswer]]
    call_tool: Callable[[str, dict], Awaitable[Any]]  # → tools.outcome.ToolOutcome
    prompt: Callable[[str, int | None, str | None], Awaitable[PromptContent]]


@dataclass(slots=True)
class Trace:
    node_id: str
    node_type: str
    iteration: int | None
    status: str
    input: Any = None
    output: Any = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    error: str | None = None


@dataclass
class Result:
    status: str = "running"
    output: Any = None
    error: str | None = None
    error_node: str | None = None
    traces: list[Trace] = field(default_factory=list)
    totals: dict = field(
        default_factory=lambda: {
            "latency_ms": 0.0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost": 0.0,
            "model_calls": 0,
            "tool_calls": 0,
            "nodes": 0,
        }
    )


class NodeFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.traced = False
        self.fields: dict = {}


def masked(value: Any) -> Any:
    """PII masked in every string, then capped: a value longer than the cap as JSON keeps a preview."""
    if isinstance(value, str):
        value = redact(value)
    elif isinstance(value, list):
        value = [masked(v) for v in value]
    elif isinstance(value, dict):
        value = {str(k): masked(v) for k, v in value.items()}
    return value


def capped(value: Any) -> Any:
    text = orjson.dumps(value, default=str).decode()
    if len(text) <= MAX_TRACE_CHARS:
        return value
    return {"truncated": True, "chars": len(text), "preview": text[:MAX_TRACE_CHARS]}


class Engine:
    def __init__(self, graph: Graph, limits: Limits, deps: Deps) -> None:
        self.graph, self.limits, self.deps = graph, limits, deps
        self.result = Result()

    async def run(self, inputs: dict) -> Result:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.limits.max_seconds):
                await self._level(None, {"input": inputs}, None, inputs)
            self.result.status = "succeeded"
        except NodeFailed as exc:
            self.result.status, self.result.error = "failed", exc.message
        except TimeoutError:
            self.result.status = "failed"
            self.result.error = f"The run took longer than its limit of {self.limits.max_seconds:g} s."
            node = self._current
            self.result.error_node = node
            if node is not None:
                self._trace(node, self._iteration, "error", error=self.result.error)
        self.result.totals["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
        return self.result

    _current: str | None = None
    _iteration: int | None = None

    def _trace(self, node_id: str, iteration: int | None, status: str, **fields) -> Trace:
        t = Trace(node_id, self.graph.nodes[node_id].type, iteration, status, **fields)
        self.result.traces.append(t)
        self.result.totals["nodes"] += 1
        for k in ("prompt_tokens", "completion_tokens", "cost"):
            self.result.totals[k] += getattr(t, k)
        return t

    async def _level(self, loop: str | None, state: dict, iteration: int | None, inputs: dict | None = None) -> Any:
        """Run the nodes a level holds; the output of the last node that ran (a loop item's result)."""
        ran: set[str] = set()
        chosen: dict[str, bool] = {}  # condition → its branch
        last = None
        for n in self.graph.members(loop):
            node = self.graph.nodes[n]
            if node.type == "input":
                live = True
            else:
                live = any(self._live(e, ran, chosen, loop) for e in self.graph.edges_in[n])
            if not live:
                self._trace(n, iteration, "skipped")
                continue
            self._current, self._iteration = n, iteration
            begin = time.perf_counter()
            try:
                output, fields = await self._node(n, state, iteration, inputs)
            except NodeFailed as exc:
                if exc.traced:  # a node inside this loop's body failed: it is the one marked
                    raise
                exc.traced = True
                self.result.error_node = n
                self._trace(
                    n,
                    iteration,
                    "error",
                    error=exc.message,
                    latency_ms=round((time.perf_counter() - begin) * 1000, 3),
                    **exc.fields,
                )
                raise
            if len(orjson.dumps(output, default=str)) > MAX_STATE_VALUE_CHARS:
                self.result.error_node = n
                message = f"The node's output is larger than {MAX_STATE_VALUE_CHARS:,} characters."
                self._trace(n, iteration, "error", error=message)
                failed = NodeFailed(message)
                failed.traced = True
                raise failed
            state[n] = output
            if node.type == "condition":
                chosen[n] = bool(output)
            ran.add(n)
            last = output
            fields.setdefault("latency_ms", round((time.perf_counter() - begin) * 1000, 3))
            self._trace(n, iteration, "ok", output=capped(masked(output)), **fields)
            if node.type == "output":
                self.result.output = output
        return last

    @staticmethod
    def _live(edge, ran: set[str], chosen: dict[str, bool], loop: str | None) -> bool:
        if edge.source_handle == "body":
            return edge.source == loop  # the body edges of the loop running this level
        if edge.source not in ran:
            return False
        if edge.source_handle in ("true", "false"):
            return chosen.get(edge.source) == (edge.source_handle == "true")
        return True

    async def _node(self, n: str, state: dict, iteration: int | None, inputs: dict | None) -> tuple[Any, dict]:
        node = self.graph.nodes[n]
        config: Any = self.graph.configs[n]
        try:
            if node.type == "input":
                return dict(inputs or {}), {"input": capped(masked(inputs or {}))}
            if node.type == "model":
                return await self._model(n, config, state)
            if node.type == "tool":
                arguments = render_value(config.arguments, state)
                self.result.totals["tool_calls"] += 1
                outcome = await self.deps.call_tool(str(config.tool_id), arguments)
                fields = {"input": capped(masked(arguments)), "latency_ms": round(outcome.latency_ms, 3)}
                if not outcome.ok:
                    exc = NodeFailed(f"The tool failed ({outcome.error_kind}): {outcome.error}")
                    exc.fields = {"input": fields["input"]}
                    raise exc
                return outcome.output, fields
            if node.type == "condition":
                return bool(evaluate(config.expression, state)), {}
            if node.type == "loop":
                return await self._loop(n, config, state)
            if node.type == "output":
                return render_value(config.template, state), {}
        except TemplateFailure as exc:
            raise NodeFailed(str(exc)) from None
        raise NodeFailed(f"Unknown node type '{node.type}'.")

    async def _loop(self, n: str, config, state: dict) -> tuple[Any, dict]:
        items = evaluate(config.items, state)
        if not isinstance(items, list):
            raise NodeFailed(f"The items expression gave a {type(items).__name__}, not a list.")
        if len(items) > config.max_items:
            raise NodeFailed(f"The loop has {len(items)} items; its limit is {config.max_items}.")
        results = []
        for index, item in enumerate(items):
            inner = {**state, "item": item, "index": index}
            results.append(await self._level(n, inner, index))
        return results, {"input": capped(masked({"items": len(items)}))}

    async def _model(self, n: str, config, state: dict) -> tuple[Any, dict]:
        limits, totals = self.limits, self.result.totals
        if totals["model_calls"] >= limits.max_model_calls:
            raise NodeFailed(f"The run reached its limit of {limits.max_model_calls} model calls.")
        if limits.max_cost is not None and totals["cost"] >= limits.max_cost:
            raise NodeFailed(f"The run reached its cost limit of {limits.max_cost:g}.")
        route, params = config.route, dict(config.params)
        if config.prompt is not None:
            p = config.prompt
            content = await self.deps.prompt(p.name, p.version, p.label)
            given = {k: render_value(v, state) for k, v in config.variables.items()}
            for v in content.variables:  # undeclared by the node: taken from the run's inputs, then the state
                if v["name"] not in given:
                    if v["name"] in state["input"]:
                        given[v["name"]] = state["input"][v["name"]]
                    elif v["name"] in state:
                        given[v["name"]] = state[v["name"]]
            try:
                rendered = await asyncio.to_thread(
                    templating.render, content.kind, content.template, content.variables, given
                )
            except templating.RenderError as exc:
                raise NodeFailed(f"The prompt '{p.name}' did not render: {exc.message}") from None
            messages = rendered.messages or [{"role": "user", "content": rendered.text}]
            route = route or content.binding.get("route")
            params = {**(content.binding.get("parameters") or {}), **params}
            if not route:
                raise NodeFailed(f"The prompt '{p.name}' binds no route: name one in the node.")
        else:
            messages = [{"role": m.role, "content": render_text(m.content, state)} for m in config.messages]
        params = render_value(params, state)
        body = {**params, "model": route, "messages": messages}
        totals["model_calls"] += 1
        answer = await self.deps.chat(body)
        fields = {
            "input": capped(masked({"route": route, "messages": messages})),
            "latency_ms": round(answer.latency_ms, 3),
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "cost": answer.cost,
        }
        if answer.error is not None:
            exc = NodeFailed(f"The model call failed: {answer.error}")
            exc.fields = {k: v for k, v in fields.items() if k != "latency_ms"}
            raise exc
        if limits.max_cost is not None and totals["cost"] + answer.cost > limits.max_cost:
            exc = NodeFailed(f"The run went over its cost limit of {limits.max_cost:g}.")
            exc.fields = {k: v for k, v in fields.items() if k != "latency_ms"}
            raise exc
        return answer.content, fields
