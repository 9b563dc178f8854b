"""Dataset inputs of runs (/api/2.0/mlflow/runs/log-inputs): stored on the run, linked to an axops dataset version when that is the source."""

from __future__ import annotations

from fastapi import APIRouter

from axops.experiments.mlflow_protocol import MlflowRoute

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False)
ajax_router = APIRouter(
    prefix="/ajax-api/2.0/mlflow", tags=["mlflow"], route_class=MlflowRoute, include_in_schema=False
)
