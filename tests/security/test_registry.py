"""Deleting a deployed model: the registry asked serving for the model's live deployments before
checking the caller's team, so another team's Developer trying to delete (any) model learned the
names of its deployments from the 409. The team check now comes first; only the owners hear why."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from axops.serving.models import Deployment
from tests.factories import register_model

DEPLOYMENT = "victims-secret-endpoint"


def _deploy(api, live_server, account, model: dict) -> None:
    """A live deployment of the model, written straight to the table: on a cluster this installation does
    not drive, so no replica starts."""
    r = api.post(
        f"/api/model/{model['id']}/uploads",
        json={"files": [{"path": "config.json", "size": 2}]},
        headers=account.headers,
    )
    assert r.status_code == 201, r.text
    state = live_server.app.state.axops

    async def insert() -> None:
        async with state.db.sessionmaker() as session:
            session.add(
                Deployment(
                    name=DEPLOYMENT,
                    team_id=uuid.UUID(account.team["id"]),
                    model_id=uuid.UUID(model["id"]),
                    version_id=uuid.UUID(r.json()["id"]),
                    executor="kubernetes",
                    status="ready",
                )
            )
            await session.commit()

    asyncio.run_coroutine_threadsafe(insert(), live_server.server_loop).result(30)


@pytest.mark.parametrize(("visibility", "status"), [("team", 404), ("organization", 403)])
def test_another_team_learns_nothing_of_a_models_deployments(api, victim, attacker, live_server, visibility, status):
    deployed = register_model(api, victim.headers, "deployed", team_id=victim.team["id"], visibility=visibility)
    _deploy(api, live_server, victim, deployed)
    idle = register_model(api, victim.headers, "idle", team_id=victim.team["id"], visibility=visibility)

    # Another team's Developer is refused as for any model of that team, and hears no deployment name.
    for model in (deployed, idle):
        delete = api.request(
            "DELETE", f"/api/model/{model['id']}", json={"confirm_name": model["name"]}, headers=attacker.headers
        )
        archive = api.post(f"/api/model/{model['id']}/archive", headers=attacker.headers)
        for r in (delete, archive):
            assert r.status_code == status, (model["name"], r.text)
            assert DEPLOYMENT not in r.text and "deployments" not in r.json()
    assert api.get(f"/api/model/{deployed['id']}", headers=victim.headers).json()["archived_at"] is None

    # The owners are told why the model stays.
    r = api.request(
        "DELETE", f"/api/model/{deployed['id']}", json={"confirm_name": deployed["name"]}, headers=victim.headers
    )
    assert r.status_code == 409 and r.json()["deployments"] == [DEPLOYMENT]
    assert api.get(f"/api/model/{deployed['id']}", headers=victim.headers).status_code == 200
