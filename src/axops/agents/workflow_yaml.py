"""A workflow version as a YAML file, and a file imported as a new workflow or a new version of one.

Import reads at most 1 MiB with PyYAML's safe loader only, refuses a file whose aliases would expand
past MAX_NODES values, validates with the API's own models and the graph checks before writing
anything, and runs in the request's one transaction. Errors carry the line of the YAML where it can
be told (syntax errors; a field error points at the node's mapping)."""

from __future__ import annotations

import uuid

import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.agents import workflows
from axops.agents.workflow_models import Workflow, WorkflowVersion
from axops.agents.workflow_schemas import Definition, WorkflowCreate, WorkflowVersionIn
from axops.auth.deps import Principal
from axops.auth.scoping import owning_team
from axops.core import yaml_files
from axops.core.errors import Invalid
from axops.registry.schemas import ModelName

FORMAT = 1
_NAME = TypeAdapter(ModelName)


def dump(wf: Workflow, version: WorkflowVersion) -> str:
    doc = {
        "axops_workflow": FORMAT,
        "name": wf.name,
        "description": wf.description,
        "message": version.message,
        "definition": version.definition,
    }
    return yaml_files.dump(doc)


async def export_yaml(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID, number: int
) -> tuple[str, str]:
    """(file name, YAML text)."""
    wf, version = await workflows.get_version(session, principal, workflow_id, number)
    return f"{wf.name}-v{version.version}.yaml", dump(wf, version)


def _invalid(detail: str, **extra) -> Invalid:
    return Invalid(detail, code="workflow_import_invalid", **extra)


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """The line (1-based) of the deepest part of `loc` the YAML tree holds."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def parse(raw: bytes) -> tuple[str, str, str, Definition]:
    """(name, description, message, definition)."""
    doc, node = yaml_files.load(raw, what="A workflow file", code="workflow_import_invalid")
    if not isinstance(doc, dict) or not isinstance(doc.get("definition"), dict):
        raise _invalid("A workflow file is a mapping with name and definition.", line=1)
    name = doc.get("name")
    try:
        _NAME.validate_python(name)
    except ValidationError:
        raise _invalid("The file's name is not a workflow name.", line=_line_of(node, ("name",))) from None
    description, message = doc.get("description") or "", doc.get("message") or ""
    if not isinstance(description, str) or not isinstance(message, str):
        raise _invalid("description and message are text.")
    try:
        definition = Definition.model_validate(doc["definition"])
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first.get("loc", ()))
        where = ".".join(str(p) for p in loc) or "definition"
        raise _invalid(
            f"definition.{where}: {first.get('msg', 'invalid')}",
            line=_line_of(node, ("definition", *loc)),
            loc=["definition", *loc],
        ) from None
    try:
        workflows.checked(definition)
    except Invalid as exc:
        node_id = exc.extra.get("node")
        if node_id is not None:
            index = next((i for i, n in enumerate(definition.nodes) if n.id == node_id), None)
            if index is not None:
                exc.extra["line"] = _line_of(node, ("definition", "nodes", index))
        raise
    return name, description[:5000], message[:2000], definition


async def import_yaml(
    session: AsyncSession,
    principal: Principal,
    raw: bytes,
    team_id: uuid.UUID | None = None,
    workflow_id: uuid.UUID | None = None,
) -> tuple[Workflow, WorkflowVersion]:
    """A new version of `workflow_id`, else of the team's workflow of the file's name, else a new workflow."""
    name, description, message, definition = parse(raw)
    version_in = WorkflowVersionIn(definition=definition, message=message)
    if workflow_id is None:
        team = owning_team(principal, team_id)
        workflow_id = await session.scalar(
            select(Workflow.id).where(Workflow.team_id == team, func.lower(Workflow.name) == name.lower())
        )
        if workflow_id is None:
            wf = await workflows.create_workflow(
                session,
                principal,
                WorkflowCreate(name=name, description=description, team_id=team, version=version_in),
            )
            _, version = await workflows.get_version(session, principal, wf.id, 1)
            return wf, version
    version = await workflows.create_version(session, principal, workflow_id, version_in)
    wf = await workflows.get_workflow(session, principal, workflow_id)
    return wf, version
