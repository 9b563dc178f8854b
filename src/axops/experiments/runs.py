"""Experiments and their runs: create, find, rename, tag, end, delete and restore.

Other domains (training) call create_run / set_run_status / link_model_version here, with the SYSTEM
principal when no user asked for the change."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM, owning_team, sees, team_ids_param, visible
from axops.core.db import fetch_raw
from axops.core.errors import Conflict, Invalid, NotFound
from axops.experiments.models import RUN_STATUSES, TERMINAL, Experiment, Run
from axops.experiments.values import MAX_PARAM_VALUE, MAX_PARAMS, MAX_TAG_VALUE, MAX_TAGS, strings


def _user_id(principal: Principal) -> uuid.UUID | None:
    """The user recorded as a row's creator (none for the system)."""
    return None if principal.auth == "system" else principal.user_id


# -- experiments


async def create_experiment(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    team_id: uuid.UUID | None = None,
    description: str | None = None,
    tags: dict | None = None,
) -> Experiment:
    team = owning_team(principal, team_id)
    name = (name or "").strip()
    if not 0 < len(name) <= 250:
        raise Invalid("An experiment name is 1 to 250 characters.")
    if await session.scalar(select(Experiment.id).where(Experiment.team_id == team, Experiment.name == name)):
        raise Conflict(
            f"An experiment named {name!r} already exists in this team.", code="experiment_name_taken", name=name
        )
    exp = Experiment(
        name=name,
        team_id=team,
        description=description,
        tags=strings("tags", tags, MAX_TAGS, MAX_TAG_VALUE),
        created_by=_user_id(principal),
        lifecycle="active",
    )
    session.add(exp)
    await session.flush()
    audit.record(
        session,
        "experiment.create",
        resource_type="experiment",
        resource_id=exp.id,
        team_id=team,
        summary={"name": name},
    )
    return exp


async def get_experiment(session: AsyncSession, principal: Principal, experiment_id: uuid.UUID) -> Experiment:
    exp = await session.get(Experiment, experiment_id)
    if exp is None or not sees(principal, exp):
        raise NotFound("No such experiment.", code="experiment_not_found")
    return exp


async def get_experiment_by_name(
    session: AsyncSession, principal: Principal, name: str, team_id: uuid.UUID | None = None
) -> Experiment | None:
    q = select(Experiment).where(Experiment.name == name)
    if team_id is not None:
        q = q.where(Experiment.team_id == team_id)
    found = list((await session.scalars(q.where(visible(principal, Experiment)).order_by(Experiment.created_at))).all())
    if not found:
        return None
    if principal.team_ids and len(found) > 1:  # the one in the team a new experiment would go to first
        default = owning_team(principal, None)
        found.sort(key=lambda e: e.team_id != default)
    return found[0]


async def list_experiments(session: AsyncSession, principal: Principal, include_deleted: bool = False) -> list[dict]:
    rows = await fetch_raw(
        session,
        """
        SELECT e.id, e.name, e.description, e.tags, e.team_id, t.name AS team_name, e.lifecycle, e.created_at, e.updated_at,
               (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id AND r.lifecycle = 'active') AS run_count,
               (SELECT max(r.start_time) FROM runs r WHERE r.experiment_id = e.id) AS last_run_at
        FROM experiments e JOIN teams t ON t.id = e.team_id
        WHERE ($1::uuid[] IS NULL OR e.team_id = ANY($1)) AND ($2 OR e.lifecycle = 'active')
        ORDER BY e.created_at DESC LIMIT 1000
    """,
        team_ids_param(principal),
        include_deleted,
    )
    return [_experiment_row(r) for r in rows]


def _experiment_row(r) -> dict:
    d = dict(r)
    d["tags"] = orjson.loads(d["tags"]) if isinstance(d["tags"], str) else d["tags"]
    return d


