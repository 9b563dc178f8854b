"""MLflow 3 logged models: created within a run, files kept with the run's artifacts under
logged-models/<model id>/ (so experiments/artifacts.py stores, lists and removes them), metrics the points its
run logged with its id (experiments.metric_links). Another team's logged model answers as absent."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit, scoping
from axops.auth.deps import Principal
from axops.core.storage import ObjectStore
from axops.experiments import artifacts, metric_links, runs
from axops.experiments.mlflow_protocol import MlflowError
from axops.experiments.models import RunArtifact
from axops.mlflow_models.logged_model_models import LoggedModel

MAX_NAME = 250
MAX_KEY = 250
MAX_VALUE = 8000
_ID = re.compile(r"^m-([0-9a-f]{32})$")


def mlflow_id(lm: LoggedModel) -> str:
    return f"m-{lm.id.hex}"


def artifact_folder(lm: LoggedModel) -> str:
    """The run-relative folder of the model's files."""
    return f"logged-models/{mlflow_id(lm)}"


def artifact_uri(lm: LoggedModel) -> str:
    return f"mlflow-artifacts:/{lm.experiment_id.hex}/{lm.run_id.hex}/artifacts/{artifact_folder(lm)}"


def _absent(model_id: Any) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{str(model_id)[:100]}' not found.", 404)


def parse_model_id(model_id: Any) -> uuid.UUID:
    m = _ID.match(str(model_id or ""))
    if not m:
        raise _absent(model_id)
    return uuid.UUID(m.group(1))


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"{what} must be a non-empty string of at most {limit} characters."
        )
    return value


def _pairs(items: Any, what: str) -> dict[str, str]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{what} must be a list of {{key, value}} objects.")
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Each of {what} is a {{key, value}} object.")
        key = _text(item.get("key"), f"A key of {what}", MAX_KEY)
        value = item.get("value", "")
        value = value if isinstance(value, str) else str(value)
        if len(value) > MAX_VALUE:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"The value of {what} '{key}' exceeds {MAX_VALUE} characters.")
        out[key] = value
    return out


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    experiment_id: uuid.UUID | None,
    source_run_id: uuid.UUID | None,
    name: Any,
    model_type: Any,
    tags: Any,
    params: Any,
) -> LoggedModel:
    if source_run_id is None:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            "axops keeps a logged model with the run that produced it: log it within a run (source_run_id).",
        )
    run = await runs.get_run(session, principal, source_run_id)
    if experiment_id is not None and run.experiment_id != experiment_id:
        raise MlflowError("INVALID_PARAMETER_VALUE", "The source run belongs to another experiment.")
    if run.lifecycle != "active":
        raise MlflowError("INVALID_STATE", "The run is deleted; restore it before logging a model.")
    scoping.require_owner(principal, run, "training:write", "run")
    name = _text(name or "model", "name", MAX_NAME)
    if "/" in name or ":" in name:
        raise MlflowError("INVALID_PARAMETER_VALUE", "A logged model's name cannot contain '/' or ':'.")
    lm = LoggedModel(
        id=uuid.uuid4(),
        experiment_id=run.experiment_id,
        run_id=run.id,
        team_id=run.team_id,
        name=name,
        model_type=_text(model_type, "model_type", MAX_NAME) if model_type else None,
        status="PENDING",
        tags=_pairs(tags, "tags"),
        params=_pairs(params, "params"),
        created_by=None if principal.auth == "system" else principal.user_id,
        lifecycle="active",
    )
    session.add(lm)
    await session.flush()
    await session.refresh(lm)
    _audit(session, lm, "create", run_id=run.id.hex)
    return lm


def _audit(session: AsyncSession, lm: LoggedModel, what: str, **summary: Any) -> None:
    audit.record(
        session,
        f"logged_model.{what}",
        resource_type="logged_model",
        resource_id=lm.id,
        team_id=lm.team_id,
        summary={"model_id": mlflow_id(lm), "name": lm.name, **summary},
    )


async def get(
    session: AsyncSession, principal: Principal, model_id: Any, allow_deleted: bool = False, write: bool = False
) -> LoggedModel:
    lm = await session.get(LoggedModel, parse_model_id(model_id), with_for_update=write)
    if lm is None or not scoping.sees(principal, lm) or (lm.lifecycle == "deleted" and not allow_deleted):
        raise _absent(model_id)
    if write:
        scoping.require_owner(principal, lm, "training:write", "logged model")
    return lm


async def finalize(session: AsyncSession, principal: Principal, model_id: Any, status: Any) -> LoggedModel:
    lm = await get(session, principal, model_id, write=True)
    wanted = {
        "LOGGED_MODEL_READY": "READY",
        "READY": "READY",
        "LOGGED_MODEL_UPLOAD_FAILED": "FAILED",
        "FAILED": "FAILED",
        2: "READY",
        3: "FAILED",
    }.get(status)
    if wanted is None:
        raise MlflowError("INVALID_PARAMETER_VALUE", "status must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.")
    lm.status = wanted
    await session.flush()
    await session.refresh(lm)
    _audit(session, lm, "finalize", status=wanted.lower())
    return lm


async def set_tags(session: AsyncSession, principal: Principal, model_id: Any, tags: Any) -> None:
    lm = await get(session, principal, model_id, write=True)
    new = _pairs(tags, "tags")
    lm.tags = {**lm.tags, **new}
    _audit(session, lm, "set_tags", keys=sorted(new)[:20])


async def delete_tag(session: AsyncSession, principal: Principal, model_id: Any, key: str) -> None:
    lm = await get(session, principal, model_id, write=True)
    if key not in lm.tags:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"No tag with key '{key[:100]}' on logged model {mlflow_id(lm)}.", 404
        )
    lm.tags = {k: v for k, v in lm.tags.items() if k != key}
    _audit(session, lm, "delete_tag", key=key[:100])


