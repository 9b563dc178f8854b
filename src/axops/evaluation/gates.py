"""The promotion gate: a version moves to `production` only when every suite attached to its model has
a latest result for that version, and that result passed its thresholds.

The registry may not import evaluation, so the gate is a check in `registry.service.stage_checks`,
registered when this module is imported (the app imports it with the suites router). The registry
runs it after the caller's right to change the model is checked. `force` lets a holder of
`eval:gate_override` promote anyway; the override is audited with the refused verdict."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.errors import Conflict, Forbidden
from axops.evaluation import suites as suiting
from axops.evaluation.models import EvalRun, EvalSuite
from axops.evaluation.suite_schemas import GateOut, GateSuite, VerdictItem
from axops.registry import service as registry
from axops.registry.models import ModelVersion, RegisteredModel

GATED_STAGE = "production"


async def gate_of(session: AsyncSession, model_id: uuid.UUID, version_id: uuid.UUID) -> tuple[bool, list[GateSuite]]:
    """Each suite attached to the model, with its latest settled result for the version. Callers have
    checked that the caller may see the model: a suite attached to it is part of the model's rules."""
    suites = list(
        (await session.scalars(select(EvalSuite).where(EvalSuite.model_id == model_id).order_by(EvalSuite.name))).all()
    )
    if not suites:
        return True, []
    runs = (
        await session.scalars(
            select(EvalRun)
            .where(EvalRun.suite_id.in_([s.id for s in suites]), EvalRun.model_version_id == version_id)
            .order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
        )
    ).all()
    by_suite: dict[uuid.UUID, list[EvalRun]] = {}
    for run in runs:
        by_suite.setdefault(run.suite_id, []).append(run)
    out = []
    for suite in suites:
        mine = by_suite.get(suite.id, [])
        result = GateSuite(
            suite_id=suite.id,
            suite_name=suite.name,
            status="missing",
            running=any(r.status in ("queued", "running") for r in mine),
        )
        for run in mine:
            await suiting.settle(session, run, suite)
            if run.passed is None:  # not finished, or cancelled: says nothing about the version
                continue
            items = [VerdictItem.model_validate(i) for i in suiting.verdict_items(run) or []]
            result.status = "passed" if run.passed else "failed"
            result.run_id, result.run_status, result.finished_at, result.verdict = (
                run.id,
                run.status,
                run.finished_at,
                items,
            )
            result.failed = [i for i in items if not i.passed]
            break
        out.append(result)
    return all(s.status == "passed" for s in out), out


async def gate_for_version(session: AsyncSession, principal: Principal, version_id: uuid.UUID) -> GateOut:
    model, version = await registry.get_version(session, principal, version_id)
    passed, suites = await gate_of(session, model.id, version.id)
    return GateOut(
        model_id=model.id,
        version_id=version.id,
        version=version.version,
        stage=version.stage,
        passed=passed,
        suites=suites,
    )


def _failures(suites: list[GateSuite]) -> list[str]:
    """What the gate missed, in words of no language: 'qa: exact_match 0.5 < 0.9', 'qa: bleu — ≥ 0.3'
    (no row scored), 'qa: stopped' (the run itself did not succeed)."""
    lines = []
    for s in suites:
        if s.status == "failed" and not s.failed:
            lines.append(f"{s.suite_name}: {s.run_status}")
        for item in s.failed:
            if item.actual is None:
                lines.append(f"{s.suite_name}: {item.metric} — {'≥' if item.op == '>=' else '≤'} {item.value:g}")
            else:
                lines.append(
                    f"{s.suite_name}: {item.metric} {item.actual:.4g} {'<' if item.op == '>=' else '>'} {item.value:g}"
                )
    return lines


async def check_promotion(
    session: AsyncSession,
    principal: Principal,
    model: RegisteredModel,
    version: ModelVersion,
    stage: str,
    force: bool,
) -> None:
    """The registry's stage check: refuse `production` unless every attached suite passed on this version."""
    if stage != GATED_STAGE:
        return
    passed, suites = await gate_of(session, model.id, version.id)
    if passed:
        return
    missing = [s.suite_name for s in suites if s.status == "missing"]
    failed = _failures(suites)
    if force:
        if not principal.can("eval:gate_override"):
            raise Forbidden(
                "Promoting past the evaluation gate needs the 'eval:gate_override' permission.",
                code="eval_gate_override_forbidden",
            )
        audit.record(
            session,
            "model.version_stage_override",
            resource_type="model",
            resource_id=model.id,
            team_id=model.team_id,
            summary={
                "name": model.name,
                "version": version.version,
                "stage": [version.stage, stage],
                "missing": missing,
                "failed": failed,
                "suites": [
                    s.model_dump(mode="json", include={"suite_name", "status", "run_id", "failed"}) for s in suites
                ],
            },
        )
        return
    if failed:
        raise Conflict(
            f"Version {version.version} did not pass its evaluation: {'; '.join(failed)}.",
            code="evaluation_gate_failed",
            failed=failed,
            missing=missing,
            suites=[s.model_dump(mode="json", include={"suite_id", "suite_name", "run_id", "failed"}) for s in suites],
        )
    raise Conflict(
        f"Version {version.version} has no finished result of its evaluation suites: {', '.join(missing)}. "
        "Run them on this version first.",
        code="evaluation_missing",
        missing=missing,
    )


registry.stage_checks.append(check_promotion)