async def experiment_out(session: AsyncSession, exp: Experiment) -> dict:
    rows = await fetch_raw(
        session,
        """
        SELECT t.name, (SELECT count(*) FROM runs r WHERE r.experiment_id = $1 AND r.lifecycle = 'active'),
               (SELECT max(r.start_time) FROM runs r WHERE r.experiment_id = $1)
        FROM teams t WHERE t.id = $2
    """,
        exp.id,
        exp.team_id,
    )
    team_name, count, last = rows[0] if rows else (None, 0, None)
    return {
        "id": exp.id,
        "name": exp.name,
        "description": exp.description,
        "tags": exp.tags,
        "team_id": exp.team_id,
        "team_name": team_name,
        "lifecycle": exp.lifecycle,
        "created_at": exp.created_at,
        "updated_at": exp.updated_at,
        "run_count": count,
        "last_run_at": last,
    }


async def set_experiment_lifecycle(
    session: AsyncSession, principal: Principal, experiment_id: uuid.UUID, lifecycle: str
) -> Experiment:
    exp = await get_experiment(session, principal, experiment_id)
    if exp.lifecycle != lifecycle:
        exp.lifecycle = lifecycle
        await session.flush()
        audit.record(
            session,
            "experiment.delete" if lifecycle == "deleted" else "experiment.restore",
            resource_type="experiment",
            resource_id=exp.id,
            team_id=exp.team_id,
            summary={"name": exp.name},
        )
    return exp


async def update_experiment(
    session: AsyncSession,
    principal: Principal,
    experiment_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: dict | None = None,
    remove_tags: list[str] | None = None,
) -> Experiment:
    exp = await get_experiment(session, principal, experiment_id)
    change: dict[str, Any] = {}
    if name is not None and name.strip() != exp.name:
        name = name.strip()
        if not 0 < len(name) <= 250:
            raise Invalid("An experiment name is 1 to 250 characters.")
        if await session.scalar(
            select(Experiment.id).where(Experiment.team_id == exp.team_id, Experiment.name == name)
        ):
            raise Conflict(
                f"An experiment named {name!r} already exists in this team.", code="experiment_name_taken", name=name
            )
        change["name"] = [exp.name, name]
        exp.name = name
    if description is not None and description != exp.description:
        change["description"] = True
        exp.description = description
    if tags:
        exp.tags = {**exp.tags, **strings("tags", tags, MAX_TAGS, MAX_TAG_VALUE)}
        change["tags"] = sorted(tags)
    if remove_tags and set(remove_tags) & set(exp.tags):
        exp.tags = {k: v for k, v in exp.tags.items() if k not in remove_tags}
        change["removed_tags"] = sorted(set(remove_tags))
    if change:
        await session.flush()
        audit.record(
            session,
            "experiment.update",
            resource_type="experiment",
            resource_id=exp.id,
            team_id=exp.team_id,
            summary=change,
        )
    return exp


# -- runs


async def create_run(
    session: AsyncSession,
    principal: Principal,
    *,
    experiment_name: str,
    team_id: uuid.UUID | None,
    run_name: str | None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    job_id: uuid.UUID | None = None,
    dataset_version_ids: Iterable[uuid.UUID] = (),
    base_model_version_id: uuid.UUID | None = None,
    experiment_id: uuid.UUID | None = None,
    start_time: datetime | None = None,
) -> Run:
    """Start a run (status RUNNING) in the named experiment of the team, creating the experiment if missing."""
    if experiment_id is not None:
        exp = await get_experiment(session, principal, experiment_id)
    else:
        team = owning_team(principal, team_id)
        exp = await get_experiment_by_name(session, principal, experiment_name, team_id=team)
        if exp is None:
            try:
                async with session.begin_nested():  # two runs starting a new experiment at once: one creates it
                    exp = await create_experiment(session, principal, name=experiment_name, team_id=team)
            except (IntegrityError, Conflict):
                exp = await get_experiment_by_name(session, principal, experiment_name, team_id=team)
                if exp is None:
                    raise
    if exp.lifecycle != "active":
        raise Conflict(f"The experiment {exp.name!r} is deleted; restore it first.")
    params = strings("params", params, MAX_PARAMS * 10, MAX_PARAM_VALUE)
    tags = strings("tags", tags, MAX_TAGS * 10, MAX_TAG_VALUE)
    name = (run_name or "").strip()[:250] or _run_name()
    run = Run(
        experiment_id=exp.id,
        team_id=exp.team_id,
        name=name,
        status="RUNNING",
        start_time=start_time or datetime.now(UTC),
        params=params,
        tags=tags,
        job_id=job_id,
        base_model_version_id=base_model_version_id,
        dataset_version_ids=list(dataset_version_ids),
        created_by=_user_id(principal),
        lifecycle="active",
    )
    session.add(run)
    await session.flush()
    audit.record(
        session,
        "run.create",
        resource_type="run",
        resource_id=run.id,
        team_id=exp.team_id,
        summary={"experiment": exp.name, "name": name, "job_id": str(job_id) if job_id else None},
    )
    return run


