"""A run's files (plots, checkpoints, reports) in the object store, under experiments/runs/<run id>/artifacts/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.errors import Conflict, Invalid, NotFound, StorageUnavailable
from axops.core.storage import ObjectStore
from axops.core.text import has_control
from axops.experiments.models import RunArtifact
from axops.experiments.runs import get_run

MAX_ARTIFACT_PATH = 1000


def artifact_path(path: str | None, allow_empty: bool = False) -> str:
    """A run-relative artifact path ("plots/loss.png"), or a clear refusal of anything that could
    leave the run's folder or name nothing."""
    path = (path or "").strip("/")
    if not path and allow_empty:
        return ""
    parts = path.split("/")
    if (
        not path
        or len(path) > MAX_ARTIFACT_PATH
        or "\\" in path
        or has_control(path)
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise Invalid(
            "An artifact path is relative, '/'-separated, without '.', '..', empty parts or control characters, "
            f"at most {MAX_ARTIFACT_PATH} characters."
        )
    return path


def _artifact_key(run_id: uuid.UUID, path: str) -> str:
    return f"experiments/runs/{run_id}/artifacts/{path}"


async def log_artifact(
    session: AsyncSession,
    storage: ObjectStore,
    principal: Principal,
    run_id: uuid.UUID,
    path: str,
    chunks: AsyncIterator[bytes],
) -> RunArtifact:
    """Stores one file of a run (a new upload of a path replaces it); a failed upload records nothing."""
    run = await get_run(session, principal, run_id)
    if run.lifecycle != "active":
        raise Conflict("The run is deleted; restore it before logging artifacts.")
    path = artifact_path(path)
    if await session.scalar(
        select(RunArtifact.path).where(RunArtifact.run_id == run_id, RunArtifact.path.startswith(path + "/")).limit(1)
    ):
        raise Conflict(f"'{path}' is a folder of this run's artifacts, not a file.")
    parts = path.split("/")
    folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
    if folders and (
        clash := await session.scalar(
            select(RunArtifact.path).where(RunArtifact.run_id == run_id, RunArtifact.path.in_(folders))
        )
    ):
        raise Conflict(f"'{clash}' is a file of this run's artifacts, not a folder.")
    try:
        stored = await storage.put_stream(_artifact_key(run_id, path), chunks)
    except (OSError, RuntimeError) as exc:
        raise StorageUnavailable(f"The object store refused the artifact: {type(exc).__name__}") from exc
    await session.execute(
        pg_insert(RunArtifact)
        .values(run_id=run_id, path=path, size=stored.size, sha256=stored.sha256)
        .on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={"size": stored.size, "sha256": stored.sha256, "created_at": func.now()},
        )
    )
    audit.record(
        session,
        "run.log_artifact",
        resource_type="run",
        resource_id=run_id,
        team_id=run.team_id,
        summary={"path": path, "size": stored.size},
    )
    return RunArtifact(run_id=run_id, path=path, size=stored.size, sha256=stored.sha256)


async def list_artifacts(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, folder: str | None = None
) -> list[dict]:
    """The files and folders directly in `folder` (the run's root by default), folders first."""
    await get_run(session, principal, run_id)
    folder = artifact_path(folder, allow_empty=True)
    q = select(RunArtifact.path, RunArtifact.size).where(RunArtifact.run_id == run_id)
    if folder:
        q = q.where(RunArtifact.path.startswith(folder + "/"))
    entries: dict[str, dict] = {}
    for path, size in (await session.execute(q.order_by(RunArtifact.path))).all():
        rest = path[len(folder) + 1 :] if folder else path
        head, sep, _ = rest.partition("/")
        full = f"{folder}/{head}" if folder else head
        entries.setdefault(
            full, {"path": full, "is_dir": True} if sep else {"path": full, "is_dir": False, "file_size": size}
        )
    return sorted(entries.values(), key=lambda e: (not e["is_dir"], e["path"]))


async def artifact(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, path: str
) -> tuple[str, RunArtifact]:
    """(object store key, row) of one file of a run."""
    await get_run(session, principal, run_id)
    path = artifact_path(path)
    row = await session.get(RunArtifact, (run_id, path))
    if row is None:
        raise NotFound(f"The run has no artifact '{path}'.")
    return _artifact_key(run_id, path), row


async def delete_artifacts(
    session: AsyncSession, storage: ObjectStore, principal: Principal, run_id: uuid.UUID, path: str | None
) -> int:
    """Removes a file, or a folder with everything in it (everything with no path)."""
    run = await get_run(session, principal, run_id)
    path = artifact_path(path, allow_empty=True)
    q = select(RunArtifact).where(RunArtifact.run_id == run_id)
    if path:
        q = q.where((RunArtifact.path == path) | RunArtifact.path.startswith(path + "/"))
    rows = (await session.scalars(q)).all()
    for row in rows:
        await session.delete(row)
    await session.flush()
    for (
        row
    ) in rows:  # after the rows are gone in this transaction: should it roll back, downloads say the file is missing
        await storage.delete(_artifact_key(run_id, row.path))
    if rows:
        audit.record(
            session,
            "run.delete_artifacts",
            resource_type="run",
            resource_id=run_id,
            team_id=run.team_id,
            summary={"path": path or "/", "files": len(rows)},
        )
    return len(rows)
