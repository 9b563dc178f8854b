"""Response models of the prompt registry, built with one query per kind of fact (teams, people,
labels, experiments), never one per row."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.models import Team, User
from axops.prompts import feedback, service
from axops.prompts.models import Prompt, PromptExperiment, PromptLabel, PromptLabelMove, PromptVersion
from axops.prompts.schemas import PromptLabelMoveOut, PromptLabelOut, PromptOut, PromptQuality, PromptVersionOut


async def _usernames(session: AsyncSession, ids) -> dict[uuid.UUID, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict((await session.execute(select(User.id, User.username).where(User.id.in_(ids)))).all())


async def prompt_out(session: AsyncSession, prompts: list[Prompt]) -> list[PromptOut]:
    ids = [p.id for p in prompts]
    if not ids:
        return []
    teams = dict(
        (await session.execute(select(Team.id, Team.name).where(Team.id.in_({p.team_id for p in prompts})))).all()
    )
    people = await _usernames(session, (p.created_by for p in prompts))
    labels = await service.prompt_labels(session, ids)
    running = dict(
        (
            await session.execute(
                select(PromptExperiment.prompt_id, func.count())
                .where(PromptExperiment.prompt_id.in_(ids), PromptExperiment.status == "running")
                .group_by(PromptExperiment.prompt_id)
            )
        ).all()
    )
    return [
        PromptOut(
            id=p.id,
            name=p.name,
            description=p.description,
            tags=list(p.tags or []),
            team_id=p.team_id,
            team_name=teams.get(p.team_id),
            visibility=p.visibility,
            latest_version=p.latest_version,
            labels={label.name: label.version for label in labels[p.id]},
            created_by_name=people.get(p.created_by) if p.created_by else None,
            created_at=p.created_at,
            updated_at=p.updated_at,
            archived_at=p.archived_at,
            running_experiments=running.get(p.id, 0),
        )
        for p in prompts
    ]


async def version_out(session: AsyncSession, prompt: Prompt, versions: list[PromptVersion]) -> list[PromptVersionOut]:
    people = await _usernames(session, (v.created_by for v in versions))
    pointed: dict[int, list[str]] = {}
    for label in (await service.prompt_labels(session, [prompt.id]))[prompt.id]:
        pointed.setdefault(label.version, []).append(label.name)
    quality = await feedback.quality_by_version(session, prompt) if versions else {}
    return [
        PromptVersionOut(
            id=v.id,
            prompt_name=prompt.name,
            version=v.version,
            kind=v.kind,  # type: ignore[arg-type]
            template=v.template,  # type: ignore[arg-type]
            variables=v.variables,  # type: ignore[arg-type]
            binding=v.binding,  # type: ignore[arg-type]
            message=v.message,
            created_by_name=people.get(v.created_by) if v.created_by else None,
            created_at=v.created_at,
            labels=pointed.get(v.version, []),
            quality=PromptQuality(**quality.get(v.version, {})),
        )
        for v in versions
    ]


async def label_out(session: AsyncSession, label: PromptLabel) -> PromptLabelOut:
    people = await _usernames(session, [label.updated_by])
    return PromptLabelOut(
        label=label.name,
        version=label.version,
        updated_at=label.updated_at,
        updated_by_name=people.get(label.updated_by) if label.updated_by else None,
    )


async def moves_out(session: AsyncSession, moves: list[PromptLabelMove]) -> list[PromptLabelMoveOut]:
    people = await _usernames(session, (m.actor_id for m in moves))
    return [
        PromptLabelMoveOut(
            label=m.label,
            from_version=m.from_version,
            to_version=m.to_version,
            reason=m.reason,
            actor_name=people.get(m.actor_id) if m.actor_id else None,
            created_at=m.created_at,
        )
        for m in moves
    ]