_ADJECTIVES = (
    "brisk",
    "calm",
    "eager",
    "gentle",
    "keen",
    "lucid",
    "merry",
    "noble",
    "quiet",
    "swift",
    "vivid",
    "witty",
)
_NOUNS = ("otter", "heron", "lynx", "panda", "raven", "tiger", "whale", "crane", "fox", "koala", "moose", "wren")


def _run_name() -> str:
    n = uuid.uuid4().int
    return f"{_ADJECTIVES[n % 12]}-{_NOUNS[(n >> 8) % 12]}-{(n >> 16) % 1000}"


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID, for_update: bool = False) -> Run:
    q = select(Run).where(Run.id == run_id)
    run = await session.scalar(q.with_for_update() if for_update else q)
    if run is None or not sees(principal, run):
        raise NotFound("No such run.", code="run_not_found")
    return run


async def delete_tag(session: AsyncSession, principal: Principal, run_id: uuid.UUID, key: str) -> Run:
    run = await get_run(session, principal, run_id, for_update=True)
    if key not in run.tags:
        raise NotFound(f"The run has no tag {key!r}.")
    run.tags = {k: v for k, v in run.tags.items() if k != key}
    await session.flush()
    audit.record(
        session, "run.delete_tag", resource_type="run", resource_id=run.id, team_id=run.team_id, summary={"key": key}
    )
    return run


async def set_run_status(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, status: str, end_time: datetime | None = None
) -> Run:
    """RUNNING, FINISHED, FAILED or KILLED; a terminal status sets end_time (now unless given)."""
    status = status.upper()
    if status not in RUN_STATUSES:
        raise Invalid(f"status must be one of {', '.join(RUN_STATUSES)}.")
    run = await get_run(session, principal, run_id, for_update=True)
    before = run.status
    run.status = status
    if status in TERMINAL:
        run.end_time = end_time or run.end_time or datetime.now(UTC)
    elif end_time is not None:
        run.end_time = end_time
    else:
        run.end_time = None
    await session.flush()
    audit.record(
        session,
        "run.status",
        resource_type="run",
        resource_id=run.id,
        team_id=run.team_id,
        summary={"from": before, "to": status},
    )
    return run


async def rename_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID, name: str) -> Run:
    run = await get_run(session, principal, run_id, for_update=True)
    name = name.strip()[:250]
    if name and name != run.name:
        audit.record(
            session,
            "run.rename",
            resource_type="run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"from": run.name, "to": name},
        )
        run.name = name
        await session.flush()
    return run


async def set_run_lifecycle(session: AsyncSession, principal: Principal, run_id: uuid.UUID, lifecycle: str) -> Run:
    run = await get_run(session, principal, run_id, for_update=True)
    if run.lifecycle != lifecycle:
        run.lifecycle = lifecycle
        await session.flush()
        audit.record(
            session,
            "run.delete" if lifecycle == "deleted" else "run.restore",
            resource_type="run",
            resource_id=run.id,
            team_id=run.team_id,
            summary={"name": run.name},
        )
    return run


async def link_model_version(session: AsyncSession, run_id: uuid.UUID, model_version_id: uuid.UUID) -> Run:
    """Record the model version a run produced (called by the training domain on registration)."""
    run = await get_run(session, SYSTEM, run_id, for_update=True)
    run.model_version_id = model_version_id
    await session.flush()
    audit.record(
        session,
        "run.link_model_version",
        resource_type="run",
        resource_id=run.id,
        team_id=run.team_id,
        summary={"model_version_id": str(model_version_id)},
    )
    return run
