"""Dataset routes (PRD §6.3 ③): parse, authorise, call the service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from axops.auth import recovery as auth_recovery
from axops.auth.deps import Principal, Session, require
from axops.auth.two_factor import require_recent_mfa
from axops.core.errors import Invalid, problem_response
from axops.core.pagination import Page
from axops.core.state import State, Storage, state_of
from axops.core.text import content_disposition
from axops.datasets import derived, reads, recovery, reviews, service, uploads
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.schemas import (
    DatasetChunkReceived,
    DatasetCreate,
    DatasetDelete,
    DatasetOut,
    DatasetUpdate,
    DatasetUploadStart,
    DatasetVersionDetail,
    DatasetVersionOut,
    DeletedDatasetOut,
    DiffOut,
    MaskRequest,
    ReviewRequest,
    RowsPage,
    ScanRequest,
    SplitRequest,
)

router = APIRouter(prefix="/api", tags=["datasets"])
Reader = Annotated[Principal, require("datasets:read")]
Writer = Annotated[Principal, require("datasets:write")]
Limit = Annotated[int, Query(ge=1, le=200)]


def _dataset_out(dataset: Dataset, latest: DatasetVersion | None, team_name: str | None) -> DatasetOut:
    return DatasetOut.model_validate(dataset).model_copy(
        update={
            "team_name": team_name,
            "sensitivity": service.effective_sensitivity(dataset, latest),
            "latest_version": latest.version if latest else None,
            "row_count": latest.row_count if latest else None,
        }
    )


async def _one_dataset(session, dataset: Dataset) -> DatasetOut:
    latest = await service.latest_version(session, dataset.id)
    return _dataset_out(dataset, latest, (await service.team_names(session, [dataset.team_id])).get(dataset.team_id))


def _version_out(version: DatasetVersion, detail: bool = False, hidden: str | None = None) -> DatasetVersionOut:
    extra = {
        "quality_warnings": len(version.quality.get("warnings", [])) if version.quality else None,
        "pii_entities": version.pii.get("entities") if version.pii else None,
    }
    if hidden:
        extra |= {**service.without_values(version), "values_hidden": hidden}
    model = DatasetVersionDetail if detail else DatasetVersionOut
    return model.model_validate(version).model_copy(update={k: v for k, v in extra.items() if k in model.model_fields})


@router.post("/dataset/register", status_code=201)
async def register_dataset(body: DatasetCreate, principal: Writer, session: Session) -> DatasetOut:
    return await _one_dataset(session, await service.create_dataset(session, principal, body))


@router.post(
    "/dataset/upload",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "dataset_id": {
                                "type": "string",
                                "format": "uuid",
                                "description": "a new version of this dataset",
                            },
                            "name": {"type": "string", "description": "or a new dataset with this name"},
                            "description": {"type": "string"},
                            "team_id": {"type": "string", "format": "uuid"},
                            "visibility": {"type": "string", "enum": ["team", "organization"]},
                            "key_column": {"type": "string"},
                        },
                    }
                }
            }
        }
    },
)
async def upload(request: Request, principal: Writer, session: Session) -> DatasetVersionOut:
    """One CSV, TSV, JSONL or Parquet file (any common encoding, e.g. CP949 from Excel) as a new
    version — of `dataset_id`, or of a new dataset `name`. The file is streamed to disk, parsed,
    converted to Parquet; a file that does not parse is refused with the line at fault."""
    form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    try:
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise Invalid("Attach the data as the multipart part `file`.")
        dataset_id, create = _target(form)

        async def chunks():
            while chunk := await file.read(1024 * 1024):
                yield chunk

        state = state_of(request)
        _, version = await uploads.upload(
            session,
            principal,
            state.storage,
            state.settings.data_dir,
            dataset_id=dataset_id,
            create=create,
            filename=file.filename or "data",
            chunks=chunks(),
            max_rows=state.settings.dataset_max_rows,
        )
    finally:
        await form.close()
    return _version_out(version)


def _target(form) -> tuple[uuid.UUID | None, DatasetCreate | None]:
    raw = form.get("dataset_id")
    if raw:
        try:
            return uuid.UUID(str(raw)), None
        except ValueError:
            raise Invalid("dataset_id must be a UUID.") from None
    fields = {k: str(form[k]) for k in ("name", "description", "team_id", "visibility", "key_column") if form.get(k)}
    if "name" not in fields:
        raise Invalid("Give dataset_id (a new version) or name (a new dataset).")
    try:
        return None, DatasetCreate(**fields)
    except ValidationError as exc:
        raise Invalid(
            "Invalid dataset fields.", errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from None


@router.post("/dataset/uploads", status_code=201)
async def start_upload(body: DatasetUploadStart, principal: Writer, session: Session) -> DatasetVersionOut:
    """Begin a resumable upload of one large file: then PUT its bytes in order to
    `/api/dataset/upload/{version_id}?offset=N` and POST `/api/dataset/version/{id}/complete`."""
    _, version = await uploads.start_upload(session, principal, body.dataset_id, body.dataset, body.filename, body.size)
    return _version_out(version)


@router.put("/dataset/upload/{version_id}")
async def upload_chunk(
    version_id: uuid.UUID, offset: Annotated[int, Query(ge=0)], request: Request, principal: Writer, session: Session
) -> DatasetChunkReceived:
    """The body is streamed to storage as it arrives; a 409 carries `received` to resume from."""
    return DatasetChunkReceived(
        **await uploads.upload_chunk(
            session, principal, state_of(request).storage, version_id, offset, request.stream()
        )
    )


@router.post("/dataset/version/{version_id}/complete", responses={422: {}})
async def complete_upload(
    version_id: uuid.UUID, principal: Writer, session: Session, state: State
) -> DatasetVersionOut:
    state = state
    _, version, error = await uploads.complete_upload(
        session, principal, state.storage, state.settings.data_dir, version_id, state.settings.dataset_max_rows
    )
    if error:
        fields = uploads.file_problem(version.filename, error)
        return problem_response(422, str(fields.pop("code")), "Invalid request", error, **fields)
    return _version_out(version)


@router.delete("/dataset/version/{version_id}/upload", status_code=204)
async def abort_upload(version_id: uuid.UUID, principal: Writer, session: Session, storage: Storage) -> None:
    await uploads.abort_upload(session, principal, storage, version_id)


@router.get("/dataset", response_model=Page[DatasetOut])
async def list_datasets(
    principal: Reader,
    session: Session,
    q: Annotated[str | None, Query(max_length=200, description="Search in name and description")] = None,
    team_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[DatasetOut]:
    rows, next_cursor = await service.list_datasets(
        session, principal, q=q, team_id=team_id, cursor=cursor, limit=limit
    )
    return Page(items=[_dataset_out(*row) for row in rows], next_cursor=next_cursor)


@router.get("/dataset/deleted")
async def list_deleted_datasets(principal: Reader, session: Session, state: State) -> list[DeletedDatasetOut]:
    """Your teams' deleted datasets (every team's for an Admin) that can still be restored."""
    rows = await auth_recovery.list_deleted(
        session, principal, recovery.DATASETS, state.settings.deleted_retention_days
    )
    return [DeletedDatasetOut(**r) for r in rows]


@router.get("/dataset/{dataset_id}")
async def get_dataset(dataset_id: uuid.UUID, principal: Reader, session: Session) -> DatasetOut:
    return await _one_dataset(session, await service.get_dataset(session, principal, dataset_id))


@router.patch("/dataset/{dataset_id}")
async def update_dataset(dataset_id: uuid.UUID, body: DatasetUpdate, principal: Writer, session: Session) -> DatasetOut:
    return await _one_dataset(session, await service.update_dataset(session, principal, dataset_id, body))


@router.delete("/dataset/{dataset_id}", status_code=204, dependencies=[Depends(require_recent_mfa)])
async def delete_dataset(
    dataset_id: uuid.UUID,
    body: DatasetDelete,
    principal: Writer,
    session: Session,
    storage: Storage,
    state: State,
    purge: Annotated[
        bool, Query(description="Admin: remove an already deleted dataset and its files now, without restore")
    ] = False,
) -> None:
    """Delete a dataset: it can be restored for AXOPS_DELETED_RETENTION_DAYS, then it is purged."""
    if purge:
        await auth_recovery.purge(session, principal, storage, recovery.DATASETS, dataset_id, body.confirm_name)
    else:
        await recovery.delete_dataset(
            session, principal, dataset_id, body.confirm_name, state.settings.deleted_retention_days
        )


@router.post("/dataset/{dataset_id}/restore")
async def restore_dataset(dataset_id: uuid.UUID, principal: Writer, session: Session) -> DatasetOut:
    """Bring back a deleted dataset of your team, with its versions and files."""
    return await _one_dataset(session, await auth_recovery.restore(session, principal, recovery.DATASETS, dataset_id))


@router.get("/dataset/{dataset_id}/versions")
async def list_versions(dataset_id: uuid.UUID, principal: Reader, session: Session) -> list[DatasetVersionOut]:
    dataset, versions = await service.list_versions(session, principal, dataset_id)
    return [_version_out(v, hidden=service.values_hidden(principal, dataset, v)) for v in versions]


@router.get("/dataset/version/{version_id}")
async def get_version(version_id: uuid.UUID, principal: Reader, session: Session) -> DatasetVersionDetail:
    """With the quality report and the PII report (masked examples only). Who may not read the
    version's raw rows gets the aggregates only: no top values, PII examples or failure details."""
    dataset, version = await service.get_version(session, principal, version_id)
    return _version_out(version, detail=True, hidden=service.values_hidden(principal, dataset, version))


