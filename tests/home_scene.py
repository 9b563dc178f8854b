"""Known data for the home dashboard's tests (integration and browser): two teams with a running
deployment, a training queue, experiment runs and a dataset version waiting for review each,
gateway usage at known hours, and a failing upstream behind an organisation-wide route and one
behind a route only team beta may use. `home_scene` returns what the tests assert against."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from axops.core.db import libpq_url
from axops.datasets.models import Dataset, DatasetVersion
from axops.gateway.models import UsageRecord
from axops.registry.models import ModelVersion
from axops.serving.models import Deployment
from axops.training.models import TrainingJob
from tests.factories import insert_rows, make_account, new_run, register_model


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _job(name: str, team_id: str, base: uuid.UUID, status: str, **extra) -> dict:
    return {
        "name": name,
        "team_id": team_id,
        "status": status,
        "base_version_id": base,
        "dataset_version_ids": [],
        "column_mapping": {"text": "text"},
        "method": "lora",
        "hyperparameters": {"max_steps": 30},
        "resources": {"gpus": 0},
        "executor": "kubernetes",  # this machine's training runner leaves it alone
        **extra,
    }


def home_scene(api, admin: dict, database_url: str, live_server) -> dict:
    alpha = make_account(api, admin, "dev-alpha", new_team="alpha")
    beta = make_account(api, admin, "dev-beta", new_team="beta")
    scene: dict = {"alpha": alpha, "beta": beta}
    for who, acct in (("alpha", alpha), ("beta", beta)):
        team = acct.team["id"]
        model = register_model(api, acct.headers, f"chat-{who}")
        (version,) = insert_rows(database_url, ModelVersion, [{"model_id": model["id"], "version": 1}])
        common = {"team_id": team, "model_id": model["id"], "version_id": version, "executor": "kubernetes"}
        insert_rows(
            database_url,
            Deployment,
            [
                {
                    **common,
                    "name": f"chat-{who}",
                    "status": "ready" if who == "alpha" else "degraded",
                    "replicas_desired": 2,
                    "replicas_max": 2,
                    "replicas": [{"index": 0, "state": "ready"}, {"index": 1, "state": "starting"}],
                },
                {**common, "name": f"old-{who}", "status": "stopped"},
            ],
        )
        now = datetime.now(UTC)
        insert_rows(
            database_url,
            TrainingJob,
            [
                _job(
                    f"tune-{who}-1",
                    team,
                    version,
                    "running",
                    progress={"step": 5, "max_steps": 30},
                    started_at=now,
                    queued_at=now - timedelta(minutes=5),
                ),
                _job(f"tune-{who}-2", team, version, "queued", queued_at=now - timedelta(minutes=4)),
                _job(f"tune-{who}-done", team, version, "succeeded", queued_at=now - timedelta(hours=2)),
            ],
        )
        new_run(api, acct.headers, experiment=f"exp-{who}", name=f"run-{who}-1")
        scene[f"run_{who}"] = new_run(api, acct.headers, experiment=f"exp-{who}", name=f"run-{who}-2")
        (dataset,) = insert_rows(database_url, Dataset, [{"name": f"corpus-{who}", "team_id": team}])
        insert_rows(
            database_url,
            DatasetVersion,
            [
                {
                    "dataset_id": dataset,
                    "version": 1,
                    "filename": "a.csv",
                    "status": "ready",
                    "review_status": "scanned",
                    "row_count": 120,
                    "sensitivity": "internal",
                },
                {
                    "dataset_id": dataset,
                    "version": 2,
                    "filename": "b.csv",
                    "status": "ready",
                    "review_status": "approved",
                },
            ],
        )
        scene[f"dataset_{who}"] = str(dataset)

    # gateway usage: alpha's three requests an hour ago (one failed), beta's two five hours ago,
    # and one of alpha's 30 hours ago (outside the last day)
    now = datetime.now(UTC)
    rows = [
        (alpha, now - timedelta(hours=1), 200, 100.0, 0.5),
        (alpha, now - timedelta(hours=1), 500, 200.0, 0.25),
        (alpha, now - timedelta(hours=1), 200, 300.0, 0.25),
        (beta, now - timedelta(hours=5), 200, 1000.0, 2.0),
        (beta, now - timedelta(hours=5), 429, 50.0, 0.0),
        (alpha, now - timedelta(hours=30), 200, 10.0, 9.0),
    ]
    insert_rows(
        database_url,
        UsageRecord,
        [
            {
                "created_at": at,
                "user_id": acct.user_id,
                "team_id": acct.team["id"],
                "endpoint": "chat",
                "model": "chat-alpha",
                "status": status,
                "latency_ms": latency,
                "cost": cost,
            }
            for acct, at, status, latency, cost in rows
        ],
    )
    scene["alpha_hour"], scene["beta_hour"] = _hour(now - timedelta(hours=1)), _hour(now - timedelta(hours=5))

    # two routes whose upstreams are down: one anybody may call, one for team beta only
    suffix = uuid.uuid4().hex[:6]  # upstream state outlives a test in the server; fresh names start clean
    for name in ("dead-org", "dead-beta"):
        p = api.post(
            "/api/gateway/providers", json={"name": f"{name}-{suffix}", "base_url": "http://127.0.0.1:9"}, headers=admin
        )
        assert p.status_code == 201, p.text
        r = api.post(
            "/api/gateway/routes",
            json={"model_name": name, "targets": [{"provider_id": p.json()["id"], "model": "m"}]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        scene[f"{name}_upstream"] = f"{name}-{suffix}/m"
    # only serving makes team routes (a deployment's); here one is made so by hand
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "UPDATE gateway_routes SET visibility = 'team', team_id = %s WHERE model_name = 'dead-beta'",
            (beta.team["id"],),
        )
    gw = live_server.app.state.axops.gateway

    async def probe_three_times() -> None:
        gw.table.invalidate()  # the routes just made, without waiting for their NOTIFY
        await gw.table.ensure(gw.db, gw.secret)
        for _ in range(3):  # three failed probes open the circuit
            await gw.check_health()

    asyncio.run_coroutine_threadsafe(probe_three_times(), live_server.server_loop).result(60)
    return scene
