"""What files an MLflow `source` names, for `model-versions/create` (and so `mlflow.register_model`).

`artifact_files` answers the files of a source as (path relative to the source, object-store key): run artifacts
(`runs:/<run id>/<path>`, `mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`) here; other modules append a
resolver to `resolvers` for their sources (logged models: `models:/m-<id>`). A resolver answers None when the
source is not its kind, and raises (MlflowError / NotFound) when it is but the caller may not read it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.storage import ObjectStore
from axops.experiments import runs
from axops.experiments.artifacts import artifact_path
from axops.experiments.mlflow_protocol import MlflowError
from axops.experiments.models import RunArtifact

Resolver = Callable[[AsyncSession, Principal, str], Awaitable[list[tuple[str, str]] | None]]
resolvers: list[Resolver] = []

_RUNS = re.compile(r"^runs:/([0-9a-fA-F-]{32,36})(?:/(.*))?$")
_MLFLOW_ARTIFACTS = re.compile(r"^mlflow-artifacts:/+([0-9a-fA-F-]{32,36})/([0-9a-fA-F-]{32,36})/artifacts(?:/(.*))?$")


def _invalid(source: str) -> MlflowError:
    return MlflowError(
        "INVALID_PARAMETER_VALUE",
        f"Unsupported model version source {source[:200]!r}: use runs:/<run id>/<path>, "
        "mlflow-artifacts:/<experiment id>/<run id>/artifacts/<path> or a logged model's models:/m-<id>.",
    )


def parse_run_source(source: str) -> tuple[uuid.UUID, uuid.UUID | None, str] | None:
    """(run id, experiment id or None, run-relative path) of a run-artifact source; None if it is not one."""
    if m := _RUNS.match(source):
        run_hex, rel, experiment = m.group(1), m.group(2) or "", None
    elif m := _MLFLOW_ARTIFACTS.match(source):
        experiment, run_hex, rel = m.group(1), m.group(2), m.group(3) or ""
    else:
        return None
    try:
        rel = artifact_path(rel, allow_empty=True)
        return uuid.UUID(run_hex), uuid.UUID(experiment) if experiment else None, rel
    except ValueError:
        raise _invalid(source) from None


async def run_artifact_files(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, experiment_id: uuid.UUID | None, rel: str
) -> list[tuple[str, str]]:
    run = await runs.get_run(session, principal, run_id)  # NotFound for another team's run
    if experiment_id is not None and run.experiment_id != experiment_id:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No run with id {run_id.hex!r} in that experiment.", 404)
    q = select(RunArtifact.path).where(RunArtifact.run_id == run_id)
    if rel:
        q = q.where(or_(RunArtifact.path == rel, RunArtifact.path.startswith(rel + "/")))
    out = []
    for (path,) in (await session.execute(q.order_by(RunArtifact.path))).all():
        relative = path.rsplit("/", 1)[-1] if path == rel else path[len(rel) + 1 :] if rel else path
        out.append((relative, f"experiments/runs/{run_id}/artifacts/{path}"))
    return out


async def artifact_files(
    session: AsyncSession, principal: Principal, storage: ObjectStore, source: str, run_id: str | None
) -> list[tuple[str, str]]:
    """The files a model version source names, as (relative path, object-store key); refuses a source
    this server cannot read (INVALID_PARAMETER_VALUE) or one with no files."""
    del storage, run_id  # the keys are read by the caller; run_id is only lineage (the source names the run)
    if not isinstance(source, str) or not source.strip():
        raise MlflowError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'source'.")
    source = source.strip()
    files: list[tuple[str, str]] | None = None
    if (parsed := parse_run_source(source)) is not None:
        files = await run_artifact_files(session, principal, *parsed)
    else:
        for resolver in resolvers:
            if (files := await resolver(session, principal, source)) is not None:
                break
    if files is None:
        raise _invalid(source)
    if not files:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"The source {source[:200]!r} holds no files.")
    return files