@router.get("/dataset/version/{version_id}/rows")
async def preview(
    version_id: uuid.UUID,
    principal: Reader,
    session: Session,
    state: State,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Limit = 50,
) -> RowsPage:
    """Raw rows, as far as the data's sensitivity allows the caller (reads of sensitive data are audited)."""
    state = state
    version, rows = await reads.preview(
        session, principal, state.storage, state.settings.data_dir, version_id, offset, limit
    )
    return RowsPage(columns=version.columns, rows=rows, offset=offset, total=version.row_count or 0)


@router.get(
    "/dataset/version/{version_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The original file, or its Parquet"}},
)
async def download(
    version_id: uuid.UUID,
    principal: Reader,
    session: Session,
    storage: Storage,
    format: Literal["original", "parquet"] = "original",
) -> StreamingResponse:
    _, version = await reads.original_file(session, principal, version_id)
    key = version.original_key if format == "original" and version.original_key else version.parquet_key
    name = version.filename if key == version.original_key else f"{version.filename.rsplit('.', 1)[0]}.parquet"
    storage = storage
    size = await storage.size(key)
    return StreamingResponse(
        await storage.open_stream(key),
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(name), "Content-Length": str(size)},
    )


@router.get("/dataset/{dataset_id}/diff")
async def diff(
    dataset_id: uuid.UUID,
    principal: Reader,
    session: Session,
    state: State,
    from_version: Annotated[uuid.UUID, Query(alias="from")],
    to_version: Annotated[uuid.UUID, Query(alias="to")],
    kind: Literal["added", "removed", "changed"] = "changed",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Limit = 20,
) -> DiffOut:
    """Schema changes and rows added / removed / changed (matched on the dataset's key column when
    it has a unique one, else by row hash), with a page of samples of `kind`."""
    state = state
    return DiffOut(
        **await reads.diff(
            session,
            principal,
            state.storage,
            state.settings.data_dir,
            dataset_id,
            from_version,
            to_version,
            kind,
            offset,
            limit,
        )
    )


