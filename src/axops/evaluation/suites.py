"""Evaluation suites: an evaluation set with metrics, judges and thresholds, maybe attached to a model.

A suite run is an ordinary run (evaluation/service.py) of one target (key "A") carrying `suite_id`
and maybe `model_version_id`; when it has finished, `settle` writes its verdict — each threshold
against the run's mean — to `eval_runs.verdict` and `passed`. The promotion gate (gates.py) reads
them; the triggers (new version, schedule) live in suite_tasks.py. Services flush, never commit."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.models import Team, User
from axops.auth.scoping import owning_team, require, require_owner, team_clause
from axops.core.errors import Conflict, Forbidden, Invalid, NotFound
from axops.core.pagination import page_of, paginate_desc
from axops.evaluation import judges as judging
from axops.evaluation import metrics as metric_catalogue
from axops.evaluation import service as runs
from axops.evaluation.models import FINISHED, EvalRun, EvalSet, EvalSuite
from axops.evaluation.schemas import EvalRunCreate, EvalTarget
from axops.evaluation.suite_schemas import (
    SuiteCreate,
    SuiteOut,
    SuiteResult,
    SuiteRunBrief,
    SuiteUpdate,
    Threshold,
    VerdictItem,
)
from axops.registry import service as registry
from axops.registry.models import RegisteredModel

log = logging.getLogger("axops.evaluation")
TARGET_KEY = "A"  # a suite run evaluates one target


# --- validation ----------------------------------------------------------------------------------


def _invalid(reason: Exception | str, field: str) -> Invalid:
    return Invalid(f"{field}: {reason}", code="eval_suite_invalid", field=field, reason=str(reason))


def scored_names(metrics: list[dict], judges: list[dict]) -> list[str]:
    """What a suite's runs report a mean for: its metrics and its single-answer judges (`judge:<name>`)."""
    names = [m["name"] for m in metrics]
    names += [f"judge:{j['name']}" for j in judges if j.get("mode", "single") == "single"]
    return names


def check_thresholds(thresholds: list[dict], metrics: list[dict], judges: list[dict]) -> None:
    known = scored_names(metrics, judges)
    for t in thresholds:
        if t["metric"] not in known:
            raise Invalid(
                f"The threshold on '{t['metric']}' names no metric or single-answer judge of the suite "
                f"({', '.join(known) or 'none'}).",
                code="eval_threshold_unknown_metric",
                metric=t["metric"],
                known=known,
            )
        if not -1.0 <= t["value"] <= 1.0:
            raise Invalid(
                f"The threshold on '{t['metric']}' is {t['value']}: scores are fractions between -1 and 1 "
                "(BLEU 41 is 0.41).",
                code="eval_threshold_out_of_range",
                metric=t["metric"],
            )


def normal_target(target: dict[str, Any] | None) -> dict | None:
    """A target as runs take it, always key "A" (a suite run has one)."""
    if target is None:
        return None
    try:
        return EvalTarget.model_validate({**target, "key": TARGET_KEY}).model_dump(mode="json")
    except ValidationError as exc:
        raise _invalid("; ".join(e["msg"] for e in exc.errors()), "target") from exc


async def _check(session: AsyncSession, principal: Principal, state: Any, values: dict) -> None:
    """Everything about a suite's content that a request body can get wrong (after merging a PATCH)."""
    try:
        values["metrics"] = metric_catalogue.validate_metrics(values["metrics"])
    except ValueError as exc:
        raise _invalid(exc, "metrics") from exc
    try:
        values["judges"] = judging.validate_judges(values["judges"])
    except ValueError as exc:
        raise _invalid(exc, "judges") from exc
    if not values["metrics"] and not values["judges"]:
        raise Invalid("A suite needs at least one metric or judge.", code="eval_suite_needs_metric")
    check_thresholds(values["thresholds"], values["metrics"], values["judges"])
    values["target"] = normal_target(values["target"])
    if values["run_on_new_version"] and values["model_id"] is None:
        raise Invalid("Running on new versions needs the suite attached to a model.", code="eval_suite_model_required")
    if (values["run_on_new_version"] or values["interval_hours"]) and values["target"] is None:
        raise Invalid(
            "Scheduled runs and runs on new versions need the suite's target (what to evaluate).",
            code="eval_suite_target_required",
        )
    await runs.get_set(session, principal, values["eval_set_id"])
    route = (values["target"] or {}).get("route")
    if route and state is not None:  # a route the suite's runs could not call is refused now, not at 3 a.m.
        runs._route(await runs.route_table(state), principal, route, "the suite's target")


async def _attachable(session: AsyncSession, principal: Principal, model_id: uuid.UUID) -> RegisteredModel:
    """Attaching a suite gates the model's promotions: only those who may change the model may do it."""
    model = await registry.get_model(session, principal, model_id)
    registry.require_write(principal, model)
    return model


