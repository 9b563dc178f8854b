"""HTTP routes of the model registry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from axops.auth import recovery as auth_recovery
from axops.auth.deps import Principal, Session, require
from axops.auth.two_factor import require_recent_mfa
from axops.core.errors import Invalid, problem_response
from axops.core.pagination import Page, json_page_response
from axops.core.state import State, Storage, state_of
from axops.core.text import content_disposition
from axops.registry import compare as comparing
from axops.registry import files, imports, recovery, service, uploads
from axops.registry import tasks as models_tasks
from axops.registry.models import ModelVersion
from axops.registry.schemas import (
    AliasSet,
    CardUpdate,
    ChunkReceived,
    CompareOut,
    CompareRequest,
    DeletedModelOut,
    FileOut,
    HuggingFaceImport,
    LocalImport,
    ModelCreate,
    ModelDelete,
    ModelOut,
    ModelUpdate,
    SignedFileUrl,
    StageChange,
    Task,
    UploadStart,
    VersionOut,
)

router = APIRouter(prefix="/api", tags=["model"])
Reader = Annotated[Principal, require("models:read")]
Writer = Annotated[Principal, require("models:write")]
Importer = Annotated[Principal, require("models:import_server")]
Limit = Annotated[int, Query(ge=1, le=200)]
AliasName = Annotated[str, Path(pattern=service.ALIAS_PATTERN)]


async def _model_out(session, models) -> list[ModelOut]:
    summaries = await service.model_summaries(session, [m.id for m in models])
    return [ModelOut.model_validate(m).model_copy(update=summaries[m.id]) for m in models]


async def _version_out(session, versions: list[ModelVersion], with_files: bool = False) -> list[VersionOut]:
    aliases = await service.version_aliases(session, [v.id for v in versions])
    out = []
    for v in versions:
        files = [FileOut.model_validate(f) for f in await service.version_files(session, v.id)] if with_files else []
        out.append(VersionOut.model_validate(v).model_copy(update={"files": files, "aliases": aliases[v.id]}))
    return out


@router.post("/model/register", status_code=201)
async def register_model(body: ModelCreate, principal: Writer, session: Session) -> ModelOut:
    return (await _model_out(session, [await service.register_model(session, principal, body)]))[0]


@router.get("/model", response_model=Page[ModelOut])
async def list_models(
    principal: Reader,
    state: State,
    q: Annotated[
        str | None, Query(max_length=200, description="Full-text search over name, description and card")
    ] = None,
    task: Task | None = None,
    tag: Annotated[list[str], Query(description="Models carrying all of these tags")] = [],  # noqa: B006
    team_id: uuid.UUID | None = None,
    architecture: Annotated[str | None, Query(max_length=100)] = None,
    min_params: Annotated[int | None, Query(ge=0)] = None,
    max_params: Annotated[int | None, Query(ge=0)] = None,
    include_archived: bool = False,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    docs, next_cursor = await service.list_models(
        state.db,
        principal,
        q=q,
        task=task,
        tags=tag,
        team_id=team_id,
        architecture=architecture,
        min_params=min_params,
        max_params=max_params,
        include_archived=include_archived,
        cursor=cursor,
        limit=limit,
    )
    return json_page_response(docs, next_cursor)


@router.get("/model/deleted")
async def list_deleted_models(principal: Reader, session: Session, state: State) -> list[DeletedModelOut]:
    """Your teams' deleted models (every team's for an Admin) that can still be restored."""
    rows = await auth_recovery.list_deleted(session, principal, recovery.MODELS, state.settings.deleted_retention_days)
    return [DeletedModelOut(**r) for r in rows]


@router.get("/model/{model_id}")
async def get_model(model_id: uuid.UUID, principal: Reader, session: Session) -> ModelOut:
    model = await service.get_model(session, principal, model_id)
    await service.record_access(session, "model.view", model)
    return (await _model_out(session, [model]))[0]


@router.patch("/model/{model_id}")
async def update_model(model_id: uuid.UUID, body: ModelUpdate, principal: Writer, session: Session) -> ModelOut:
    model = await service.update_model(session, principal, model_id, body)
    return (await _model_out(session, [model]))[0]


@router.post("/model/{model_id}/archive")
async def archive_model(model_id: uuid.UUID, principal: Writer, session: Session) -> ModelOut:
    return (await _model_out(session, [await service.set_model_archived(session, principal, model_id, True)]))[0]


@router.post("/model/{model_id}/unarchive")
async def unarchive_model(model_id: uuid.UUID, principal: Writer, session: Session) -> ModelOut:
    return (await _model_out(session, [await service.set_model_archived(session, principal, model_id, False)]))[0]


@router.delete("/model/{model_id}", status_code=204, dependencies=[Depends(require_recent_mfa)])
async def delete_model(
    model_id: uuid.UUID,
    body: ModelDelete,
    principal: Writer,
    session: Session,
    storage: Storage,
    state: State,
    purge: Annotated[
        bool, Query(description="Admin: remove an already deleted model and its files now, without restore")
    ] = False,
) -> None:
    """Delete a model: it can be restored for AXOPS_DELETED_RETENTION_DAYS, then it is purged."""
    if purge:
        await auth_recovery.purge(session, principal, storage, recovery.MODELS, model_id, body.confirm_name)
    else:
        await recovery.delete_model(
            session, principal, model_id, body.confirm_name, state.settings.deleted_retention_days
        )


@router.post("/model/{model_id}/restore")
async def restore_model(model_id: uuid.UUID, principal: Writer, session: Session) -> ModelOut:
    """Bring back a deleted model of your team, with its versions, aliases and files."""
    return (await _model_out(session, [await auth_recovery.restore(session, principal, recovery.MODELS, model_id)]))[0]


@router.get("/model/{model_id}/versions")
async def list_versions(model_id: uuid.UUID, principal: Reader, session: Session) -> list[VersionOut]:
    return await _version_out(session, await service.list_versions(session, principal, model_id))


@router.post(
    "/model/version/upload",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["model_id", "files"],
                        "properties": {
                            "model_id": {"type": "string", "format": "uuid"},
                            "base_version_id": {"type": "string", "format": "uuid"},
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        },
                    }
                }
            }
        }
    },
)
async def upload_version(request: Request, principal: Writer, session: Session) -> VersionOut:
    """Multipart form: `model_id`, optional `base_version_id`, and one `files` part per file (its
    filename is the path inside the version, e.g. `tokenizer/vocab.json`). Parts are spooled to
    disk by the parser, never held whole in memory, then streamed to the object store."""
    form = await request.form(max_files=files.MAX_FILES_PER_VERSION, max_fields=20, max_part_size=1024 * 1024)
    try:
        model_id = uuid.UUID(str(form.get("model_id", "")))
        base = form.get("base_version_id")
        base_version_id = uuid.UUID(str(base)) if base else None
    except ValueError as exc:
        raise Invalid("model_id and base_version_id must be UUIDs.") from exc
    uploads = [f for f in form.getlist("files") if not isinstance(f, str)]

    async def chunks(upload):
        while chunk := await upload.read(1024 * 1024):
            yield chunk

    try:
        version = await files.upload_version(
            session,
            principal,
            state_of(request).storage,
            model_id,
            [(u.filename or "", chunks(u)) for u in uploads],
            base_version_id=base_version_id,
        )
    finally:
        await form.close()
    return (await _version_out(session, [version], with_files=True))[0]


@router.post("/model/{model_id}/uploads", status_code=201)
async def start_upload(model_id: uuid.UUID, body: UploadStart, principal: Writer, session: Session) -> VersionOut:
    """Begin a resumable upload: declare the files; then PUT each file's bytes in order to
    `/api/model/upload/{version_id}/{path}?offset=N` and POST `/api/model/version/{id}/complete`."""
    files = [(f.path, f.size, f.sha256) for f in body.files]
    version = await uploads.start_upload(session, principal, model_id, files, body.base_version_id)
    return (await _version_out(session, [version]))[0]


@router.put("/model/upload/{version_id}/{path:path}")
async def upload_chunk(
    version_id: uuid.UUID,
    path: str,
    offset: Annotated[int, Query(ge=0)],
    request: Request,
    principal: Writer,
    session: Session,
) -> ChunkReceived:
    """The request body is streamed to storage as it arrives; a 409 carries `received` to resume from."""
    received = await uploads.upload_chunk(
        session, principal, state_of(request).storage, version_id, path, offset, request.stream()
    )
    return ChunkReceived(**received)


@router.delete("/model/version/{version_id}/upload", status_code=204)
async def abort_upload(version_id: uuid.UUID, principal: Writer, session: Session, storage: Storage) -> None:
    """Abandon a resumable upload: its chunks are deleted and the version disappears."""
    await uploads.abort_upload(session, principal, storage, version_id)


@router.post("/model/version/{version_id}/complete", responses={422: {}})
async def complete_upload(version_id: uuid.UUID, principal: Writer, session: Session, storage: Storage) -> VersionOut:
    version = await uploads.complete_upload(session, principal, storage, version_id)
    if version.status == "failed":
        return problem_response(422, "validation_error", "Invalid request", version.error or "upload failed")
    return (await _version_out(session, [version], with_files=True))[0]


@router.post("/model/version/import", status_code=202)
async def import_version(body: LocalImport, principal: Importer, session: Session, state: State) -> VersionOut:
    """Import a directory on the server (or a Hugging Face cache entry) inside AXOPS_IMPORT_ROOTS as a new
    version, in the background; poll the version (status, progress) until it is ready or failed."""
    version = await imports.begin_import(
        session,
        principal,
        state.tasks.tasks["models:import_local"],
        body.model_id,
        "local",
        body.path,
        {"path": body.path, "allow_patterns": body.allow_patterns},
    )
    root, bounds = imports.import_source(state.settings, body.path)
    imports.local_files(root, body.allow_patterns, bounds)  # fail fast (rolling back) on a bad path
    return (await _version_out(session, [version]))[0]


@router.post("/model/version/import/huggingface", status_code=202)
async def import_huggingface(body: HuggingFaceImport, principal: Writer, session: Session, state: State) -> VersionOut:
    """Import a Hugging Face repository (from HF_ENDPOINT when set, e.g. an internal mirror) in the
    background; poll the version: status `importing` → `ready`, or `failed` with the reason."""
    ref = f"{body.repo_id}@{body.revision}" if body.revision else body.repo_id
    version = await imports.begin_import(
        session,
        principal,
        state.tasks.tasks["models:import_huggingface"],
        body.model_id,
        "huggingface",
        ref,
        {"repo_id": body.repo_id, "revision": body.revision, "allow_patterns": body.allow_patterns},
    )
    models_tasks.hand_over_token(version.id, body.token)
    return (await _version_out(session, [version]))[0]


@router.get("/model/version/{version_id}")
async def get_version(version_id: uuid.UUID, principal: Reader, session: Session) -> VersionOut:
    _, version = await service.get_version(session, principal, version_id)
    return (await _version_out(session, [version], with_files=True))[0]


@router.post("/model/version/{version_id}/stage")
async def set_stage(version_id: uuid.UUID, body: StageChange, principal: Writer, session: Session) -> VersionOut:
    version = await service.set_stage(session, principal, version_id, body.stage, force=body.force)
    return (await _version_out(session, [version]))[0]


@router.put("/model/version/{version_id}/card")
async def update_card(version_id: uuid.UUID, body: CardUpdate, principal: Writer, session: Session) -> VersionOut:
    version = await service.update_card(session, principal, version_id, body.card_markdown)
    return (await _version_out(session, [version]))[0]


@router.put("/model/{model_id}/aliases/{alias}", status_code=204)
async def set_alias(model_id: uuid.UUID, alias: AliasName, body: AliasSet, principal: Writer, session: Session) -> None:
    await service.set_alias(session, principal, model_id, alias, body.version_id)


@router.delete("/model/{model_id}/aliases/{alias}", status_code=204)
async def delete_alias(model_id: uuid.UUID, alias: AliasName, principal: Writer, session: Session) -> None:
    await service.delete_alias(session, principal, model_id, alias)


@router.post("/model/{model_id}/compare")
async def compare(model_id: uuid.UUID, body: CompareRequest, principal: Reader, session: Session) -> CompareOut:
    """Versions of this model, or of several models (any version ids you can see)."""
    await service.get_model(session, principal, model_id)
    return await comparing.compare(session, principal, body.version_ids)


@router.get(
    "/model/version/{version_id}/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"}},
)
async def download_file(
    version_id: uuid.UUID, path: str, principal: Reader, session: Session, storage: Storage
) -> StreamingResponse:
    model, version = await files.downloadable(session, principal, version_id)
    f = await files.stored_file(session, version.id, path)
    await service.record_access(session, "model.download", model, version=version.version, file=path)
    return StreamingResponse(
        await storage.open_stream(f.storage_key),
        media_type="application/octet-stream",
        headers={
            "content-length": str(f.size),
            "etag": f'"{f.sha256}"',
            "x-checksum-sha256": f.sha256,
            "content-disposition": content_disposition(path.rsplit("/", 1)[-1]),
        },
    )


@router.get("/model/version/{version_id}/file-url/{path:path}")
async def file_url(
    version_id: uuid.UUID, path: str, principal: Reader, session: Session, storage: Storage
) -> SignedFileUrl:
    """A short-lived URL that downloads one file without going through this server (a presigned URL
    on S3/MinIO; AXOPS_STORAGE_SIGNED_URL_TTL_S). The same checks and audit as a download."""
    model, version = await files.downloadable(session, principal, version_id)
    f = await files.stored_file(session, version.id, path)
    await service.record_access(session, "model.download", model, version=version.version, file=path, signed=True)
    url = await storage.signed_url(f.storage_key, "GET")
    return SignedFileUrl(url=url, expires_in=storage.signed_url_ttl_s, size=f.size, sha256=f.sha256)


@router.get(
    "/model/version/{version_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-tar": {}}, "description": "The version's files, as a tar"}},
)
async def download_version(
    version_id: uuid.UUID, principal: Reader, session: Session, storage: Storage
) -> StreamingResponse:
    """The whole version as a tar stream (`<model>-v<N>/<files>`)."""
    model, version = await files.downloadable(session, principal, version_id)
    stored = await service.version_files(session, version.id)
    await service.record_access(session, "model.download", model, version=version.version, file="*")
    prefix = f"{model.name}-v{version.version}".replace("/", "_")
    return StreamingResponse(
        files.tar_stream(storage, prefix, stored),
        media_type="application/x-tar",
        headers={
            "content-length": str(files.tar_size(prefix, stored)),
            "content-disposition": content_disposition(f"{prefix}.tar"),
        },
    )
