"""HTTP routes of the prompt registry (`/api/prompts`). Fixed paths (`resolve`, `check`, `import`)
come before `/{name}`; those words are reserved as prompt names."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from axops.auth.deps import Principal, Session, require
from axops.core.text import content_disposition
from axops.prompts import diff as diffing
from axops.prompts import rendering, service, views, yaml_io
from axops.prompts.refs import LABEL_PATTERN
from axops.prompts.schemas import (
    PromptCheckIn,
    PromptCheckOut,
    PromptCreate,
    PromptDiffOut,
    PromptLabelHistory,
    PromptLabelOut,
    PromptLabelSet,
    PromptOut,
    PromptPage,
    PromptRenderIn,
    PromptRenderOut,
    PromptUpdate,
    PromptVersionCreate,
    PromptVersionIn,
    PromptVersionOut,
    PromptVersionPage,
)

router = APIRouter(prefix="/api/prompts", tags=["prompt"])
Reader = Annotated[Principal, require("prompts:read")]
Writer = Annotated[Principal, require("prompts:write")]
Limit = Annotated[int, Query(ge=1, le=200)]
Name = Annotated[str, Path(min_length=1, max_length=200)]
LabelName = Annotated[str, Path(pattern=LABEL_PATTERN)]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]
# A prompt file may be larger than other JSON bodies (the app's body limit for this path).
IMPORT_BODY_LIMIT = ("/api/prompts/import", yaml_io.MAX_IMPORT_BYTES)


async def _one(session, prompt) -> PromptOut:
    return (await views.prompt_out(session, [prompt]))[0]


@router.post("", status_code=201)
async def create_prompt(body: PromptCreate, principal: Writer, session: Session) -> PromptOut:
    return await _one(session, await service.create_prompt(session, principal, body))


@router.get("")
async def list_prompts(
    principal: Reader,
    session: Session,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name or description")] = None,
    tag: Annotated[list[str], Query(description="Prompts carrying all of these tags")] = [],  # noqa: B006
    label: Annotated[str | None, Query(pattern=LABEL_PATTERN, description="Prompts having this label")] = None,
    team_id: uuid.UUID | None = None,
    include_archived: bool = False,
    limit: Limit = 50,
    cursor: str | None = None,
) -> PromptPage:
    prompts, next_cursor, total = await service.list_prompts(
        session,
        principal,
        q=q,
        tag=tag,
        label=label,
        team_id=team_id,
        include_archived=include_archived,
        cursor=cursor,
        limit=limit,
    )
    return PromptPage(items=await views.prompt_out(session, prompts), next_cursor=next_cursor, total=total)


@router.get("/resolve")
async def resolve(
    principal: Reader,
    session: Session,
    ref: Annotated[str, Query(min_length=1, max_length=300, description="name, name@label or name:version")],
) -> PromptVersionOut:
    """The version a reference means now (an archived prompt resolves to nothing)."""
    prompt, version = await service.resolve(session, principal, ref)
    return (await views.version_out(session, prompt, [version]))[0]


@router.post("/check")
async def check(body: PromptCheckIn, principal: Reader) -> PromptCheckOut:
    """The editor's live check: syntax (line, column), undeclared variables, limits, and the names the
    template uses. A broken template is an answer here, not an error."""
    return rendering.check(body)


@router.post(
    "/import",
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
async def import_prompt(
    request: Request,
    principal: Writer,
    session: Session,
    team_id: Annotated[uuid.UUID | None, Query(description="The owning team of a prompt the file creates")] = None,
) -> PromptOut:
    """A prompt file (as `export` writes it, at most 1 MiB): creates the prompt or appends the versions that
    differ, then sets its labels; all or nothing."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in yaml_io.MEDIA_TYPES:
        raise yaml_io.UnsupportedMediaType("Send the prompt file as application/yaml or text/plain.")
    raw = await request.body()
    return await _one(session, await yaml_io.import_yaml(session, principal, raw, team_id))


@router.get("/{name}")
async def get_prompt(name: Name, principal: Reader, session: Session) -> PromptOut:
    return await _one(session, await service.get_prompt(session, principal, name))


