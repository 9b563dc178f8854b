"""Service-level tests: services called directly on `db_session` (tests/conftest.py), no HTTP; each
test's rows vanish with its rolled-back transaction. Callers are made with tests.factories.principal."""

from __future__ import annotations

import uuid

import pytest

from axops.auth.models import Team


@pytest.fixture
async def two_teams(db_session) -> tuple[Team, Team]:
    """Two fresh teams (their names unique in the database the HTTP tests share)."""
    suffix = uuid.uuid4().hex[:8]
    teams = (Team(name=f"nlp-{suffix}"), Team(name=f"vision-{suffix}"))
    db_session.add_all(teams)
    await db_session.flush()
    return teams