@router.post("/dataset/{dataset_id}/scan/pii", status_code=202)
async def scan_pii(dataset_id: uuid.UUID, body: ScanRequest, principal: Writer, session: Session) -> DatasetVersionOut:
    """Scan a version's text columns for PII again (also done after every upload); progress on the version."""
    return _version_out(await derived.request_scan(session, principal, dataset_id, body.version_id))


@router.post("/dataset/version/{version_id}/mask", status_code=202)
async def mask(version_id: uuid.UUID, body: MaskRequest, principal: Writer, session: Session) -> DatasetVersionOut:
    """A new version with the chosen entity types masked, hashed (salted per dataset) or removed."""
    return _version_out(
        await derived.create_masked(session, principal, version_id, body.entities, body.mode, body.columns)
    )


@router.post("/dataset/version/{version_id}/split", status_code=201)
async def split(
    version_id: uuid.UUID, body: SplitRequest, principal: Writer, session: Session, state: State
) -> list[DatasetVersionOut]:
    """Train / validation / test versions, reproducible with the seed, optionally stratified."""
    state = state
    ratios = {"train": body.train, "validation": body.validation, "test": body.test}
    versions = await derived.split(
        session, principal, state.storage, state.settings.data_dir, version_id, ratios, body.seed, body.stratify_column
    )
    return [_version_out(v) for v in versions]


@router.post("/dataset/version/{version_id}/review")
async def review(
    version_id: uuid.UUID,
    body: ReviewRequest,
    principal: Annotated[Principal, require("datasets:read")],
    session: Session,
) -> DatasetVersionOut:
    """Approve or reject a scanned version for training (needs datasets:approve)."""
    return _version_out(
        await reviews.review(session, principal, version_id, body.decision, body.comment, body.override_pii)
    )
