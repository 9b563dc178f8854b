"""HTTP routes of workflows (`/api/agent/workflows`, `/api/agent/workflow-runs`). The fixed path
`import` comes before `/{workflow_id}`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from axops.agents import workflow_runs, workflow_yaml, workflows
from axops.agents.workflow_schemas import (
    WorkflowCreate,
    WorkflowOut,
    WorkflowPage,
    WorkflowRunIn,
    WorkflowRunOut,
    WorkflowRunPage,
    WorkflowVersionIn,
    WorkflowVersionOut,
    WorkflowVersionPage,
)
from axops.auth.deps import Principal, Session, require
from axops.core.errors import AppError
from axops.core.state import State
from axops.core.text import content_disposition

router = APIRouter(prefix="/api/agent", tags=["agent"])
Reader = Annotated[Principal, require("agents:read")]
Writer = Annotated[Principal, require("agents:write")]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


def _version_out(v) -> WorkflowVersionOut:
    return WorkflowVersionOut.model_validate(v, from_attributes=True)


async def _outs(session, rows) -> list[WorkflowOut]:
    """The workflows with their newest run's status and start."""
    last = await workflow_runs.last_runs(session, [r.id for r in rows])
    outs = []
    for r in rows:
        status, at = last.get(r.id, (None, None))
        outs.append(
            WorkflowOut.model_validate(r, from_attributes=True).model_copy(
                update={"last_run_status": status, "last_run_at": at}
            )
        )
    return outs


@router.get("/workflows")
async def list_workflows(
    principal: Reader,
    session: Session,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
    include_archived: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WorkflowPage:
    rows, next_cursor, total = await workflows.list_workflows(
        session, principal, q=q, include_archived=include_archived, cursor=cursor, limit=limit
    )
    return WorkflowPage(items=await _outs(session, rows), next_cursor=next_cursor, total=total)


@router.post("/workflows", status_code=201)
async def create_workflow(body: WorkflowCreate, principal: Writer, session: Session) -> WorkflowOut:
    return WorkflowOut.model_validate(await workflows.create_workflow(session, principal, body), from_attributes=True)


@router.post(
    "/workflows/import",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_workflow(
    request: Request,
    principal: Writer,
    session: Session,
    team_id: Annotated[uuid.UUID | None, Query(description="The owning team of a workflow the file creates")] = None,
    workflow_id: Annotated[
        uuid.UUID | None, Query(description="Add the file as a new version of this workflow")
    ] = None,
) -> WorkflowVersionOut:
    """A workflow file (as the YAML export writes it, at most 1 MiB): a new version of `workflow_id`, else of
    the team's workflow of the file's name, else a new workflow. 422 `workflow_import_invalid` /
    `workflow_definition_invalid` with the `line` (and `node`) at fault."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in YAML_TYPES:
        raise UnsupportedMediaType("Send the workflow file as application/yaml or text/plain.")
    raw = await request.body()
    _, version = await workflow_yaml.import_yaml(session, principal, raw, team_id, workflow_id)
    return _version_out(version)


@router.get("/workflows/{workflow_id}")
async def get_workflow(workflow_id: uuid.UUID, principal: Reader, session: Session) -> WorkflowOut:
    return (await _outs(session, [await workflows.get_workflow(session, principal, workflow_id)]))[0]


@router.get("/workflows/{workflow_id}/runs")
async def list_workflow_runs(
    workflow_id: uuid.UUID,
    principal: Reader,
    session: Session,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WorkflowRunPage:
    """The workflow's runs, newest first (`GET /api/agent/workflow-runs/{id}` has a run's node traces)."""
    rows, next_cursor = await workflow_runs.list_runs(session, principal, workflow_id, cursor=cursor, limit=limit)
    return WorkflowRunPage(
        items=[WorkflowRunOut.model_validate(workflows.run_out(r, [])) for r in rows], next_cursor=next_cursor
    )


@router.post("/workflows/{workflow_id}/archive")
async def archive_workflow(workflow_id: uuid.UUID, principal: Writer, session: Session) -> WorkflowOut:
    wf = await workflows.set_archived(session, principal, workflow_id, True)
    return WorkflowOut.model_validate(wf, from_attributes=True)


@router.post("/workflows/{workflow_id}/unarchive")
async def unarchive_workflow(workflow_id: uuid.UUID, principal: Writer, session: Session) -> WorkflowOut:
    wf = await workflows.set_archived(session, principal, workflow_id, False)
    return WorkflowOut.model_validate(wf, from_attributes=True)


@router.get("/workflows/{workflow_id}/versions")
async def list_workflow_versions(workflow_id: uuid.UUID, principal: Reader, session: Session) -> WorkflowVersionPage:
    rows = await workflows.list_versions(session, principal, workflow_id)
    return WorkflowVersionPage(items=[_version_out(v) for v in rows])


@router.post("/workflows/{workflow_id}/versions", status_code=201)
async def create_workflow_version(
    workflow_id: uuid.UUID, body: WorkflowVersionIn, principal: Writer, session: Session
) -> WorkflowVersionOut:
    return _version_out(await workflows.create_version(session, principal, workflow_id, body))


@router.get("/workflows/{workflow_id}/versions/{number}")
async def get_workflow_version(
    workflow_id: uuid.UUID, number: Number, principal: Reader, session: Session
) -> WorkflowVersionOut:
    _, version = await workflows.get_version(session, principal, workflow_id, number)
    return _version_out(version)


@router.get(
    "/workflows/{workflow_id}/versions/{number}/yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}, "description": "The YAML file"}},
)
async def export_workflow_version(
    workflow_id: uuid.UUID, number: Number, principal: Reader, session: Session
) -> Response:
    """The version as a YAML file (`POST /api/agent/workflows/import` takes it back)."""
    filename, text = await workflow_yaml.export_yaml(session, principal, workflow_id, number)
    return Response(
        text.encode(), media_type="application/yaml", headers={"content-disposition": content_disposition(filename)}
    )


@router.post("/workflows/{workflow_id}/runs", status_code=201)
async def run_workflow(
    workflow_id: uuid.UUID, body: WorkflowRunIn, principal: Writer, session: Session, state: State
) -> WorkflowRunOut:
    """Runs the version (default: the latest) in the request, within its time limit; the run, failed or
    not, is returned with its node traces."""
    run = await workflows.run_workflow(state, principal, workflow_id, body)  # its own short transactions
    run, nodes = await workflows.get_run(session, principal, run.id)
    return WorkflowRunOut.model_validate(workflows.run_out(run, nodes))


@router.get("/workflow-runs/{run_id}")
async def get_workflow_run(run_id: uuid.UUID, principal: Reader, session: Session) -> WorkflowRunOut:
    run, nodes = await workflows.get_run(session, principal, run_id)
    return WorkflowRunOut.model_validate(workflows.run_out(run, nodes))
