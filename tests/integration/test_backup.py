"""Backup and restore (issue 19): a real `axops up` on its own database, `axops backup`, a wipe of the
database and the object store, `axops restore`, and the same server again with everything back.
Bad input: a non-empty database, a corrupt byte, a missing object, a partial backup: refused, nothing changed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import obstore
import psycopg
from sqlalchemy.engine import make_url

from axops import bootstrap
from axops.core import backup, restore
from axops.core.db import Database, libpq_url
from axops.core.storage import ObjectStore
from axops.monitoring.backup_tasks import scheduled_backup
from tests import s3server
from tests.factories import (
    ADMIN_PASSWORD,
    log_batch,
    login_headers,
    make_account,
    make_model_version,
    make_prompt,
    new_run,
    upload_dataset,
)
from tests.live import axops_process
from tests.s3server import moto_server

AXOPS = str(Path(sys.executable).parent / "axops")


def _new_database(server_url: str) -> tuple[str, str]:
    name = f"axops_backup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(libpq_url(server_url).replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    return name, url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cli(args: list[str], database_url: str, data_dir: Path, settings) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AXOPS_DATABASE_URL": database_url,
        "AXOPS_DATA_DIR": str(data_dir),
        "AXOPS_SECRET_KEY": settings.secret_key,
        "AXOPS_LOG_LEVEL": "WARNING",
    }
    env.pop("AXOPS_STORAGE_URL", None)
    return subprocess.run([AXOPS, *args], env=env, capture_output=True, text=True, timeout=300)


def _tables(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    return row[0] if row else 0


def _store_digests(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest() for p in store.rglob("*") if p.is_file()
    }


def _tiny_safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)


def _snapshot(api: httpx.Client, admin: dict, dev: dict, ids: dict) -> dict:
    """What the journey checks after the restore, read through the API."""
    users = sorted(u["username"] for u in api.get("/api/users", params={"limit": 100}, headers=admin).json()["items"])
    model = api.get(f"/api/model/{ids['model']}", headers=dev).json()
    versions = api.get(f"/api/model/{ids['model']}/versions", headers=dev).json()
    dataset = api.get(f"/api/dataset/{ids['dataset']}", headers=dev).json()
    run = api.get(f"/api/experiments/runs/{ids['run']}", headers=dev).json()
    prompt = api.get(f"/api/prompts/{ids['prompt']}", headers=dev).json()
    audit = api.get("/api/audit/logs", params={"limit": 200}, headers=admin).json()["items"]
    history = api.get(f"/api/experiments/runs/{ids['run']}/metrics/loss", headers=dev).json()
    return {
        "users": users,
        "model": (
            model["name"],
            [
                (v["version"], sorted((f["path"], f["sha256"]) for f in files))
                for v in versions
                for files in [api.get(f"/api/model/version/{v['id']}", headers=dev).json()["files"]]
            ],
        ),
        "dataset": (dataset["name"], dataset["latest_version"], dataset["row_count"]),
        "run": (run["name"], run["params"], json.dumps(history, sort_keys=True)),
        "prompt": (prompt["name"], prompt["latest_version"], prompt["labels"]),
        "audit": sorted(e["id"] for e in audit),
    }


def test_backup_wipe_restore_journey(server_url, settings, tmp_path):
    name, url = _new_database(server_url)
    data_dir, backups = tmp_path / "data", tmp_path / "backups"
    store = data_dir / "objects"
    weights = _tiny_safetensors()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(weights)
    (model_dir / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}')
    try:
        with axops_process(url, settings, data_dir) as base, httpx.Client(base_url=base, timeout=60) as api:
            admin = login_headers(api, "admin", ADMIN_PASSWORD)
            dev = make_account(api, admin, "bk-dev", new_team="bk-team")
            make_account(api, admin, "bk-viewer", role="viewer")
            model, version = make_model_version(api, dev.headers, "bk-model", model_dir)
            r = upload_dataset(api, dev.headers, b"text,label\nhello,1\nworld,0\n", "bk.csv", name="bk-data")
            assert r.status_code == 201, r.text
            dataset = r.json()
            run = new_run(api, dev.headers, experiment="bk-exp", name="bk-run", params={"lr": "0.1"})
            metrics = [
                {"key": "loss", "value": v, "step": i, "timestamp": 1_700_000_000_000 + i}
                for i, v in enumerate([0.9, 0.5])
            ]
            assert log_batch(api, dev.headers, run["id"], metrics).status_code == 200
            prompt = make_prompt(api, dev.headers, "bk-prompt", "Hello {{ name }}")
            ids = {
                "model": model["id"],
                "dataset": dataset["dataset_id"] if "dataset_id" in dataset else dataset["dataset"]["id"],
                "run": run["id"],
                "prompt": prompt["name"],
            }
            before = _snapshot(api, admin, dev.headers, ids)
        assert "bk-dev" in before["users"] and before["audit"], before
        assert '"values": [0.9, 0.5]' in before["run"][2] and [f for f, _ in before["model"][1][0][1]] == [
            "config.json",
            "model.safetensors",
        ]
        digests = _store_digests(store)
        assert digests, "the journey stored files"

        done = _cli(["backup", "--to", str(backups), "--keep", "3"], url, data_dir, settings)
        assert done.returncode == 0, done.stderr
        (folder,) = [p for p in backups.iterdir() if not p.name.startswith(".")]
        meta = json.loads((folder / "backup.json").read_text())
        assert meta["objects"] == len(digests) and meta["objects_copied"] is True
        manifest = [json.loads(line) for line in (folder / "objects.jsonl").read_text().splitlines()]
        assert {e["key"]: e["sha256"] for e in manifest} == digests
        with psycopg.connect(libpq_url(url)) as conn:
            (event,) = conn.execute(
                "SELECT actor_type, summary FROM audit_events WHERE action = 'backup.created'"
            ).fetchall()
        assert event[0] == "system" and event[1]["via"] == "cli" and event[1]["name"] == folder.name

        # Wipe: the database and the object store are gone.
        _drop_database(server_url, name)
        shutil.rmtree(store)
        name, url = _new_database(server_url)

        # Bad backups are refused before anything changes.
        corrupt = tmp_path / "corrupt"
        shutil.copytree(folder, corrupt)
        dump = bytearray((corrupt / "db.dump").read_bytes())
        dump[len(dump) // 2] ^= 0xFF
        (corrupt / "db.dump").write_bytes(bytes(dump))
        missing = tmp_path / "missing"
        shutil.copytree(folder, missing)
        next(p for p in (missing / "objects").rglob("*") if p.is_file()).unlink()
        partial = tmp_path / "partial"
        shutil.copytree(folder, partial)
        (partial / "backup.json").unlink()
        for bad, words in ((corrupt, "checksum"), (missing, "missing"), (partial, "not a complete backup")):
            refused = _cli(["restore", str(bad)], url, data_dir, settings)
            assert refused.returncode == 1 and words in refused.stderr, (bad, refused.stderr)
            assert _tables(url) == 0 and not (store.exists() and any(store.rglob("*"))), bad

        restored = _cli(["restore", str(folder)], url, data_dir, settings)
        assert restored.returncode == 0, restored.stderr
        assert f"{len(digests)} objects restored" in restored.stdout
        assert _store_digests(store) == digests

        # A second restore into the now non-empty database is refused, and changes nothing.
        again = _cli(["restore", str(folder)], url, data_dir, settings)
        assert again.returncode == 1 and "refusing to restore" in again.stderr

        with axops_process(url, settings, data_dir) as base, httpx.Client(base_url=base, timeout=60) as api:
            admin = login_headers(api, "admin", ADMIN_PASSWORD)
            dev_headers = login_headers(api, "bk-dev")
            after = _snapshot(api, admin, dev_headers, ids)
            assert set(before["audit"]) <= set(after["audit"])  # every event is back (logins since add more)
            assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
            got = api.get(f"/api/model/version/{version['id']}/files/model.safetensors", headers=dev_headers)
            assert got.status_code == 200
            assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(weights).hexdigest()

        # --force drops the schemas and restores over a non-empty database.
        forced = _cli(["restore", str(folder), "--force"], url, data_dir, settings)
        assert forced.returncode == 0 and "dropped schemas public" in forced.stdout, forced.stderr
        assert _store_digests(store) == digests
    finally:
        _drop_database(server_url, name)


def test_daily_task_makes_a_backup_and_keeps_n(database_url, settings, tmp_path):
    asyncio.run(bootstrap.seed(database_url, settings))
    target = tmp_path / "backups"
    conf = settings.model_copy(
        update={"backup_url": str(target), "backup_keep": 2, "backup_hour": 4, "backup_copy_objects": False}
    )

    async def run() -> list:
        db = Database(database_url, pool_size=2)
        storage = ObjectStore((tmp_path / "store").as_uri(), settings.secret_key)
        await storage.put_bytes("models/x/weights.bin", b"weights")
        state = SimpleNamespace(settings=conf, db=db, storage=storage)
        target.mkdir()
        (target / ".partial-axops-20250101T000000Z").mkdir()  # left by a killed run a year ago
        os.utime(target / ".partial-axops-20250101T000000Z", (0, 0))
        (target / ".partial-axops-20260101T045300Z").mkdir()  # another run, still writing
        try:
            assert await scheduled_backup(state, datetime(2026, 1, 1, 3, 53, tzinfo=UTC)) is None  # not its hour
            made = [await scheduled_backup(state, datetime(2026, 1, d, 4, 53, tzinfo=UTC)) for d in (1, 2, 3)]
            listed = await backup.list_backups(str(target))
        finally:
            await db.dispose()
        return [made, listed]

    made, listed = asyncio.run(run())
    assert [m.name for m in made[1:]] == listed  # the oldest was pruned
    assert made[2].pruned == [made[0].name] and made[2].objects == 1 and made[2].copied is False
    assert not (target / made[0].name).exists()
    assert sorted(p.name for p in target.glob(".partial-*")) == [".partial-axops-20260101T045300Z"]
    nowhere = tmp_path / "no-such-backup"
    try:
        asyncio.run(
            restore.restore(
                database_url, ObjectStore((tmp_path / "x").as_uri(), "k" * 40), str(nowhere), embedded=False
            )
        )
        raise AssertionError("restored from a directory that does not exist")
    except backup.BackupError as exc:
        assert "is not a directory" in str(exc) and not nowhere.exists()
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT resource_id, actor_type, outcome FROM audit_events WHERE action = 'backup.created' "
            "AND resource_id = ANY(%s)",
            ([m.name for m in made],),
        ).fetchall()
    assert sorted(rows) == sorted((m.name, "system", "success") for m in made)


def test_backup_to_s3_lists_prunes_and_restores(server_url, database_url, settings, tmp_path, monkeypatch):
    """An s3:// destination on moto's S3 server (a process): complete backups only are listed and kept
    to N, and a restore reads the backup from the bucket."""
    name = None
    try:
        with moto_server(tmp_path, "axops-backups") as endpoint:
            for key, value in s3server.environment(endpoint).items():
                monkeypatch.setenv(key, value)
            asyncio.run(bootstrap.seed(database_url, settings))
            location = "s3://axops-backups/nightly"
            name, target_url = _new_database(server_url)

            async def run() -> tuple[list, list, dict, dict]:
                source = ObjectStore((tmp_path / "store").as_uri(), settings.secret_key)
                await source.put_bytes("models/m/weights.bin", b"w" * 70_000)
                await source.put_bytes("datasets/d/data.csv", b"a,b\n1,2\n")
                made = [
                    await backup.create(
                        database_url, source, location, embedded=False, keep=2, now=datetime(2026, 1, d, tzinfo=UTC)
                    )
                    for d in (1, 2, 3)
                ]
                bucket, _ = backup.open_location(location)
                await obstore.put_async(bucket, "axops-20990101T000000Z/db.dump", b"half")  # a partial one
                listed = await backup.list_backups(location)
                target = ObjectStore((tmp_path / "restored").as_uri(), settings.secret_key)
                report = await restore.restore(target_url, target, f"{location}/{made[-1].name}", embedded=False)
                restored = {
                    k: (await target.get_bytes(k)) == (await source.get_bytes(k))
                    for k in ("models/m/weights.bin", "datasets/d/data.csv")
                }
                return [m.name for m in made], listed, report, restored

            made, listed, report, restored = asyncio.run(run())
            assert listed == made[1:]  # the oldest pruned, the partial never listed
            assert report["objects_restored"] == 2 and restored == {
                "models/m/weights.bin": True,
                "datasets/d/data.csv": True,
            }
            with psycopg.connect(libpq_url(target_url)) as conn:
                assert conn.execute("SELECT count(*) FROM users WHERE username = 'admin'").fetchone() == (1,)
    finally:
        if name:
            _drop_database(server_url, name)
