"""A/B experiments on a prompt label: assignment of callers to variants, start, stop, promote, results."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.auth.scoping import SYSTEM, visible
from axops.core import notify
from axops.core.errors import Conflict, Invalid, NotFound
from axops.core.ids import uuid7
from axops.prompts import results, service
from axops.prompts.experiment_schemas import PromptExperimentIn
from axops.prompts.models import Prompt, PromptExperiment, PromptLabel, PromptVersion

_SCALE = float(1 << 64)


def bucket(experiment_id: uuid.UUID | str, sticky_key: str) -> float:
    """A deterministic float in [0, 1) for this caller in this experiment."""
    digest = hashlib.blake2b(f"{experiment_id}:{sticky_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def choose(experiment_id: uuid.UUID | str, variants: Sequence[dict[str, Any]], sticky_key: str) -> int:
    """The version this caller gets: the same caller always lands on the same variant (sticky), and
    callers split between variants in proportion to their weights."""
    total = sum(float(v["weight"]) for v in variants)
    point = bucket(experiment_id, sticky_key) * total
    acc = 0.0
    for v in variants:
        acc += float(v["weight"])
        if point < acc:
            return int(v["version"])
    return int(variants[-1]["version"])


# --- the experiments service -----------------------------------------------------------------------
# Services flush, never commit. Every change is audited and published on NOTIFY topic "prompts", so
# every gateway process drops the experiment it cached for the label.

TOPIC = "prompts"


def _not_found(experiment_id) -> NotFound:
    return NotFound(
        f"No A/B experiment {experiment_id}.", code="prompt_experiment_not_found", experiment_id=str(experiment_id)
    )


def _audit(session: AsyncSession, action: str, exp: PromptExperiment, prompt: Prompt, actor=None, **summary) -> None:
    audit.record(
        session,
        action,
        resource_type="prompt_experiment",
        resource_id=exp.id,
        team_id=prompt.team_id,
        summary={"prompt": prompt.name, "label": exp.label, "experiment": exp.name, **summary},
        actor=actor,
    )


async def start(session: AsyncSession, principal: Principal, name: str, data: PromptExperimentIn) -> PromptExperiment:
    prompt = await service.get_prompt(session, principal, name, for_update=True)  # one start at a time per prompt
    service.require_write(principal, prompt)
    if prompt.archived_at is not None:
        raise Conflict(
            f"The prompt '{prompt.name}' is archived: unarchive it first.", code="prompt_archived", name=prompt.name
        )
    if await session.get(PromptLabel, (prompt.id, data.label)) is None:
        raise NotFound(
            f"The prompt '{prompt.name}' has no label '{data.label}'.",
            code="prompt_label_not_found",
            name=prompt.name,
            label=data.label,
        )
    wanted = [v.version for v in data.variants]
    have = set(
        await session.scalars(
            select(PromptVersion.version).where(PromptVersion.prompt_id == prompt.id, PromptVersion.version.in_(wanted))
        )
    )
    for number in wanted:
        if number not in have:
            raise NotFound(
                f"The prompt '{prompt.name}' has no version {number}.",
                code="prompt_version_not_found",
                name=prompt.name,
                version=number,
            )
    running = await session.scalar(
        select(PromptExperiment.id).where(
            PromptExperiment.prompt_id == prompt.id,
            PromptExperiment.label == data.label,
            PromptExperiment.status == "running",
        )
    )
    if running is not None:
        raise Conflict(
            f"An A/B experiment already runs on '{prompt.name}@{data.label}': stop it first.",
            code="prompt_experiment_running",
            label=data.label,
            experiment_id=str(running),
        )
    exp = PromptExperiment(
        id=uuid7(),
        prompt_id=prompt.id,
        label=data.label,
        name=data.name,
        status="running",
        variants=[{"version": v.version, "weight": v.weight} for v in data.variants],
        metric=data.metric,
        max_duration_s=data.max_duration_s,
        max_samples=data.max_samples,
        auto_promote=data.auto_promote,
        started_at=datetime.now(UTC),
        created_by=principal.user_id if principal.auth != "system" else None,
    )
    session.add(exp)
    await session.flush()
    _audit(
        session,
        "prompt.experiment_start",
        exp,
        prompt,
        variants=exp.variants,
        metric=exp.metric,
        max_duration_s=exp.max_duration_s,
        max_samples=exp.max_samples,
        auto_promote=exp.auto_promote,
    )
    await notify.publish(session, TOPIC)
    return exp


async def list_for_prompt(session: AsyncSession, principal: Principal, name: str) -> tuple[Prompt, list]:
    prompt = await service.get_prompt(session, principal, name)
    rows = await session.scalars(
        select(PromptExperiment)
        .where(PromptExperiment.prompt_id == prompt.id)
        .order_by(PromptExperiment.started_at.desc(), PromptExperiment.id.desc())
        .limit(200)
    )
    return prompt, list(rows)


async def get(
    session: AsyncSession, principal: Principal, experiment_id: uuid.UUID, for_update: bool = False
) -> tuple[PromptExperiment, Prompt]:
    """The experiment, if the caller sees its prompt (another team's answers 404 like a missing one)."""
    q = (
        select(PromptExperiment, Prompt)
        .join(Prompt, Prompt.id == PromptExperiment.prompt_id)
        .where(PromptExperiment.id == experiment_id, visible(principal, Prompt))
    )
    if for_update:
        q = q.with_for_update(of=PromptExperiment).execution_options(populate_existing=True)
    row = (await session.execute(q)).first()
    if row is None:
        raise _not_found(experiment_id)
    return row[0], row[1]


async def _end(
    session: AsyncSession,
    exp: PromptExperiment,
    prompt: Prompt,
    status: str,
    reason: str,
    winner: int | None,
    actor: Principal,
    test: dict | None,
) -> None:
    exp.status, exp.ended_reason, exp.winner_version = status, reason, winner
    exp.ended_at = datetime.now(UTC)
    exp.updated_at = exp.ended_at
    await session.flush()
    summary = {"reason": reason, "winner_version": winner}
    if test is not None:
        summary |= {"verdict": test["verdict"], "p_value": test["p_value"], "method": test["method"]}
    action = "prompt.experiment_promote" if status == "promoted" else "prompt.experiment_stop"
    _audit(session, action, exp, prompt, actor=actor, **summary)
    await notify.publish(session, TOPIC)


def _winner(test: dict | None) -> int | None:
    if test is None or test["verdict"] == "no_difference_yet":
        return None
    return test["variant_version"] if test["verdict"] == "b_better" else test["control_version"]


async def stop(
    session: AsyncSession, principal: Principal, experiment_id: uuid.UUID, reason: str = ""
) -> tuple[PromptExperiment, Prompt]:
    exp, prompt = await get(session, principal, experiment_id, for_update=True)
    service.require_write(principal, prompt)
    if exp.status != "running":
        raise Conflict(
            "This A/B experiment has already ended.", code="prompt_experiment_ended", experiment_status=exp.status
        )
    res = await results.results(session, exp)
    await _end(session, exp, prompt, "stopped", reason or "manual", _winner(res["test"]), principal, res["test"])
    return exp, prompt


async def promote(
    session: AsyncSession, principal: Principal, experiment_id: uuid.UUID, version: int | None = None
) -> tuple[PromptExperiment, Prompt]:
    """Point the experiment's label at `version` (default: the test's winner) and end it as promoted.
    A stopped experiment can still be promoted; a promoted one cannot again."""
    exp, prompt = await get(session, principal, experiment_id, for_update=True)
    service.require_write(principal, prompt)
    if exp.status == "promoted":
        raise Conflict("This A/B experiment's winner was already promoted.", code="prompt_experiment_ended")
    if exp.status == "stopped":  # a later experiment on the same label owns it now
        running = await session.scalar(
            select(PromptExperiment.id).where(
                PromptExperiment.prompt_id == prompt.id,
                PromptExperiment.label == exp.label,
                PromptExperiment.status == "running",
            )
        )
        if running is not None:
            raise Conflict(
                f"Another A/B experiment runs on '{prompt.name}@{exp.label}': stop it first.",
                code="prompt_experiment_running",
                label=exp.label,
                experiment_id=str(running),
            )
    res = await results.results(session, exp)
    await _promote(session, principal, exp, prompt, version, res["test"], "manual")
    return exp, prompt


async def _promote(session, principal, exp, prompt, version, test, reason) -> None:
    if version is None:
        version = _winner(test)
        if version is None:
            raise Conflict(
                "The test has no winner yet: name the version to promote.", code="prompt_experiment_no_winner"
            )
    if version not in {v["version"] for v in exp.variants}:
        raise Invalid(
            f"Version {version} is not a variant of this A/B experiment.",
            code="prompt_experiment_version_invalid",
            version=version,
        )
    why = f"A/B experiment '{exp.name or exp.id}': v{version} promoted"
    if test is not None and test["p_value"] is not None:
        why += f" ({test['method']}, p = {test['p_value']:.4g}, {test['verdict']})"
    await service.move_label(session, principal, prompt, exp.label, version, why)
    await _end(session, exp, prompt, "promoted", reason, version, principal, test)


async def read(session: AsyncSession, principal: Principal, experiment_id: uuid.UUID) -> tuple:
    """The experiment with its results, after applying its stop rules (so a reader never sees a test
    running past its limits even if the periodic check has not come by yet)."""
    exp, prompt = await get(session, principal, experiment_id)
    res = await results.results(session, exp)
    if exp.status == "running" and _due(exp, res) is not None:
        exp, prompt = await get(session, SYSTEM, experiment_id, for_update=True)
        res = await results.results(session, exp)
        await apply_rules(session, exp, prompt, res)
    return exp, prompt, res


def _due(exp: PromptExperiment, res: dict) -> str | None:
    """Which rule ends this experiment now, if any."""
    if exp.status != "running":
        return None
    test = res["test"]
    if (
        exp.auto_promote
        and test is not None
        and test["verdict"] == "b_better"
        and test["_have"] >= results.MIN_SAMPLES_AUTO
        and test["remaining_per_variant"] == 0
    ):
        return "auto_promote"
    if exp.max_samples is not None and res["samples"] >= exp.max_samples:
        return "max_samples"
    if exp.max_duration_s is not None and datetime.now(UTC) >= exp.started_at + timedelta(seconds=exp.max_duration_s):
        return "max_duration"
    return None


async def apply_rules(session: AsyncSession, exp: PromptExperiment, prompt: Prompt, res: dict) -> str | None:
    """End the (locked) experiment if a rule says so: promote a significantly better challenger when
    auto_promote is on, else stop. Acts as the system."""
    rule = _due(exp, res)
    if rule is None:
        return None
    test = res["test"]
    if exp.auto_promote and test is not None and test["verdict"] == "b_better":
        await _promote(session, SYSTEM, exp, prompt, test["variant_version"], test, rule)
    else:
        await _end(session, exp, prompt, "stopped", rule, _winner(test), SYSTEM, test)
    return rule


async def sweep(session: AsyncSession) -> int:
    """The periodic check of every running experiment's stop rules; returns how many ended."""
    ids = list(await session.scalars(select(PromptExperiment.id).where(PromptExperiment.status == "running")))
    ended = 0
    for experiment_id in ids:
        try:
            exp, prompt = await get(session, SYSTEM, experiment_id, for_update=True)
        except NotFound:
            continue
        if await apply_rules(session, exp, prompt, await results.results(session, exp)):
            ended += 1
    return ended
