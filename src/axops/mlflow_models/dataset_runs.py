"""Dataset → run lineage: the runs that used a dataset version, through `mlflow.log_input` inputs linked to it
(run_dataset_inputs.dataset_version_id). Read by the dataset version page. Only runs the caller sees are
listed (a version may be visible to the whole organization while the runs that used it stay their team's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from axops.auth.deps import Principal, Session, require
from axops.auth.scoping import visible
from axops.core.errors import Forbidden
from axops.datasets import service as datasets
from axops.experiments.models import Experiment, Run
from axops.mlflow_models.input_models import RunDatasetInput

router = APIRouter(prefix="/api", tags=["datasets"])
Reader = Annotated[Principal, require("datasets:read")]
MAX_RUNS = 500


class DatasetRunOut(BaseModel):
    run_id: uuid.UUID
    run_name: str
    status: str
    start_time: datetime
    experiment_id: uuid.UUID
    experiment_name: str
    input_name: str  # the dataset's name as the run logged it
    context: str | None  # mlflow.data.context ("training", "eval"...)
    logged_at: datetime


@router.get("/dataset/version/{version_id}/runs")
async def version_runs(version_id: uuid.UUID, principal: Reader, session: Session) -> list[DatasetRunOut]:
    """The runs that logged this version as an input (newest first, at most 500). Needs training:read as well."""
    await datasets.get_version(session, principal, version_id)  # 404 for another team's version
    if not principal.can("training:read"):
        raise Forbidden(
            "This action needs the 'training:read' permission, which your role or key lacks.",
            code="permission_denied",
            permission="training:read",
        )
    q = (
        select(RunDatasetInput, Run, Experiment.name)
        .join(Run, Run.id == RunDatasetInput.run_id)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(RunDatasetInput.dataset_version_id == version_id, Run.lifecycle == "active", visible(principal, Run))
        .order_by(RunDatasetInput.created_at.desc())
        .limit(MAX_RUNS)
    )
    return [
        DatasetRunOut(
            run_id=run.id,
            run_name=run.name,
            status=run.status,
            start_time=run.start_time,
            experiment_id=run.experiment_id,
            experiment_name=experiment_name,
            input_name=inp.name,
            context=(inp.tags or {}).get("mlflow.data.context"),
            logged_at=inp.created_at,
        )
        for inp, run, experiment_name in (await session.execute(q)).all()
    ]