# What decides a suite's verdicts: changing it (or deleting the suite) changes its model's gate.
GATE_FIELDS = {"eval_set_id", "metrics", "judges", "tokenizer", "sample_size", "thresholds", "model_id"}


async def _guard_gate(session: AsyncSession, principal: Principal, suite: EvalSuite) -> None:
    """A suite attached to a model is part of that model's rules: loosening or removing it needs the right
    to change the model, not only the suite (else a suite's team could lift another team's gate)."""
    if suite.model_id is None:
        return
    try:
        await _attachable(session, principal, suite.model_id)
    except (NotFound, Forbidden) as exc:
        raise Forbidden(
            "This suite gates a model's promotions: changing its rules or deleting it needs the right to change "
            "that model.",
            code="eval_suite_gates_model",
        ) from exc


# --- suites --------------------------------------------------------------------------------------


async def get_suite(
    session: AsyncSession, principal: Principal, suite_id: uuid.UUID, for_update: bool = False
) -> EvalSuite:
    q = select(EvalSuite).where(EvalSuite.id == suite_id, team_clause(principal, EvalSuite.team_id))
    if for_update:
        q = q.with_for_update()
    suite = await session.scalar(q)
    if suite is None:
        raise NotFound("No such evaluation suite.", code="eval_suite_not_found")
    return suite


async def _refuse_taken_name(
    session: AsyncSession, name: str, team_id: uuid.UUID, but: uuid.UUID | None = None
) -> None:
    q = select(EvalSuite.id).where(EvalSuite.team_id == team_id, func.lower(EvalSuite.name) == name.lower())
    if but is not None:
        q = q.where(EvalSuite.id != but)
    if await session.scalar(q) is not None:
        raise Conflict(f"Your team already has a suite named '{name}'.", code="eval_suite_name_taken", name=name)


_FIELDS = (
    "name",
    "description",
    "eval_set_id",
    "metrics",
    "judges",
    "tokenizer",
    "sample_size",
    "thresholds",
    "model_id",
    "target",
    "run_on_new_version",
    "interval_hours",
)


async def create_suite(session: AsyncSession, principal: Principal, data: SuiteCreate, state: Any = None) -> EvalSuite:
    values = data.model_dump(mode="json", include=set(_FIELDS))
    values["eval_set_id"], values["model_id"] = data.eval_set_id, data.model_id
    team_id = owning_team(principal, data.team_id)
    require(principal, "eval:write")
    if data.model_id is not None:
        await _attachable(session, principal, data.model_id)
    await _check(session, principal, state, values)
    await _refuse_taken_name(session, data.name, team_id)
    suite = EvalSuite(team_id=team_id, created_by=principal.user_id, **values)
    session.add(suite)
    await session.flush()
    audit.record(
        session,
        "eval.suite_create",
        resource_type="eval_suite",
        resource_id=suite.id,
        team_id=team_id,
        summary={
            "name": suite.name,
            "model_id": str(suite.model_id) if suite.model_id else None,
            "thresholds": suite.thresholds,
        },
    )
    return suite


async def update_suite(
    session: AsyncSession, principal: Principal, suite_id: uuid.UUID, data: SuiteUpdate, state: Any = None
) -> EvalSuite:
    suite = await get_suite(session, principal, suite_id, for_update=True)
    require_owner(principal, suite, "eval:write", "suite")
    changes = data.model_dump(mode="json", exclude_unset=True)
    for key in ("eval_set_id", "model_id"):
        if key in changes:
            changes[key] = getattr(data, key)
    before = {k: _plain(getattr(suite, k)) for k in _FIELDS}
    values = {k: getattr(suite, k) for k in _FIELDS} | changes
    for key in ("name", "description", "metrics", "judges", "tokenizer", "thresholds", "run_on_new_version"):
        if values[key] is None:  # required fields: an explicit null is a mistake, not "clear"
            raise _invalid("cannot be empty", key)
    if any(key in GATE_FIELDS and values[key] != getattr(suite, key) for key in changes):
        await _guard_gate(session, principal, suite)
    await _check(session, principal, state, values)
    if "model_id" in changes and values["model_id"] is not None and values["model_id"] != suite.model_id:
        await _attachable(session, principal, values["model_id"])
    if "name" in changes:
        await _refuse_taken_name(session, values["name"], suite.team_id, but=suite.id)
    for key, value in values.items():
        setattr(suite, key, value)
    await session.flush()
    await session.refresh(suite)  # updated_at, set by the database
    diff = audit.diff(before, {k: _plain(getattr(suite, k)) for k in _FIELDS})
    if diff:
        audit.record(
            session,
            "eval.suite_update",
            resource_type="eval_suite",
            resource_id=suite.id,
            team_id=suite.team_id,
            summary={"name": suite.name, "changes": diff},
        )
    return suite


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def delete_suite(session: AsyncSession, principal: Principal, suite_id: uuid.UUID) -> None:
    """Delete a suite; its runs stay (as plain runs) and its model's promotions are no longer gated by it."""
    suite = await get_suite(session, principal, suite_id, for_update=True)
    require_owner(principal, suite, "eval:write", "suite")
    await _guard_gate(session, principal, suite)
    audit.record(
        session,
        "eval.suite_delete",
        resource_type="eval_suite",
        resource_id=suite.id,
        team_id=suite.team_id,
        summary={"name": suite.name, "model_id": str(suite.model_id) if suite.model_id else None},
    )
    await session.delete(suite)
    await session.flush()


