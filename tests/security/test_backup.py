"""Backups hold everything: they are private to their owner, and a tampered backup can neither write
outside the object store nor change the database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from axops import bootstrap
from axops.core import backup, restore
from axops.core.db import libpq_url
from axops.core.storage import ObjectStore


def _empty_database(server_url: str) -> tuple[str, str]:
    name = f"axops_bksec_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(libpq_url(server_url).replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    return name, url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)


def test_a_tampered_manifest_cannot_escape_the_store_and_backups_are_private(
    server_url, database_url, settings, tmp_path
):
    asyncio.run(bootstrap.seed(database_url, settings))
    source = ObjectStore((tmp_path / "store").as_uri(), settings.secret_key)
    asyncio.run(source.put_bytes("models/m/w.bin", b"weights"))
    made = asyncio.run(backup.create(database_url, source, str(tmp_path / "backups"), embedded=False))
    folder = Path(made.location)
    assert folder.stat().st_mode & 0o077 == 0  # owner only: it holds password hashes and secrets

    # The attacker rewrites the manifest (and its checksum in backup.json) to name a key outside the store.
    payload = b"#!/bin/sh\necho owned\n"
    (folder / "escape.sh").write_bytes(payload)
    line = {"key": "../escape.sh", "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    manifest = (folder / "objects.jsonl").read_bytes() + json.dumps(line).encode() + b"\n"
    (folder / "objects.jsonl").write_bytes(manifest)
    meta = json.loads((folder / "backup.json").read_text())
    meta["files"]["objects.jsonl"] = hashlib.sha256(manifest).hexdigest()
    (folder / "backup.json").write_text(json.dumps(meta))

    name, url = _empty_database(server_url)
    target_root = tmp_path / "restored" / "store"
    try:
        target = ObjectStore(target_root.as_uri(), settings.secret_key)
        try:
            asyncio.run(restore.restore(url, target, str(folder), embedded=False))
            raise AssertionError("a manifest naming ../escape.sh was restored")
        except backup.BackupError as exc:
            assert "invalid object key" in str(exc)
        assert not (target_root.parent / "escape.sh").exists()
        assert not any(target_root.rglob("*"))
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
