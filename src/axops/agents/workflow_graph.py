"""A workflow definition as a graph: the checks a version must pass before it is saved (one input node,
known node types with valid configs and templates, no dangling edges, handles that fit the node, no
cycles, every node reachable from the input, loop bodies entered only through their loop) and the
structure the engine walks (topological order, loop bodies, the innermost loop owning each node).

A loop's body is every node reached from its `body` edges; the body's nodes run once per item and
the last of them that ran gives the item's result. Nothing outside a body may lead into it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from axops.agents.workflow_schemas import CONFIGS, Definition, Edge, ModelConfig, Node
from axops.agents.workflow_templates import TemplateFailure, check_expression, check_text, check_value
from axops.core.errors import Invalid

RESERVED_IDS = frozenset({"item", "index", "loop", "true", "false", "none"})


def _invalid(detail: str, node: str | None = None, edge: str | None = None) -> Invalid:
    extra = {k: v for k, v in (("node", node), ("edge", edge)) if v is not None}
    prefix = f"Node '{node}': " if node else (f"Edge '{edge}': " if edge else "")
    return Invalid(prefix + detail, code="workflow_definition_invalid", **extra)


@dataclass
class Graph:
    nodes: dict[str, Node]
    configs: dict[str, BaseModel]
    edges_in: dict[str, list[Edge]]
    edges_out: dict[str, list[Edge]]
    order: list[str]  # topological, stable in the definition's order
    bodies: dict[str, set[str]] = field(default_factory=dict)  # loop id → every node inside (nested too)
    owner: dict[str, str | None] = field(default_factory=dict)  # node → innermost loop holding it
    input_id: str = ""

    def members(self, loop: str | None) -> list[str]:
        """The nodes a level runs (the top, or one loop's body without its nested loops' bodies), in order."""
        return [n for n in self.order if self.owner[n] == loop]

    @property
    def model_nodes(self) -> int:
        return sum(1 for n in self.nodes.values() if n.type == "model")


def _check_config(node: Node) -> BaseModel:
    try:
        config = CONFIGS[node.type].model_validate(node.config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        raise _invalid(f"config.{where}: {first.get('msg', 'invalid')}", node=node.id) from None
    try:
        if isinstance(config, ModelConfig):
            if (config.prompt is None) == (config.messages is None):
                raise _invalid("a model node has either a prompt or messages (with a route).", node=node.id)
            if config.messages is not None and not config.route:
                raise _invalid("a model node with messages names its gateway route.", node=node.id)
            if config.prompt is not None and config.prompt.version and config.prompt.label:
                raise _invalid("choose the prompt's version or its label, not both.", node=node.id)
            for m in config.messages or []:
                check_text(m.content)
            check_value(config.variables)
            check_value(config.params)
        elif node.type == "tool":
            check_value(config.arguments)  # type: ignore[attr-defined]
        elif node.type == "condition":
            check_expression(config.expression)  # type: ignore[attr-defined]
        elif node.type == "loop":
            check_expression(config.items)  # type: ignore[attr-defined]
        elif node.type == "output":
            check_value(config.template)  # type: ignore[attr-defined]
    except TemplateFailure as exc:
        raise _invalid(str(exc), node=node.id) from None
    return config


_HANDLES = {"condition": {"true", "false"}, "loop": {"body", None}}


def build(definition: Definition) -> Graph:
    """The checked graph, or 422 `workflow_definition_invalid` naming the node or edge at fault."""
    nodes: dict[str, Node] = {}
    for node in definition.nodes:
        if node.id in nodes:
            raise _invalid("the id is used twice.", node=node.id)
        if node.id.lower() in RESERVED_IDS or (node.id == "input" and node.type != "input"):
            raise _invalid(f"'{node.id}' is reserved in templates; choose another id.", node=node.id)
        nodes[node.id] = node
    inputs = [n.id for n in nodes.values() if n.type == "input"]
    if len(inputs) != 1:
        raise _invalid(f"A workflow has exactly one input node ({len(inputs)} given).")
    if not any(n.type == "output" for n in nodes.values()):
        raise _invalid("A workflow needs an output node.")
    configs = {n.id: _check_config(n) for n in nodes.values()}

    edges_in: dict[str, list[Edge]] = {n: [] for n in nodes}
    edges_out: dict[str, list[Edge]] = {n: [] for n in nodes}
    seen_edges: set[str] = set()
    for e in definition.edges:
        if e.id in seen_edges:
            raise _invalid("the id is used twice.", edge=e.id)
        seen_edges.add(e.id)
        for end in (e.source, e.target):
            if end not in nodes:
                raise _invalid(f"it names the node '{end}', which the workflow does not have.", edge=e.id)
        if e.source == e.target:
            raise _invalid("an edge may not lead from a node to itself.", edge=e.id)
        kind = nodes[e.source].type
        if e.source_handle not in _HANDLES.get(kind, {None}):
            allowed = sorted(h or "none" for h in _HANDLES.get(kind, {None}))
            raise _invalid(f"a {kind} node's edges leave through {', '.join(allowed)}.", edge=e.id)
        if nodes[e.target].type == "input":
            raise _invalid("nothing leads into the input node.", edge=e.id)
        if kind == "output":
            raise _invalid("nothing leaves an output node.", edge=e.id)
        edges_in[e.target].append(e)
        edges_out[e.source].append(e)

    order = _topological(nodes, edges_in, edges_out)
    input_id = inputs[0]
    reached = _reachable([input_id], edges_out)
    for n in nodes:
        if n not in reached:
            raise _invalid("no path leads to it from the input node.", node=n)

    bodies: dict[str, set[str]] = {}
    for n, node in nodes.items():
        if node.type != "loop":
            continue
        starts = [e.target for e in edges_out[n] if e.source_handle == "body"]
        if not starts:
            raise _invalid("a loop needs a 'body' edge to the first node of its body.", node=n)
        body = _reachable(starts, edges_out)
        for b in body:
            if nodes[b].type == "output":
                raise _invalid("an output node cannot be inside a loop's body.", node=b)
            for e in edges_in[b]:
                if e.source not in body and not (e.source == n and e.source_handle == "body"):
                    raise _invalid(f"it leads into the body of loop '{n}' from outside it.", edge=e.id)
        bodies[n] = body
    owner: dict[str, str | None] = {}
    for n in nodes:
        holding = [loop for loop, body in bodies.items() if n in body]
        owner[n] = min(holding, key=lambda loop: len(bodies[loop])) if holding else None
    return Graph(nodes, configs, edges_in, edges_out, order, bodies, owner, input_id)


def _reachable(starts: list[str], edges_out: dict[str, list[Edge]]) -> set[str]:
    seen, todo = set(starts), deque(starts)
    while todo:
        for e in edges_out[todo.popleft()]:
            if e.target not in seen:
                seen.add(e.target)
                todo.append(e.target)
    return seen


def _topological(nodes: dict[str, Node], edges_in, edges_out) -> list[str]:
    position = {n: i for i, n in enumerate(nodes)}
    pending = {n: len(edges_in[n]) for n in nodes}
    ready = sorted((n for n, k in pending.items() if k == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for e in edges_out[n]:
            pending[e.target] -= 1
            if pending[e.target] == 0:
                ready.append(e.target)
                ready.sort(key=position.__getitem__)
    if len(order) < len(nodes):
        stuck = next(n for n in nodes if pending[n] > 0)
        raise _invalid("it is part of a cycle; repeat steps with a loop node instead.", node=stuck)
    return order