async def list_suites(
    session: AsyncSession,
    principal: Principal,
    *,
    model_id: uuid.UUID | None = None,
    name: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[EvalSuite], str | None, int | None]:
    query = select(EvalSuite).where(team_clause(principal, EvalSuite.team_id))
    if model_id is not None:
        query = query.where(EvalSuite.model_id == model_id)
    if name is not None:
        query = query.where(func.lower(EvalSuite.name) == name.lower())
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(EvalSuite.name.ilike(like), EvalSuite.description.ilike(like)))
    total = None
    if cursor is None:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list((await session.scalars(paginate_desc(query, EvalSuite.created_at, EvalSuite.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    return rows, next_cursor, total


async def suite_out(session: AsyncSession, suites: list[EvalSuite]) -> list[SuiteOut]:
    """Response models, with one query per kind of fact (teams, sets, models, people, last runs)."""
    if not suites:
        return []

    async def names(column_id, column_name, ids) -> dict:
        ids = {i for i in ids if i is not None}
        if not ids:
            return {}
        return dict((await session.execute(select(column_id, column_name).where(column_id.in_(ids)))).all())

    teams = await names(Team.id, Team.name, (s.team_id for s in suites))
    sets = await names(EvalSet.id, EvalSet.name, (s.eval_set_id for s in suites))
    models = await names(RegisteredModel.id, RegisteredModel.name, (s.model_id for s in suites))
    people = await names(User.id, User.username, (s.created_by for s in suites))
    latest = (
        select(EvalRun)
        .where(EvalRun.suite_id.in_([s.id for s in suites]))
        .ext(distinct_on(EvalRun.suite_id))
        .order_by(EvalRun.suite_id, EvalRun.created_at.desc(), EvalRun.id.desc())
    )
    last = {r.suite_id: r for r in (await session.scalars(latest)).all()}
    return [
        SuiteOut(
            id=s.id,
            team_id=s.team_id,
            team_name=teams.get(s.team_id),
            name=s.name,
            description=s.description,
            eval_set_id=s.eval_set_id,
            eval_set_name=sets.get(s.eval_set_id),
            metrics=s.metrics,
            judges=s.judges,
            tokenizer=s.tokenizer,
            sample_size=s.sample_size,
            thresholds=[Threshold.model_validate(t) for t in s.thresholds],
            model_id=s.model_id,
            model_name=models.get(s.model_id),
            target=s.target,
            run_on_new_version=s.run_on_new_version,
            interval_hours=s.interval_hours,
            last_scheduled_at=s.last_scheduled_at,
            created_by_name=people.get(s.created_by),
            created_at=s.created_at,
            updated_at=s.updated_at,
            last_run=SuiteRunBrief.model_validate(last[s.id], from_attributes=True) if s.id in last else None,
        )
        for s in suites
    ]


# --- runs and verdicts ---------------------------------------------------------------------------


async def run_suite(
    session: AsyncSession,
    principal: Principal,
    state: Any,
    suite: EvalSuite,
    *,
    target: dict | None = None,
    model_version_id: uuid.UUID | None = None,
    trigger: str = "request",
) -> EvalRun:
    """Queue a run of the suite on `target` (default: the suite's), maybe for a version of its model.
    The caller must be allowed to run evaluations in the suite's team (checked by the caller)."""
    chosen = normal_target(target) if target is not None else suite.target
    if chosen is None:
        raise Invalid(
            "This suite has no target: name one (a route, deployment or prompt) to run it on.",
            code="eval_suite_target_required",
        )
    if model_version_id is not None:
        model, version = await registry.get_version(session, principal, model_version_id)
        if suite.model_id is not None and model.id != suite.model_id:
            raise Invalid(
                f"Version {version.version} of '{model.name}' is not a version of the suite's model.",
                code="eval_suite_version_mismatch",
            )
    body = EvalRunCreate(
        eval_set_id=suite.eval_set_id,
        name=f"{suite.name} ({trigger})",
        targets=[EvalTarget.model_validate(chosen)],
        metrics=suite.metrics,
        judges=suite.judges,
        tokenizer=suite.tokenizer,
        sample_size=suite.sample_size,
        model_version_id=model_version_id,
    )
    run = await runs.create_run(session, principal, state, body, suite_id=suite.id)
    audit.record(
        session,
        "eval.suite_run",
        resource_type="eval_suite",
        resource_id=suite.id,
        team_id=suite.team_id,
        summary={
            "name": suite.name,
            "run_id": str(run.id),
            "trigger": trigger,
            "model_version_id": str(model_version_id) if model_version_id else None,
        },
    )
    return run


def actuals(run: EvalRun) -> dict[str, float | None]:
    """The run's mean per metric for the suite's target (`summary` is metric → target key → mean)."""
    out: dict[str, float | None] = {}
    for metric, by_target in (run.summary or {}).items():
        value = by_target.get(TARGET_KEY) if isinstance(by_target, dict) else None
        out[metric] = float(value) if isinstance(value, int | float) else None
    return out


def verdict_of(run: EvalRun, thresholds: list[dict]) -> tuple[list[dict], bool]:
    """Each threshold against the run's mean: [{metric, op, value, actual, passed}], and whether all held.
    A metric no row could score (actual None) fails its threshold; a run that did not succeed fails."""
    means = actuals(run)
    items = []
    for t in thresholds:
        actual = means.get(t["metric"])
        ok = actual is not None and (actual >= t["value"] if t["op"] == ">=" else actual <= t["value"])
        items.append({"metric": t["metric"], "op": t["op"], "value": t["value"], "actual": actual, "passed": ok})
    return items, run.status == "succeeded" and all(i["passed"] for i in items)


def verdict_items(run: EvalRun) -> list[dict] | None:
    """The stored verdict's threshold results (the column holds {"target", "thresholds": [...]})."""
    if not run.verdict:
        return None
    return list(run.verdict.get("thresholds", []))


async def settle(session: AsyncSession, run: EvalRun, suite: EvalSuite | None = None) -> None:
    """Write a finished suite run's verdict once (the thresholds of the suite when it finished).
    Cancelled runs get none: they say nothing about the version."""
    if run.suite_id is None or run.verdict is not None or run.status not in FINISHED or run.status == "cancelled":
        return
    suite = suite or await session.get(EvalSuite, run.suite_id)
    if suite is None:
        return
    items, passed = verdict_of(run, suite.thresholds)
    run.verdict = {"target": TARGET_KEY, "thresholds": items}
    run.passed = passed
    await session.flush()


async def settle_pending(session: AsyncSession, limit: int = 500) -> int:
    """Settle finished suite runs that have no verdict yet (the sweep's safety net)."""
    q = (
        select(EvalRun)
        .where(
            EvalRun.suite_id.is_not(None),
            EvalRun.verdict.is_(None),
            EvalRun.status.in_([s for s in FINISHED if s != "cancelled"]),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    pending = list((await session.scalars(q)).all())
    for run in pending:
        await settle(session, run)
    return len(pending)


async def suite_results(
    session: AsyncSession, principal: Principal, suite: EvalSuite, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[SuiteResult], str | None, int | None]:
    query = select(EvalRun).where(EvalRun.suite_id == suite.id)
    total = None
    if cursor is None:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list((await session.scalars(paginate_desc(query, EvalRun.created_at, EvalRun.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    for run in rows:
        await settle(session, run, suite)
    return await result_out(session, rows), next_cursor, total


async def result_out(session: AsyncSession, rows: list[EvalRun]) -> list[SuiteResult]:
    numbers = await registry.version_labels(session, [r.model_version_id for r in rows if r.model_version_id])
    out = []
    for run in rows:
        items = verdict_items(run)
        out.append(
            SuiteResult(
                run_id=run.id,
                suite_id=run.suite_id,
                status=run.status,
                progress=run.progress or {},
                error=run.error,
                target=(run.targets or [None])[0],
                model_version_id=run.model_version_id,
                model_version=numbers[run.model_version_id][1] if run.model_version_id in numbers else None,
                scores=actuals(run),
                verdict=[VerdictItem.model_validate(i) for i in items] if items is not None else None,
                passed=run.passed,
                cost=run.cost,
                created_at=run.created_at,
                finished_at=run.finished_at,
            )
        )
    return out


async def suite_run(session: AsyncSession, principal: Principal, suite: EvalSuite, run_id: uuid.UUID) -> SuiteResult:
    run = await session.scalar(select(EvalRun).where(EvalRun.id == run_id, EvalRun.suite_id == suite.id))
    if run is None:
        raise NotFound("No such run of this suite.", code="eval_run_not_found")
    await settle(session, run, suite)
    return (await result_out(session, [run]))[0]
