"""Retention and recovery (issue 19): deleted models and datasets can be restored for a window,
then the purge removes rows and objects; training job logs expire; archived files keep 180 days."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from axops.settings import Settings
from axops.training.models import TrainingJob
from tests.factories import (
    corpus_csv,
    dir_files,
    insert_rows,
    make_account,
    make_team,
    register_model,
    upload_dataset,
    upload_model,
)


@pytest.fixture
def world(api, admin):
    nlp, vision = make_team(api, admin, "nlp"), make_team(api, admin, "vision")
    return {
        "dev1": make_account(api, admin, "dev1", "developer", nlp).headers,
        "dev2": make_account(api, admin, "dev2", "developer", vision).headers,
    }


def on_server(live_server, coro_fn):
    return asyncio.run_coroutine_threadsafe(coro_fn(), live_server.server_loop).result(60)


def age_deleted(database_url: str, table: str, row_id: str, days: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {table} SET deleted_at = now() - make_interval(days => %s) WHERE id = %s", (days, row_id))


def count(database_url: str, sql: str, *params) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def delete(api, path: str, name: str, headers: dict, **params):
    return api.request("DELETE", path, json={"confirm_name": name}, params=params, headers=headers)


def test_defaults_match_the_prd():
    s = Settings()
    assert s.audit_retention_days == 365
    assert s.request_log_retention_days == 90
    assert s.training_log_retention_days == 30
    assert s.model_archive_retention_days >= 180
    assert s.deleted_retention_days == 30


def test_model_delete_restore_purge_journey(api, world, admin, demo_dirs, live_server, database_url):
    from axops.registry import tasks as registry_tasks

    dev1 = world["dev1"]
    state = live_server.app.state.axops
    model = register_model(api, dev1, "ko-chat", description="복원 여정")
    v1 = upload_model(api, dev1, model["id"], dir_files(demo_dirs[0])).json()
    assert (
        api.put(f"/api/model/{model['id']}/aliases/production", json={"version_id": v1["id"]}, headers=dev1).status_code
        == 204
    )
    keys = [
        f"models/{model['id']}/{v1['id']}/{f['path']}"
        for f in api.get(f"/api/model/version/{v1['id']}", headers=dev1).json()["files"]
    ]
    assert keys and all(state.storage.local_path(k).exists() for k in keys)

    # Bad name: nothing happens. Right name: gone from every read, objects kept.
    assert delete(api, f"/api/model/{model['id']}", "ko-chaT", dev1).status_code == 422
    assert delete(api, f"/api/model/{model['id']}", "ko-chat", dev1).status_code == 204
    assert api.get(f"/api/model/{model['id']}", headers=dev1).status_code == 404
    assert api.get(f"/api/model/version/{v1['id']}", headers=dev1).status_code == 404
    assert api.get(f"/api/model/version/{v1['id']}/files/config.json", headers=dev1).status_code == 404
    assert api.get(f"/api/model/version/{v1['id']}/download", headers=dev1).status_code == 404
    for params in ({}, {"q": "ko-chat"}, {"include_archived": True}):
        assert api.get("/api/model", params=params, headers=dev1).json()["items"] == []
    assert api.get(f"/api/model/version/{v1['id']}", headers=admin).status_code == 404  # Admins too
    assert all(state.storage.local_path(k).exists() for k in keys)

    # Listed as deleted, with who and when it goes; the name is held.
    deleted = api.get("/api/model/deleted", headers=dev1).json()
    assert [d["name"] for d in deleted] == ["ko-chat"]
    assert deleted[0]["deleted_by"] == "dev1"
    purge_after = datetime.fromisoformat(deleted[0]["purge_after"])
    assert timedelta(days=29) < purge_after - datetime.now(UTC) <= timedelta(days=30)
    again = api.post("/api/model/register", json={"name": "ko-chat", "task": "text-generation"}, headers=dev1)
    assert again.status_code == 409 and again.json()["type"].endswith("/model_name_held_by_deleted")
    # Restoring a live model or purging as a non-Admin is refused.
    assert api.post(f"/api/model/{model['id']}/restore", headers=dev1).status_code == 200
    assert api.post(f"/api/model/{model['id']}/restore", headers=dev1).status_code == 404

    # Back with versions, alias and files.
    assert api.get(f"/api/model/{model['id']}", headers=dev1).json()["aliases"] == {"production": 1}
    assert [m["name"] for m in api.get("/api/model", params={"q": "ko-chat"}, headers=dev1).json()["items"]] == [
        "ko-chat"
    ]
    got = api.get(f"/api/model/version/{v1['id']}/files/config.json", headers=dev1)
    assert got.status_code == 200 and got.content == (demo_dirs[0] / "config.json").read_bytes()
    assert api.get("/api/model/deleted", headers=dev1).json() == []

    # Delete again; the purge leaves it alone inside the window, removes it after.
    assert delete(api, f"/api/model/{model['id']}", "ko-chat", dev1).status_code == 204
    assert on_server(live_server, lambda: registry_tasks.purge_deleted(state)) == 0
    age_deleted(database_url, "registered_models", model["id"], 31)
    assert on_server(live_server, lambda: registry_tasks.purge_deleted(state)) == 1
    assert count(database_url, "SELECT count(*) FROM registered_models WHERE id = %s", model["id"]) == 0
    assert count(database_url, "SELECT count(*) FROM model_versions WHERE model_id = %s", model["id"]) == 0
    assert not any(state.storage.local_path(k).exists() for k in keys)
    assert api.post(f"/api/model/{model['id']}/restore", headers=dev1).status_code == 404
    assert api.get("/api/model/deleted", headers=dev1).json() == []
    # The name is free again.
    assert (
        api.post("/api/model/register", json={"name": "ko-chat", "task": "text-generation"}, headers=dev1).status_code
        == 201
    )

    actions = [
        e["action"]
        for e in api.get("/api/audit/logs", params={"resource_type": "model", "limit": 200}, headers=admin).json()[
            "items"
        ]
    ]
    for action in ("model.delete", "model.restore", "model.purge"):
        assert action in actions, action


def test_admin_purges_a_deleted_model_now(api, world, admin, demo_dirs, live_server, database_url):
    dev1 = world["dev1"]
    state = live_server.app.state.axops
    model = register_model(api, dev1, "purge-me")
    v1 = upload_model(api, dev1, model["id"], dir_files(demo_dirs[0])).json()
    key = f"models/{model['id']}/{v1['id']}/config.json"
    # Purging needs a deleted model: a live one is not found that way.
    assert delete(api, f"/api/model/{model['id']}", "purge-me", admin, purge="true").status_code == 404
    assert delete(api, f"/api/model/{model['id']}", "purge-me", dev1).status_code == 204
    refused = delete(api, f"/api/model/{model['id']}", "purge-me", dev1, purge="true")
    assert refused.status_code == 403 and refused.json()["type"].endswith("/purge_admin_only")
    assert delete(api, f"/api/model/{model['id']}", "wrong", admin, purge="true").status_code == 422
    assert state.storage.local_path(key).exists()
    assert delete(api, f"/api/model/{model['id']}", "purge-me", admin, purge="true").status_code == 204
    assert count(database_url, "SELECT count(*) FROM registered_models WHERE id = %s", model["id"]) == 0
    assert not state.storage.local_path(key).exists()


def test_dataset_delete_restore_purge_journey(api, world, admin, live_server, database_url):
    from axops.datasets import tasks as dataset_tasks

    dev1 = world["dev1"]
    state = live_server.app.state.axops
    created = upload_dataset(api, dev1, corpus_csv(), "corpus.csv", name="corpus")
    assert created.status_code in (200, 201, 202), created.text
    dataset_id = created.json()["dataset_id"]
    versions = api.get(f"/api/dataset/{dataset_id}/versions", headers=dev1).json()
    version_id = versions[0]["id"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        keys = [
            k
            for row in conn.execute(
                "SELECT original_key, parquet_key FROM dataset_versions WHERE dataset_id = %s", (dataset_id,)
            )
            for k in row
            if k
        ]
    assert keys and all(state.storage.local_path(k).exists() for k in keys)

    assert delete(api, f"/api/dataset/{dataset_id}", "nope", dev1).status_code == 422
    assert delete(api, f"/api/dataset/{dataset_id}", "corpus", dev1).status_code == 204
    assert api.get(f"/api/dataset/{dataset_id}", headers=dev1).status_code == 404
    assert api.get(f"/api/dataset/version/{version_id}", headers=dev1).status_code == 404
    assert api.get(f"/api/dataset/version/{version_id}/download", headers=dev1).status_code == 404
    assert api.get("/api/dataset", headers=dev1).json()["items"] == []
    assert api.get("/api/dataset", params={"q": "corpus"}, headers=admin).json()["items"] == []
    held = upload_dataset(api, dev1, corpus_csv(), "corpus.csv", name="corpus")
    assert held.status_code == 409 and held.json()["type"].endswith("/dataset_name_held_by_deleted"), held.text
    deleted = api.get("/api/dataset/deleted", headers=dev1).json()
    assert [(d["name"], d["deleted_by"]) for d in deleted] == [("corpus", "dev1")]

    restored = api.post(f"/api/dataset/{dataset_id}/restore", headers=dev1)
    assert restored.status_code == 200 and restored.json()["name"] == "corpus"
    assert [d["name"] for d in api.get("/api/dataset", headers=dev1).json()["items"]] == ["corpus"]
    assert api.get(f"/api/dataset/version/{version_id}", headers=dev1).status_code == 200

    assert delete(api, f"/api/dataset/{dataset_id}", "corpus", dev1).status_code == 204
    age_deleted(database_url, "datasets", dataset_id, 31)
    assert on_server(live_server, lambda: dataset_tasks.purge_deleted(state)) == 1
    assert count(database_url, "SELECT count(*) FROM datasets WHERE id = %s", dataset_id) == 0
    assert count(database_url, "SELECT count(*) FROM dataset_versions WHERE dataset_id = %s", dataset_id) == 0
    assert not any(state.storage.local_path(k).exists() for k in keys)
    assert api.post(f"/api/dataset/{dataset_id}/restore", headers=dev1).status_code == 404
    actions = [
        e["action"]
        for e in api.get("/api/audit/logs", params={"resource_type": "dataset", "limit": 200}, headers=admin).json()[
            "items"
        ]
    ]
    for action in ("dataset.delete", "dataset.restore", "dataset.purge"):
        assert action in actions, action


def test_training_logs_of_old_finished_jobs_expire(api, world, demo_dirs, live_server, database_url):
    from axops.training import tasks as training_tasks

    dev1 = world["dev1"]
    state = live_server.app.state.axops
    model = register_model(api, dev1, "base")
    v1 = upload_model(api, dev1, model["id"], dir_files(demo_dirs[0])).json()
    team_id = model["team_id"]
    now = datetime.now(UTC)
    common = dict(
        team_id=team_id,
        base_version_id=v1["id"],
        dataset_version_ids=[],
        column_mapping={"text": "text"},
        method="lora",
        hyperparameters={},
        resources={},
        executor="kubernetes",
    )
    old, recent, running = insert_rows(
        database_url,
        TrainingJob,
        [
            {**common, "name": "old", "status": "succeeded", "finished_at": now - timedelta(days=31)},
            {**common, "name": "recent", "status": "failed", "finished_at": now - timedelta(days=29)},
            {**common, "name": "running", "status": "running", "started_at": now - timedelta(days=60)},
        ],
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        for job in (old, recent, running):
            for i in range(3):
                conn.execute(
                    "INSERT INTO training_job_logs (job_id, attempt, line) VALUES (%s, 1, %s)", (job, f"line {i}")
                )
    assert on_server(live_server, lambda: training_tasks.purge_old_logs(state)) == 3
    lines = lambda job: count(database_url, "SELECT count(*) FROM training_job_logs WHERE job_id = %s", job)  # noqa: E731
    assert (lines(old), lines(recent), lines(running)) == (0, 3, 3)
    # The job and its outcome stay.
    assert count(database_url, "SELECT count(*) FROM training_jobs WHERE id = %s AND status = 'succeeded'", old) == 1
    assert on_server(live_server, lambda: training_tasks.purge_old_logs(state)) == 0


def test_purge_skips_what_is_still_referenced_and_purges_the_rest(
    api, world, admin, demo_dirs, live_server, database_url
):
    from axops.registry import tasks as registry_tasks

    dev1 = world["dev1"]
    state = live_server.app.state.axops
    used = register_model(api, dev1, "used-base")
    used_v1 = upload_model(api, dev1, used["id"], dir_files(demo_dirs[0])).json()
    free = register_model(api, dev1, "free-model")
    upload_model(api, dev1, free["id"], dir_files(demo_dirs[0]))
    insert_rows(
        database_url,
        TrainingJob,
        [
            {
                "name": "old-job",
                "team_id": used["team_id"],
                "base_version_id": used_v1["id"],
                "dataset_version_ids": [],
                "column_mapping": {"text": "text"},
                "method": "lora",
                "hyperparameters": {},
                "resources": {},
                "executor": "kubernetes",
                "status": "succeeded",
                "finished_at": datetime.now(UTC),
            }
        ],
    )
    for m in (used, free):
        assert delete(api, f"/api/model/{m['id']}", m["name"], dev1).status_code == 204
        age_deleted(database_url, "registered_models", m["id"], 31)
    assert on_server(live_server, lambda: registry_tasks.purge_deleted(state)) == 1
    assert count(database_url, "SELECT count(*) FROM registered_models WHERE id = %s", free["id"]) == 0
    assert count(database_url, "SELECT count(*) FROM registered_models WHERE id = %s", used["id"]) == 1
    blocked = delete(api, f"/api/model/{used['id']}", "used-base", admin, purge="true")
    assert blocked.status_code == 409 and blocked.json()["type"].endswith("/purge_blocked"), blocked.text
    # Still restorable, files intact.
    assert api.post(f"/api/model/{used['id']}/restore", headers=dev1).status_code == 200
    assert api.get(f"/api/model/version/{used_v1['id']}/files/config.json", headers=dev1).status_code == 200
