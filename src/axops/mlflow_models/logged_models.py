"""MLflow 3 logged models (/api/2.0/mlflow/logged-models/...): created within a run, artifacts in the object store, registered as axops model versions."""

from __future__ import annotations

from fastapi import APIRouter

from axops.experiments.mlflow_protocol import MlflowRoute

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)
