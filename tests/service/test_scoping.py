"""auth.scoping against real rows: who sees which datasets and experiments of two teams (organization-wide
ones included), who may change them, which team a new one belongs to, and SYSTEM — through the scoping
functions and through the datasets service that uses them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from axops.auth import scoping
from axops.auth.models import User
from axops.auth.scoping import SYSTEM
from axops.core.errors import Forbidden, Invalid, NotFound
from axops.datasets import service as datasets
from axops.datasets.models import Dataset
from axops.datasets.schemas import DatasetCreate
from axops.experiments.models import Experiment
from tests.factories import principal


@pytest.fixture
async def rows(db_session, two_teams) -> dict[str, Dataset]:
    """Datasets of two teams: each team's private one, and the first team's organization-wide one."""
    nlp, vision = two_teams
    made = {
        "nlp-private": Dataset(name="nlp-private", team_id=nlp.id, visibility="team"),
        "nlp-shared": Dataset(name="nlp-shared", team_id=nlp.id, visibility="organization"),
        "vision-private": Dataset(name="vision-private", team_id=vision.id, visibility="team"),
    }
    db_session.add_all(made.values())
    await db_session.flush()
    return made


async def visible_names(session, caller, rows) -> set[str]:
    ids = [r.id for r in rows.values()]
    found = await session.scalars(select(Dataset.name).where(scoping.visible(caller, Dataset), Dataset.id.in_(ids)))
    return set(found)


async def test_each_team_sees_its_rows_and_the_organizations(db_session, two_teams, rows):
    nlp, vision = two_teams
    callers = {
        "nlp dev": principal("developer", [nlp]),
        "vision viewer": principal("viewer", [vision]),
        "no team": principal("developer"),
        "admin": principal("admin"),
        "system": SYSTEM,
    }
    expected = {
        "nlp dev": {"nlp-private", "nlp-shared"},
        "vision viewer": {"vision-private", "nlp-shared"},
        "no team": {"nlp-shared"},
        "admin": set(rows),
        "system": set(rows),
    }
    for who, caller in callers.items():
        assert await visible_names(db_session, caller, rows) == expected[who], who
        # `sees` says the same of one row as `visible` of the table
        assert {name for name, row in rows.items() if scoping.sees(caller, row)} == expected[who], who


async def test_rows_without_visibility_are_their_teams_only(db_session, two_teams):
    nlp, vision = two_teams
    db_session.add_all([Experiment(name="sweep", team_id=nlp.id), Experiment(name="sweep", team_id=vision.id)])
    await db_session.flush()

    async def teams_seen(caller) -> set[uuid.UUID]:
        query = select(Experiment.team_id).where(
            scoping.visible(caller, Experiment), Experiment.team_id.in_([nlp.id, vision.id])
        )
        return set(await db_session.scalars(query))

    assert await teams_seen(principal("developer", [nlp])) == {nlp.id}
    assert await teams_seen(principal("developer")) == set()
    assert await teams_seen(SYSTEM) == {nlp.id, vision.id}
    only_vision = select(Experiment.team_id).where(
        scoping.team_clause(principal("viewer", [vision]), Experiment.team_id),
        Experiment.team_id.in_([nlp.id, vision.id]),
    )
    assert set(await db_session.scalars(only_vision)) == {vision.id}
    assert scoping.team_ids_param(SYSTEM) is None
    assert scoping.team_ids_param(principal("developer", [nlp])) == [nlp.id]


async def test_changing_needs_the_permission_and_the_owning_team(two_teams, rows):
    nlp, vision = two_teams
    shared = rows["nlp-shared"]
    scoping.require_owner(principal("developer", [nlp]), shared, "datasets:write", "dataset")
    scoping.require_owner(SYSTEM, shared, "datasets:write", "dataset")
    with pytest.raises(Forbidden, match="team"):  # sees it (organization-wide), may not change it
        scoping.require_owner(principal("developer", [vision]), shared, "datasets:write", "dataset")
    with pytest.raises(Forbidden, match="datasets:write"):
        scoping.require_owner(principal("viewer", [nlp]), shared, "datasets:write", "dataset")


def test_the_owning_team_of_a_new_resource(two_teams):
    nlp, vision = two_teams
    default = type(nlp)(id=uuid.uuid4(), name="default")
    assert scoping.owning_team(principal("developer", [nlp, vision]), vision.id) == vision.id  # named, and theirs
    with pytest.raises(NotFound):
        scoping.owning_team(principal("developer", [nlp]), vision.id)  # named, not theirs
    assert scoping.owning_team(SYSTEM, vision.id) == vision.id
    assert scoping.owning_team(principal("developer", [nlp]), None) == nlp.id  # their only team
    placed = principal("developer", [nlp, default], default_team=default)
    assert scoping.owning_team(placed, None) == nlp.id  # the team they were placed in, not the default one
    several = principal("developer", [nlp, vision, default], default_team=default)
    assert scoping.owning_team(several, None) == default.id
    with pytest.raises(Invalid, match="Choose the owning team"):
        scoping.owning_team(principal("developer"), None)


async def test_the_datasets_service_scopes_through_it(db_session, two_teams, rows):
    vision = two_teams[1]
    user = User(username=f"dev-{uuid.uuid4().hex[:8]}", password_hash="-", role="developer")
    db_session.add(user)
    await db_session.flush()
    dev = principal("developer", [vision], user=user)
    made = await datasets.create_dataset(db_session, dev, DatasetCreate(name="tickets"))
    assert made.team_id == vision.id and made.created_by == dev.user_id

    listed, _ = await datasets.list_datasets(db_session, dev, q=None, team_id=None, cursor=None, limit=500)
    names = {d.name for d, _, _ in listed}
    assert {"tickets", "vision-private", "nlp-shared"} <= names and "nlp-private" not in names
    with pytest.raises(NotFound):
        await datasets.get_dataset(db_session, dev, rows["nlp-private"].id)
    with pytest.raises(Forbidden):
        datasets.require_write(dev, await datasets.get_dataset(db_session, dev, rows["nlp-shared"].id))
    assert (await datasets.get_dataset(db_session, SYSTEM, rows["nlp-private"].id)).name == "nlp-private"