async def log_params(session: AsyncSession, principal: Principal, model_id: Any, params: Any) -> None:
    lm = await get(session, principal, model_id, write=True)
    new = _pairs(params, "params")
    changed = [k for k, v in new.items() if k in lm.params and lm.params[k] != v]
    if changed:  # as MLflow: a param is logged once
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"Changing the value of logged param '{changed[0][:100]}' is not allowed."
        )
    lm.params = {**lm.params, **new}
    _audit(session, lm, "log_params", keys=sorted(new)[:20])


async def delete(session: AsyncSession, storage: ObjectStore, principal: Principal, model_id: Any) -> None:
    lm = await get(session, principal, model_id, write=True)
    lm.lifecycle = "deleted"
    files = await artifacts.delete_artifacts(session, storage, principal, lm.run_id, artifact_folder(lm))
    _audit(session, lm, "delete", files=files)


async def model_metrics(session: AsyncSession, models: list[LoggedModel]) -> dict[uuid.UUID, list[dict]]:
    """The metric points logged for each model (with its `model_id`, as MLflow 3 does after `log_model` and for
    `log_metric(..., model_id=...)`) in its own run: not every metric of the run, as MLflow answers."""
    points = await metric_links.model_points(
        session, [mlflow_id(lm) for lm in models], list({lm.run_id for lm in models})
    )
    return {lm.id: [p for p in points[mlflow_id(lm)] if p["run_id"] == lm.run_id.hex] for lm in models}


async def files(session: AsyncSession, principal: Principal, lm: LoggedModel) -> list[tuple[str, str]]:
    """(path relative to the model, object-store key) of each file, for registering the model as a version."""
    folder = artifact_folder(lm)
    q = select(RunArtifact.path).where(RunArtifact.run_id == lm.run_id, RunArtifact.path.startswith(folder + "/"))
    out = []
    for (path,) in (await session.execute(q.order_by(RunArtifact.path))).all():
        key, _ = await artifacts.artifact(session, principal, lm.run_id, path)
        out.append((path[len(folder) + 1 :], key))
    return out


async def by_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> list[LoggedModel]:
    """The logged models of a run the caller sees, newest first (the run page's panel)."""
    await runs.get_run(session, principal, run_id)
    q = select(LoggedModel).where(LoggedModel.run_id == run_id, LoggedModel.lifecycle == "active")
    return list((await session.scalars(q.order_by(LoggedModel.created_at.desc()))).all())


# search: MLflow's filter over logged models, the attributes the client and UI use, joined by AND
_CLAUSE = re.compile(
    r"^\s*(?:attributes\.)?(name|model_id|source_run_id|status|model_type|tags\.[\w.\-/ ]+|params\.[\w.\-/ ]+)"
    r"\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'\s*$",
    re.IGNORECASE,
)


def _conditions(filter_string: str) -> list:
    conds = []
    for part in re.split(r"\s+AND\s+", filter_string.strip(), flags=re.IGNORECASE) if filter_string.strip() else []:
        m = _CLAUSE.match(part)
        if not m:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"Unsupported logged-model filter {part[:200]!r}: use name, model_id, source_run_id, status, "
                "model_type, tags.<key> or params.<key> with =, !=, LIKE or ILIKE and a quoted value, joined by AND.",
            )
        field, op, value = m.group(1), m.group(2).upper(), m.group(3).replace("''", "'")
        low = field.lower()
        if low == "model_id":
            column, value = LoggedModel.id, parse_model_id(value) if _ID.match(value) else None
            if op in ("LIKE", "ILIKE"):
                raise MlflowError("INVALID_PARAMETER_VALUE", "model_id takes = or !=.")
        elif low == "source_run_id":
            column = LoggedModel.run_id
            try:
                value = uuid.UUID(value)
            except ValueError:
                value = None
            if op in ("LIKE", "ILIKE"):
                raise MlflowError("INVALID_PARAMETER_VALUE", "source_run_id takes = or !=.")
        elif low == "status":
            column, value = LoggedModel.status, value.upper().removeprefix("LOGGED_MODEL_").replace("UPLOAD_", "")
        elif low.startswith(("tags.", "params.")):
            kind, key = field.split(".", 1)
            column = (LoggedModel.tags if kind.lower() == "tags" else LoggedModel.params)[key].astext
        else:
            column = LoggedModel.name if low == "name" else LoggedModel.model_type
        if value is None:
            conds.append(column.is_(None) if op == "=" else column.isnot(None))
        elif op == "=":
            conds.append(column == value)
        elif op == "!=":
            conds.append(column != value)
        else:
            conds.append(column.like(value) if op == "LIKE" else column.ilike(value))
    return conds


async def search(
    session: AsyncSession,
    principal: Principal,
    experiment_ids: list[uuid.UUID],
    filter_string: str,
    limit: int,
    offset: int,
    ascending: bool = False,
) -> tuple[list[LoggedModel], bool]:
    """One page of the caller's logged models in these experiments (by creation time), and whether more follow."""
    q = select(LoggedModel).where(scoping.visible(principal, LoggedModel), LoggedModel.lifecycle == "active")
    if experiment_ids:
        q = q.where(LoggedModel.experiment_id.in_(experiment_ids))
    q = q.where(*_conditions(filter_string))
    order = LoggedModel.created_at.asc() if ascending else LoggedModel.created_at.desc()
    rows = list((await session.scalars(q.order_by(order, LoggedModel.id).offset(offset).limit(limit + 1))).all())
    return rows[:limit], len(rows) > limit