@router.patch("/{name}")
async def update_prompt(name: Name, body: PromptUpdate, principal: Writer, session: Session) -> PromptOut:
    return await _one(session, await service.update_prompt(session, principal, name, body))


@router.post("/{name}/archive")
async def archive_prompt(name: Name, principal: Writer, session: Session) -> PromptOut:
    return await _one(session, await service.set_archived(session, principal, name, True))


@router.post("/{name}/unarchive")
async def unarchive_prompt(name: Name, principal: Writer, session: Session) -> PromptOut:
    return await _one(session, await service.set_archived(session, principal, name, False))


@router.post("/{name}/versions", status_code=201)
async def create_version(
    name: Name, body: PromptVersionCreate, principal: Writer, session: Session
) -> PromptVersionOut:
    data = PromptVersionIn(**body.model_dump(exclude={"labels"}))
    version = await service.create_version(session, principal, name, data, body.labels)
    prompt = await service.get_prompt(session, principal, name)
    return (await views.version_out(session, prompt, [version]))[0]


@router.get("/{name}/versions")
async def list_versions(
    name: Name, principal: Reader, session: Session, limit: Limit = 50, cursor: str | None = None
) -> PromptVersionPage:
    prompt, versions, next_cursor, total = await service.list_versions(
        session, principal, name, cursor=cursor, limit=limit
    )
    return PromptVersionPage(
        items=await views.version_out(session, prompt, versions), next_cursor=next_cursor, total=total
    )


@router.get("/{name}/versions/{version}")
async def get_version(name: Name, version: Number, principal: Reader, session: Session) -> PromptVersionOut:
    prompt = await service.get_prompt(session, principal, name)
    found = await service.select_version(session, prompt, number=version)
    return (await views.version_out(session, prompt, [found]))[0]


@router.get("/{name}/labels/history")
async def label_history(
    name: Name,
    principal: Reader,
    session: Session,
    label: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
) -> PromptLabelHistory:
    """Every move of the prompt's labels (or of one), newest first."""
    moves = await service.label_history(session, principal, name, label)
    return PromptLabelHistory(items=await views.moves_out(session, moves))


@router.put("/{name}/labels/{label}")
async def move_label(
    name: Name, label: LabelName, body: PromptLabelSet, principal: Writer, session: Session
) -> PromptLabelOut:
    prompt = await service.get_prompt(session, principal, name)
    moved = await service.move_label(session, principal, prompt, label, body.version, body.reason)
    return await views.label_out(session, moved)


@router.delete("/{name}/labels/{label}", status_code=204)
async def delete_label(name: Name, label: LabelName, principal: Writer, session: Session) -> None:
    await service.delete_label(session, principal, name, label)


@router.get("/{name}/diff")
async def diff(
    name: Name,
    principal: Reader,
    session: Session,
    base: Annotated[int, Query(ge=1, le=2**31 - 1)],
    head: Annotated[int, Query(ge=1, le=2**31 - 1)],
) -> PromptDiffOut:
    prompt = await service.get_prompt(session, principal, name)
    a = await service.select_version(session, prompt, number=base)
    b = await service.select_version(session, prompt, number=head)
    return diffing.diff(a, b)


@router.post("/{name}/render")
async def render(name: Name, body: PromptRenderIn, principal: Reader, session: Session) -> PromptRenderOut:
    """Render a version (`ref`: a label or a number; default: label production, else the latest) or an
    unsaved `draft` with `variables`. 422 names the variable that is missing, unknown or mistyped."""
    return await rendering.render(session, principal, name, body)


@router.get(
    "/{name}/export",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}, "description": "The YAML file"}},
)
async def export_prompt(name: Name, principal: Reader, session: Session) -> Response:
    """The prompt, all its versions and labels as one YAML file (`POST /api/prompts/import` takes it back)."""
    filename, text = await yaml_io.export_yaml(session, principal, name)
    return Response(
        text.encode(),
        media_type="application/yaml",
        headers={"content-disposition": content_disposition(filename)},
    )
