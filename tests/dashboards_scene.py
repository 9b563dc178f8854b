"""Known data for the system, training and data dashboards' tests: two teams (alpha, beta) with training jobs,
dataset versions and usage records at hours chosen so every figure can be computed by hand. The range the
figures are for is [base, base + 2 days), base a UTC midnight five days ago. `dashboards_scene` returns what the
tests assert against (the accounts, `base`, `start`, `end`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from axops.datasets.models import Dataset, DatasetVersion
from axops.gateway.models import UsageRecord
from axops.registry.models import ModelVersion
from axops.serving.models import Deployment
from axops.training.models import TrainingJob
from tests.factories import insert_rows, make_account, register_model

H = timedelta(hours=1)
D = timedelta(days=1)


def _job(name: str, team_id: str, base_version: uuid.UUID, status: str, *, gpus: int = 0, **extra) -> dict:
    row = {
        "name": name,
        "team_id": team_id,
        "status": status,
        "base_version_id": base_version,
        "dataset_version_ids": [],
        "column_mapping": {"text": "text"},
        "method": "lora",
        "hyperparameters": {"max_steps": 30},
        "resources": {"gpus": gpus},
        "executor": "kubernetes",  # this machine's training runner leaves it alone
        **extra,
    }
    row.setdefault("created_at", row.get("queued_at"))
    return row


def _version(dataset: uuid.UUID, version: int, at: datetime, rows: int, size: int, **extra) -> dict:
    return {
        "dataset_id": dataset,
        "version": version,
        "filename": f"v{version}.csv",
        "status": "ready",
        "created_at": at,
        "row_count": rows,
        "size": size,
        **extra,
    }


def dashboards_scene(api, admin: dict, database_url: str, job_prefix: str = "") -> dict:
    alpha = make_account(api, admin, "dash-alpha", new_team="alpha")
    beta = make_account(api, admin, "dash-beta", new_team="beta")
    a_team, b_team = alpha.team["id"], beta.team["id"]
    now = datetime.now(UTC)
    base = (now - 5 * D).replace(hour=0, minute=0, second=0, microsecond=0)

    model = register_model(api, alpha.headers, "말뭉치-모델")
    base_v, tuned_v = insert_rows(
        database_url, ModelVersion, [{"model_id": model["id"], "version": 1}, {"model_id": model["id"], "version": 2}]
    )
    b_model = register_model(api, beta.headers, "beta-model")
    (b_base,) = insert_rows(database_url, ModelVersion, [{"model_id": b_model["id"], "version": 1}])

    # datasets: alpha's (Korean name), an old one of alpha's, beta's own and beta's organisation-wide one
    corpus, old, secret, shared = insert_rows(
        database_url,
        Dataset,
        [
            {"name": "말뭉치-alpha", "team_id": a_team},
            {"name": "old-alpha", "team_id": a_team},
            {"name": "secret-beta", "team_id": b_team},
            {"name": "shared-beta", "team_id": b_team, "visibility": "organization"},
        ],
    )
    quality_v1 = {
        "rows": 100,
        "duplicate_rows": 5,
        "columns": [{"name": "text", "null_ratio": 0.1}, {"name": "note", "null_ratio": 0.4}],
        "warnings": [{"kind": "duplicates"}, {"kind": "many_missing"}],
    }
    quality_v2 = {
        "rows": 150,
        "duplicate_rows": 15,
        "columns": [{"name": "text", "null_ratio": 0.2}, {"name": "note", "null_ratio": 0.05}],
        "warnings": [{"kind": "duplicates"}],
    }
    corpus_v1, _, _, secret_v1, shared_v1 = insert_rows(
        database_url,
        DatasetVersion,
        [
            _version(
                corpus,
                1,
                base + H,
                100,
                1000,
                quality=quality_v1,
                pii={"entities": {"PHONE": 3, "EMAIL": 1}},
                review_status="approved",
            ),
            _version(
                corpus,
                2,
                base + D + H,
                150,
                2000,
                quality=quality_v2,
                pii={"entities": {"PHONE": 2}},
                review_status="scanned",
            ),
            _version(old, 1, base - 3 * D, 10, 100),
            _version(secret, 1, base + 2 * H, 7, 70, pii={"entities": {"RRN": 9}}, review_status="scanned"),
            _version(shared, 1, base + 3 * H, 1, 10),
        ],
    )

    p = job_prefix
    insert_rows(
        database_url,
        TrainingJob,
        [
            # alpha: A1 2 GPUs from 2 h before the range to 3 h into it: 6 GPU-hours inside
            _job(
                f"{p}a1",
                a_team,
                base_v,
                "succeeded",
                gpus=2,
                queued_at=base - 3 * H,
                started_at=base - 2 * H,
                finished_at=base + 3 * H,
            ),
            # A2 1 GPU for 30 min, waited 10 min, trained on corpus v1 and produced version 2
            _job(
                f"{p}a2",
                a_team,
                base_v,
                "succeeded",
                gpus=1,
                queued_at=base + D - 10 * timedelta(minutes=1),
                started_at=base + D,
                finished_at=base + D + H / 2,
                dataset_version_ids=[corpus_v1],
                output_version_id=tuned_v,
            ),
            # A3 still running since an hour before the range's end: 1 GPU-hour inside
            _job(
                f"{p}a3",
                a_team,
                base_v,
                "running",
                gpus=1,
                queued_at=base + 2 * D - H - 20 * timedelta(minutes=1),
                started_at=base + 2 * D - H,
            ),
            _job(
                f"{p}a4",
                a_team,
                base_v,
                "succeeded",
                queued_at=base + 2 * H - timedelta(minutes=1),
                started_at=base + 2 * H,
                finished_at=base + 4 * H,
            ),
            _job(
                f"{p}a5",
                a_team,
                base_v,
                "failed",
                queued_at=base + D + H - 5 * timedelta(minutes=1),
                started_at=base + D + H,
                finished_at=base + D + 2 * H,
            ),
            _job(
                f"{p}a-before",
                a_team,
                base_v,
                "succeeded",
                queued_at=base - 3 * D,
                started_at=base - 3 * D,
                finished_at=base - 3 * D + H,
            ),
            _job(f"{p}a-queued", a_team, base_v, "queued", gpus=8, queued_at=now - 30 * timedelta(minutes=1)),
            # beta: B1 4 GPUs from an hour before the end to 5 h after it: 4 GPU-hours inside, on shared v1
            _job(
                f"{p}b1",
                b_team,
                b_base,
                "succeeded",
                gpus=4,
                queued_at=base + 2 * D - H - timedelta(seconds=100),
                started_at=base + 2 * D - H,
                finished_at=base + 2 * D + 5 * H,
                dataset_version_ids=[shared_v1],
            ),
            _job(f"{p}b2", b_team, b_base, "cancelled", queued_at=base + 9 * H, finished_at=base + 10 * H),
            _job(
                f"{p}b3",
                b_team,
                b_base,
                "failed",
                queued_at=base + 5 * H - timedelta(seconds=50),
                started_at=base + 5 * H,
                finished_at=base + 6 * H,
                dataset_version_ids=[secret_v1],
            ),
            _job(f"{p}b-queued", b_team, b_base, "queued", queued_at=now - 10 * timedelta(minutes=1)),
        ],
    )

    # serving: one ready deployment of alpha's (1 of 2 replicas ready), one stopped
    common = {"model_id": model["id"], "version_id": base_v, "executor": "kubernetes", "team_id": a_team}
    insert_rows(
        database_url,
        Deployment,
        [
            {
                **common,
                "name": "chat-alpha",
                "status": "ready",
                "replicas_desired": 2,
                "replicas_max": 2,
                "replicas": [{"index": 0, "state": "ready"}, {"index": 1, "state": "starting"}],
            },
            {**common, "name": "old-alpha", "status": "stopped"},
        ],
    )
    # gateway usage in the range: 4 requests to chat-alpha (one 500, one 429), one outside it
    usage = [
        (base + H, 200, 100.0),
        (base + H, 500, 200.0),
        (base + 2 * H, 429, 300.0),
        (base + 3 * H, 200, 400.0),
        (base - H, 200, 9999.0),
    ]
    insert_rows(
        database_url,
        UsageRecord,
        [
            {
                "created_at": at,
                "user_id": alpha.user_id,
                "team_id": a_team,
                "endpoint": "chat",
                "model": "chat-alpha",
                "status": status,
                "latency_ms": latency,
            }
            for at, status, latency in usage
        ],
    )
    return {"alpha": alpha, "beta": beta, "base": base, "start": base, "end": base + 2 * D, "now": now}
