"""Restore a backup written by `core/backup.py` into an empty database and object store.

Order matters: every checksum is verified before anything changes (backup.json's sha256 of the dump
and the manifest, then every copied object, or, when objects were not copied, every object the
target store must already hold). Only then is the database restored, in one transaction
(pg_restore --single-transaction: all or nothing), and the objects copied back, each hashed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import obstore
import orjson
import psycopg
from obstore.store import ObjectStore as Backend

from axops.core.backup import (
    DUMP,
    FORMAT,
    MANIFEST,
    META,
    OBJECTS,
    BackupError,
    _copy_hashed,
    _run,
    connection,
    list_backups,
    open_location,
    server_facts,
    sha256_file,
    tool,
)
from axops.core.db import libpq_url
from axops.core.errors import Invalid
from axops.core.storage import ObjectStore

SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"


async def _read(store: Backend, key: str) -> bytes:
    try:
        return bytes(await (await obstore.get_async(store, key)).bytes_async())
    except FileNotFoundError as exc:
        raise BackupError(f"{key} is missing: this is not a complete backup") from exc


async def _fetch_verified(store: Backend, key: str, expected: str, local: Path | None, into: Path) -> Path:
    """Check a file's sha256; return a local path to it (downloaded into `into` when remote)."""
    if local is not None:
        target = local / key
        if not target.is_file():
            raise BackupError(f"{key} is missing: this is not a complete backup")
        digest, _ = await sha256_file(target)
    else:
        target = into / key
        h = hashlib.sha256()
        try:
            result = await obstore.get_async(store, key)
            with open(target, "wb") as out:
                async for chunk in result.stream(min_chunk_size=8 * 1024 * 1024):
                    h.update(chunk)
                    out.write(chunk)
        except FileNotFoundError as exc:
            raise BackupError(f"{key} is missing: this is not a complete backup") from exc
        digest = h.hexdigest()
    if digest != expected:
        raise BackupError(f"{key} does not match its checksum: the backup is corrupt; nothing was changed")
    return target


def _database_tables(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'"
        ).fetchone()
    return int(row[0]) if row else 0


def _wipe_database(url: str) -> list[str]:
    """Drop every non-system schema and recreate an empty `public` (--force)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        schemas = [
            r[0]
            for r in conn.execute(
                f"SELECT nspname FROM pg_namespace WHERE nspname NOT IN {SYSTEM_SCHEMAS} "
                "AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'"
            ).fetchall()
        ]
        with conn.transaction():
            for schema in schemas:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute("CREATE SCHEMA public")
    return schemas


async def _store_is_empty(storage: ObjectStore) -> bool:
    async for batch in obstore.list(storage.store, chunk_size=1):
        if batch:
            return False
    return True


async def restore(database_url: str, storage: ObjectStore, source: str, *, embedded: bool, force: bool = False) -> dict:
    """Verify, then restore one backup folder (a local path or s3://bucket/prefix/axops-...)."""
    store, root = open_location(source, create=False)
    try:
        meta = orjson.loads(await _read(store, META))
    except orjson.JSONDecodeError as exc:
        raise BackupError("backup.json is not valid JSON: the backup is corrupt") from exc
    except BackupError:
        found = await list_backups(source)
        if found:
            raise BackupError(
                f"{source} holds {len(found)} backups, not one: name one of them (the latest is {found[-1]})"
            ) from None
        raise
    if meta.get("format") != FORMAT or not isinstance(meta.get("files"), dict):
        raise BackupError(f"unknown backup format {meta.get('format')!r} (this axops reads format {FORMAT})")
    files = meta["files"]
    if set(files) != {DUMP, MANIFEST}:
        raise BackupError("backup.json does not list the dump and the manifest: the backup is corrupt")

    server_major, _ = await asyncio.to_thread(server_facts, database_url)
    conninfo, env = connection(database_url)
    pg_restore = await tool("pg_restore", embedded, max(server_major, int(meta.get("postgres_major") or 0)), env)

    tmp = Path(tempfile.mkdtemp(prefix="axops-restore-"))
    try:
        # 1. Verify everything before touching anything.
        dump = await _fetch_verified(store, DUMP, files[DUMP], root, tmp)
        manifest_path = await _fetch_verified(store, MANIFEST, files[MANIFEST], root, tmp)
        entries = [orjson.loads(line) for line in manifest_path.read_bytes().splitlines() if line.strip()]
        for entry in entries:  # a hand-made manifest must not write outside the store
            try:
                ObjectStore._check(entry["key"])
            except (Invalid, KeyError, TypeError) as exc:
                raise BackupError("objects.jsonl names an invalid object key; nothing was changed") from exc
        copied = bool(meta.get("objects_copied"))
        for entry in entries:
            where, key = (store, f"{OBJECTS}/{entry['key']}") if copied else (storage.store, entry["key"])
            try:
                sha, size = await _copy_hashed(where, key, None, "")
            except FileNotFoundError as exc:
                place = "the backup" if copied else "the object store"
                raise BackupError(f"object {entry['key']} is missing from {place}; nothing was changed") from exc
            if sha != entry["sha256"] or size != entry["size"]:
                raise BackupError(f"object {entry['key']} does not match its checksum; nothing was changed")

        # 2. The target must be empty, unless forced.
        tables = await asyncio.to_thread(_database_tables, database_url)
        store_empty = not copied or await _store_is_empty(storage)
        if (tables or not store_empty) and not force:
            what = [f"the database has {tables} tables"] if tables else []
            what += [] if store_empty else ["the object store is not empty"]
            raise BackupError(
                f"refusing to restore: {' and '.join(what)}. Restore into an empty database and store, "
                "or pass --force to drop the database's schemas first"
            )
        dropped = await asyncio.to_thread(_wipe_database, database_url) if tables else []

        # 3. The database, all or nothing.
        await _run(
            [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction", "--dbname", conninfo, str(dump)],
            env,
        )

        # 4. The objects, hashed again on the way.
        restored_bytes = 0
        if copied:
            for entry in entries:
                sha, size = await _copy_hashed(store, f"{OBJECTS}/{entry['key']}", storage.store, entry["key"])
                if sha != entry["sha256"]:
                    await storage.delete(entry["key"])
                    raise BackupError(f"object {entry['key']} changed while it was restored; restore again")
                restored_bytes += size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "backup": meta.get("name"),
        "created_at": meta.get("created_at"),
        "alembic_revision": meta.get("alembic_revision"),
        "dropped_schemas": dropped,
        "objects": len(entries),
        "objects_restored": len(entries) if copied else 0,
        "objects_verified_in_store": 0 if copied else len(entries),
        "object_bytes": restored_bytes if copied else sum(e["size"] for e in entries),
        "source": str(root) if root is not None else urlparse(source).geturl(),
    }
