"""Routes of A/B experiments on prompt labels, feedback on gateway requests and "suggest an
improvement" (thin: parse, authorise, call the service, return the declared model)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from sqlalchemy import select

from axops.auth.deps import Principal, Session, require
from axops.auth.models import User
from axops.auth.scoping import require as require_permission
from axops.gateway.deps import GatewayDep
from axops.prompts import experiments, feedback, results, suggest
from axops.prompts.experiment_schemas import (
    FeedbackIn,
    FeedbackOut,
    PromoteIn,
    PromptExperimentIn,
    PromptExperimentList,
    PromptExperimentOut,
    StopIn,
    SuggestIn,
    SuggestOut,
)
from axops.prompts.models import Prompt, PromptExperiment

router = APIRouter(tags=["prompt"])
Reader = Annotated[Principal, require("prompts:read")]
Writer = Annotated[Principal, require("prompts:write")]
Invoker = Annotated[Principal, require("gateway:invoke")]


async def _out(
    session, exps: list[PromptExperiment], prompt: Prompt, res: dict | None = None
) -> list[PromptExperimentOut]:
    ids = {e.created_by for e in exps if e.created_by is not None}
    names = dict((await session.execute(select(User.id, User.username).where(User.id.in_(ids)))).all()) if ids else {}
    return [
        PromptExperimentOut(
            id=e.id,
            prompt_name=prompt.name,
            label=e.label,
            name=e.name,
            status=e.status,
            variants=e.variants,
            metric=e.metric,
            max_duration_s=e.max_duration_s,
            max_samples=e.max_samples,
            auto_promote=e.auto_promote,
            started_at=e.started_at,
            ended_at=e.ended_at,
            ended_reason=e.ended_reason,
            winner_version=e.winner_version,
            created_by_name=names.get(e.created_by),
            results=results.public(res) if res is not None else None,
        )
        for e in exps
    ]


@router.post("/api/prompts/{name}/experiments", status_code=201, responses={404: {}, 409: {}})
async def start_experiment(
    name: str, body: PromptExperimentIn, principal: Writer, session: Session
) -> PromptExperimentOut:
    """Split the traffic of `name@label` between 2–4 versions by weight (sticky per caller) and
    measure them; the first variant is the control. One running experiment per label."""
    exp = await experiments.start(session, principal, name, body)
    prompt = await session.get(Prompt, exp.prompt_id)
    return (await _out(session, [exp], prompt))[0]


@router.get("/api/prompts/{name}/experiments", responses={404: {}})
async def list_experiments(name: str, principal: Reader, session: Session) -> PromptExperimentList:
    """The prompt's experiments, newest first (without results: read one for them)."""
    prompt, exps = await experiments.list_for_prompt(session, principal, name)
    return PromptExperimentList(items=await _out(session, exps, prompt))


@router.get("/api/prompts/experiments/{experiment_id}", responses={404: {}})
async def get_experiment(experiment_id: uuid.UUID, principal: Reader, session: Session) -> PromptExperimentOut:
    """The experiment with its results, counted over its usage records and their feedback, and the
    test of the control against the best challenger. Reading applies the stop rules."""
    exp, prompt, res = await experiments.read(session, principal, experiment_id)
    return (await _out(session, [exp], prompt, res))[0]


@router.post("/api/prompts/experiments/{experiment_id}/stop", responses={404: {}, 409: {}})
async def stop_experiment(
    experiment_id: uuid.UUID, body: StopIn, principal: Writer, session: Session
) -> PromptExperimentOut:
    """End the experiment: callers of the label get the label's version again."""
    exp, prompt = await experiments.stop(session, principal, experiment_id, body.reason)
    return (await _out(session, [exp], prompt, await results.results(session, exp)))[0]


@router.post("/api/prompts/experiments/{experiment_id}/promote", responses={404: {}, 409: {}})
async def promote_experiment(
    experiment_id: uuid.UUID, body: PromoteIn, principal: Writer, session: Session
) -> PromptExperimentOut:
    """Move the label to `version` (default: the test's winner) and end the experiment as promoted."""
    exp, prompt = await experiments.promote(session, principal, experiment_id, body.version)
    return (await _out(session, [exp], prompt, await results.results(session, exp)))[0]


@router.post("/api/feedback", status_code=201, responses={404: {}, 409: {}})
async def give_feedback(body: FeedbackIn, principal: Invoker, session: Session, gateway: GatewayDep) -> FeedbackOut:
    """Score one of your own gateway requests (its `x-request-id`) from 0 to 1, with an optional
    comment; posting again for the same request and name replaces the score."""
    return FeedbackOut.model_validate(await feedback.give(session, principal, body, gateway))


@router.post("/api/prompts/{name}/suggest", responses={404: {}, 422: {}, 502: {}})
async def suggest_improvement(
    name: str, body: SuggestIn, principal: Reader, session: Session, request: Request
) -> SuggestOut:
    """Ask a gateway route (as you, through the gateway) for an improved template of a version: the
    candidate, its explanation and its diff; nothing is saved."""
    require_permission(principal, "gateway:invoke")
    return SuggestOut.model_validate(await suggest.suggest(session, principal, request, name, body))
