"""Backup and restore time: 1M usage records (generate_series) and 1 GB of objects (written through the
object store), `core.backup.create` with the objects copied, then `core.restore.restore` into a new
database and store. Needs a PostgreSQL server: BENCH_DATABASE_URL (its maintenance database), default
postgresql://postgres@127.0.0.1:5432/postgres. Knobs: BENCH_USAGE_ROWS, BENCH_OBJECT_MB, BENCH_OBJECT_FILES.

    .venv/bin/python bench/cluster/backup.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg

from axops import bootstrap
from axops.core import backup, restore
from axops.core.db import libpq_url
from axops.core.storage import ObjectStore
from axops.migrations import runner
from axops.settings import Settings

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROWS = int(os.environ.get("BENCH_USAGE_ROWS", "1000000"))
OBJECT_MB = int(os.environ.get("BENCH_OBJECT_MB", "1024"))
FILES = int(os.environ.get("BENCH_OBJECT_FILES", "16"))
CHUNK = 4 * 1024 * 1024


def _database(name: str, create: bool) -> str:
    with psycopg.connect(libpq_url(SERVER), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = libpq_url(SERVER).rpartition("/")
    return f"{base}/{name}"


async def _random_file(size: int) -> AsyncIterator[bytes]:
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield os.urandom(n)
        left -= n


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="axops-bench-backup-"))
    tag = uuid.uuid4().hex[:6]
    src_name, dst_name = f"bench_backup_src_{tag}", f"bench_backup_dst_{tag}"
    settings = Settings(data_dir=work / "data", secret_key="bench-" + "x" * 40, admin_password="bench-admin-password")
    try:
        src = _database(src_name, True)
        runner.upgrade(src)
        await bootstrap.seed(src, settings)
        t = time.perf_counter()
        with psycopg.connect(libpq_url(src), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO usage_records (created_at, endpoint, model, status, prompt_tokens, completion_tokens, "
                "cost, latency_ms, upstream, request_id, stream, attempts, cache, saved_cost) "
                "SELECT now() - (g %% 86400) * interval '1 second', 'chat', 'model-' || (g %% 20), 200, g %% 900, "
                "g %% 300, (g %% 1000) / 1e5, 50 + g %% 700, 'http://upstream-' || (g %% 4), md5(g::text), false, 1, 'off', 0 "
                "FROM generate_series(1, %s) AS g",
                (ROWS,),
            )
            db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        rows_s = time.perf_counter() - t
        store = ObjectStore((work / "objects").as_uri(), settings.secret_key or "")
        t = time.perf_counter()
        per_file = OBJECT_MB * 1024 * 1024 // FILES
        for i in range(FILES):
            await store.put_stream(f"models/bench/{i:03d}.bin", _random_file(per_file))
        objects_s = time.perf_counter() - t

        t = time.perf_counter()
        made = await backup.create(src, store, str(work / "backups"), embedded=False, copy_objects=True)
        backup_s = time.perf_counter() - t
        t = time.perf_counter()
        manifest_only = await backup.create(src, store, str(work / "backups-lean"), embedded=False, copy_objects=False)
        lean_s = time.perf_counter() - t

        dst = _database(dst_name, True)
        target = ObjectStore((work / "restored").as_uri(), settings.secret_key or "")
        t = time.perf_counter()
        report = await restore.restore(dst, target, made.location, embedded=False)
        restore_s = time.perf_counter() - t
        with psycopg.connect(libpq_url(dst)) as conn:
            restored_rows = conn.execute("SELECT count(*) FROM usage_records").fetchone()[0]  # type: ignore[index]
        assert restored_rows == ROWS and report["objects_restored"] == FILES, (restored_rows, report)

        gb = made.object_bytes / 1024**3
        print(f"usage rows: {ROWS:,} (database {db_bytes / 1024**2:,.0f} MB; insert {rows_s:.1f} s)")
        print(f"objects: {FILES} files, {gb:.2f} GB (written in {objects_s:.1f} s)")
        print(f"backup, objects copied: {backup_s:.1f} s (dump {made.dump_bytes / 1024**2:,.1f} MB)")
        print(
            f"backup, manifest only (sha256 of every object, no copy): {lean_s:.1f} s ({manifest_only.objects} objects)"
        )
        print(f"restore (verify every checksum, pg_restore, copy objects back): {restore_s:.1f} s")
    finally:
        for name in (src_name, dst_name):
            _database(name, False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
    os._exit(0)  # obstore's runtime can abort a short-lived process while Python finalises (see axops.cli)
