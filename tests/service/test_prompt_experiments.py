"""The periodic check of A/B stop rules (experiments.sweep) and quality per version
(feedback.quality_by_version), on a rolled-back session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from axops.auth.audit import AuditEvent
from axops.auth.models import User
from axops.prompts import experiments, feedback
from axops.prompts.models import Prompt, PromptExperiment, PromptLabel, PromptLabelMove, PromptVersion, RequestFeedback


async def _prompt(session, team) -> Prompt:
    prompt = Prompt(name=f"sweep-{uuid.uuid4().hex[:8]}", team_id=team.id, latest_version=2, tags=[])
    session.add(prompt)
    await session.flush()
    for n in (1, 2):
        session.add(PromptVersion(prompt_id=prompt.id, version=n, kind="text", template=f"v{n} {{{{ q }}}}"))
    session.add_all(
        [PromptLabel(prompt_id=prompt.id, name=name, version=1) for name in ("production", "staging", "beta")]
    )
    await session.flush()
    return prompt


def _experiment(prompt, label: str, **fields) -> PromptExperiment:
    return PromptExperiment(
        prompt_id=prompt.id,
        label=label,
        name=label,
        status="running",
        variants=[{"version": 1, "weight": 1}, {"version": 2, "weight": 1}],
        metric="feedback",
        started_at=datetime.now(UTC) - timedelta(minutes=5),
        **fields,
    )


async def _usage(session, prompt, exp, user_id, version: int, score: float | None, at=None) -> str:
    request_id = uuid.uuid4().hex
    await session.execute(
        text("""INSERT INTO usage_records (created_at, request_id, user_id, endpoint, model, stream, status,
                    prompt_tokens, completion_tokens, cost, latency_ms, attempts, cache, saved_cost,
                    prompt_name, prompt_version, prompt_experiment_id)
                VALUES (:at, :rid, :user, 'chat', 'm', false, 200, 1, 1, 0, 10, 1, 'off', 0, :name, :version, :exp)"""),
        {
            "at": at or datetime.now(UTC),
            "rid": request_id,
            "user": user_id,
            "name": prompt.name,
            "version": version,
            "exp": exp.id if exp else None,
        },
    )
    if score is not None:
        session.add(RequestFeedback(request_id=request_id, name="user", score=score, user_id=user_id))
    return request_id


async def test_sweep_ends_what_its_rules_say_and_leaves_the_rest(db_session, two_teams):
    team = two_teams[0]
    user = User(username=f"u-{uuid.uuid4().hex[:8]}", password_hash="x", role="developer")
    db_session.add(user)
    prompt = await _prompt(db_session, team)
    old = _experiment(prompt, "production", max_duration_s=60)
    old.started_at = datetime.now(UTC) - timedelta(hours=1)
    winner = _experiment(prompt, "staging", auto_promote=True)
    young = _experiment(prompt, "beta", max_duration_s=3600, max_samples=1000)
    db_session.add_all([old, winner, young])
    await db_session.flush()
    for i in range(40):
        await _usage(db_session, prompt, winner, user.id, 1, 0.3 + (i % 3) * 0.1)
        await _usage(db_session, prompt, winner, user.id, 2, 0.7 + (i % 3) * 0.1)
        await _usage(db_session, prompt, young, user.id, 1 + i % 2, 0.5)
    await db_session.flush()

    assert await experiments.sweep(db_session) >= 2
    await db_session.flush()  # the last audit event (the session does not autoflush)

    for exp in (old, winner, young):
        await db_session.refresh(exp)
    assert (old.status, old.ended_reason) == ("stopped", "max_duration")
    assert (winner.status, winner.ended_reason, winner.winner_version) == ("promoted", "auto_promote", 2)
    assert young.status == "running" and young.ended_at is None
    labels = dict(
        (
            await db_session.execute(
                select(PromptLabel.name, PromptLabel.version).where(PromptLabel.prompt_id == prompt.id)
            )
        ).all()
    )
    assert labels == {"production": 1, "staging": 2, "beta": 1}
    move = await db_session.scalar(select(PromptLabelMove).where(PromptLabelMove.prompt_id == prompt.id))
    assert (move.label, move.from_version, move.to_version, move.actor_id) == ("staging", 1, 2, None)
    assert "A/B" in move.reason
    events = (
        await db_session.scalars(select(AuditEvent).where(AuditEvent.resource_id.in_([str(old.id), str(winner.id)])))
    ).all()
    assert sorted((e.action, e.actor_type) for e in events) == [
        ("prompt.experiment_promote", "system"),
        ("prompt.experiment_stop", "system"),
    ]


async def test_quality_by_version_counts_the_prompts_own_feedback(db_session, two_teams):
    team = two_teams[0]
    users = [User(username=f"u-{uuid.uuid4().hex[:8]}", password_hash="x", role="developer") for _ in range(2)]
    db_session.add_all(users)
    prompt = await _prompt(db_session, team)
    other = await _prompt(db_session, team)
    await db_session.flush()
    for score in (0.2, 0.4):
        await _usage(db_session, prompt, None, users[0].id, 1, score)
    await _usage(db_session, prompt, None, users[1].id, 2, 1.0)
    await _usage(db_session, prompt, None, users[1].id, 2, None)  # no feedback
    await _usage(db_session, other, None, users[0].id, 1, 0.0)  # another prompt
    old = await _usage(db_session, prompt, None, users[0].id, 2, None, at=datetime.now(UTC) - timedelta(days=30))
    db_session.add(RequestFeedback(request_id=old, name="user", score=0.0, user_id=users[0].id))  # outside the window
    await db_session.flush()

    quality = await feedback.quality_by_version(db_session, prompt.id)
    assert quality.keys() == {1, 2}
    assert quality[1]["feedback_count"] == 2 and abs(quality[1]["feedback_mean"] - 0.3) < 1e-9
    assert quality[2] == {"feedback_count": 1, "feedback_mean": 1.0}
    assert await feedback.quality_by_version(db_session, prompt) == quality
    assert await feedback.quality_by_version(db_session, uuid.uuid4()) == {}
