"""Backups: a pg_dump of the database plus a manifest of the object store (and optionally its objects).

A backup is a folder `axops-<UTC time>` in a local directory or under an s3:// prefix:

    db.dump        pg_dump custom format, --no-owner (one consistent snapshot)
    objects.jsonl  one line per object in the store: {"key", "size", "sha256"} (hashed while streaming)
    objects/<key>  the objects themselves, when copied
    backup.json    format, axops version, alembic revision, created_at, counts, sha256 of db.dump and
                   objects.jsonl (each copied object's sha256 is in objects.jsonl)

It is written under a temporary name and only counts once complete: locally the folder is renamed
from `.partial-axops-...`; on S3 `backup.json` is written last and a folder without it is never listed.
Restoring is `core/restore.py`. No domain knowledge here: the worker's task and the CLI audit and report.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import obstore
import orjson
import psycopg
from obstore.store import LocalStore, from_url
from obstore.store import ObjectStore as Backend
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from axops import __version__
from axops.core.db import libpq_url
from axops.core.storage import ObjectStore

FORMAT = 1
DUMP, MANIFEST, META, OBJECTS = "db.dump", "objects.jsonl", "backup.json", "objects"
NAME = re.compile(r"^axops-\d{8}T\d{6}(\d{6})?Z$")
CHUNK = 8 * 1024 * 1024
STALE_PARTIAL_S = 24 * 3600  # a partial local backup older than this is left over from a killed run


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do (no secrets in it)."""


@dataclass
class BackupResult:
    name: str
    location: str
    created_at: str
    alembic_revision: str | None
    objects: int
    object_bytes: int
    copied: bool
    dump_bytes: int
    pruned: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


# -- PostgreSQL tools -------------------------------------------------------------------------------


def _bundled(name: str) -> str | None:
    """pgserver's own binary (the embedded server's version), when the package is installed."""
    try:
        import pgserver
    except ImportError:
        return None
    path = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
    return str(path) if path.exists() else None


async def tool(name: str, embedded: bool, server_major: int, env: dict[str, str]) -> str:
    """The pg_dump/pg_restore to run: for the embedded server its own; else the one on PATH, or the
    bundled one when PATH's is older than the server (a dump needs a client at least as new)."""
    path = shutil.which(name)
    candidates = [_bundled(name)] if embedded else [path, _bundled(name)]
    versions = []
    for binary in candidates:
        if binary:
            major = await _major(binary, env)
            if major >= server_major:
                return binary
            versions.append(major)
    if not path and not versions:
        raise BackupError(f"{name} was not found on PATH: install the PostgreSQL {server_major} client tools")
    raise BackupError(
        f"{name} is version {versions[0] if versions else '?'}, older than the server ({server_major}): "
        f"install the PostgreSQL {server_major} client tools"
    )


def connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq conninfo without the password, and the environment carrying it (never on a command line)."""
    params = conninfo_to_dict(libpq_url(url))
    env = {**os.environ}
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


async def _run(args: list[str], env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise BackupError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {' '.join(tail)}")
    return out.decode(errors="replace")


async def _major(binary: str, env: dict[str, str]) -> int:
    text = await _run([binary, "--version"], env)
    match = re.search(r"\) (\d+)", text) or re.search(r" (\d+)", text)
    return int(match.group(1)) if match else 0


def server_facts(url: str) -> tuple[int, str | None]:
    """The server's major version and the database's alembic revision (None: not an axops database)."""
    with psycopg.connect(libpq_url(url)) as conn:
        num = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
        revision = None
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0]:  # type: ignore[index]
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
    return num // 10000, revision


# -- destinations: a local directory or an s3:// prefix ---------------------------------------------


def open_location(location: str, create: bool = True) -> tuple[Backend, Path | None]:
    """An obstore store rooted at the location, and its directory when it is local."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        root = Path(parsed.path if parsed.scheme else location).expanduser().resolve()
        if not create and not root.is_dir():
            raise BackupError(f"{root} is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(str(root), mkdir=True), root
    return from_url(location), None


async def list_backups(location: str) -> list[str]:
    """Complete backups at a location, oldest first (a partial one has no backup.json and is not listed)."""
    store, root = open_location(location)
    if root is not None:  # a directory listing (obstore's local listing runs on threads of its own)
        return sorted(p.name for p in root.iterdir() if NAME.match(p.name) and (p / META).is_file())
    listing = await obstore.list_with_delimiter_async(store)
    names = sorted(p.rstrip("/") for p in listing["common_prefixes"] if NAME.match(p.rstrip("/")))
    complete = []
    for name in names:
        try:
            await obstore.head_async(store, f"{name}/{META}")
            complete.append(name)
        except FileNotFoundError:
            continue
    return complete


async def prune(location: str, keep: int) -> list[str]:
    """Delete the oldest complete backups beyond `keep`; returns their names."""
    if keep < 1:
        raise BackupError("keep must be at least 1")
    names = await list_backups(location)
    doomed = names[: max(0, len(names) - keep)]
    store, root = open_location(location)
    for name in doomed:
        if root is not None:
            await asyncio.to_thread(shutil.rmtree, root / name, True)
        else:
            await _delete_prefix(store, f"{name}/")
    if root is not None:  # a backup killed midway (kill -9, a full disk) leaves its partial folder
        cutoff = time.time() - STALE_PARTIAL_S
        for partial in root.glob(".partial-axops-*"):
            if partial.stat().st_mtime < cutoff:
                await asyncio.to_thread(shutil.rmtree, partial, True)
    return doomed


async def _delete_prefix(store: Backend, prefix: str) -> None:
    async for batch in obstore.list(store, prefix=prefix):
        await obstore.delete_async(store, [m["path"] for m in batch])


async def sha256_file(path: Path) -> tuple[str, int]:
    def digest() -> tuple[str, int]:
        h, size = hashlib.sha256(), 0
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size

    return await asyncio.to_thread(digest)


async def _objects(source: Backend) -> AsyncIterator[dict]:
    async for batch in obstore.list(source):
        for meta in batch:
            yield {"key": meta["path"], "size": meta["size"]}


async def _copy_hashed(source: Backend, key: str, target: Backend | None, target_key: str) -> tuple[str, int]:
    """Stream one object, hashing it on the way, into target (or nowhere)."""
    h = hashlib.sha256()
    size = 0
    result = await obstore.get_async(source, key)

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal size
        async for chunk in result.stream(min_chunk_size=CHUNK):
            data = bytes(chunk)
            h.update(data)
            size += len(data)
            yield data

    if target is None:
        async for _ in chunks():
            pass
    else:
        await obstore.put_async(target, target_key, chunks())
    return h.hexdigest(), size


async def create(
    database_url: str,
    storage: ObjectStore,
    location: str,
    *,
    embedded: bool,
    copy_objects: bool = True,
    keep: int | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Write one complete backup to `location` (then prune to `keep`, if given)."""
    created = now or datetime.now(UTC)
    name = "axops-" + created.strftime("%Y%m%dT%H%M%S%fZ")
    server_major, revision = await asyncio.to_thread(server_facts, database_url)
    conninfo, env = connection(database_url)
    pg_dump = await tool("pg_dump", embedded, server_major, env)
    dest, root = open_location(location)
    # Locally the backup is built in place under a hidden name; for S3 in a temporary directory.
    staging = root / f".partial-{name}" if root is not None else Path(tempfile.mkdtemp(prefix="axops-backup-"))
    staging.mkdir(parents=True, exist_ok=True)
    staging.chmod(0o700)  # a backup holds password hashes and encrypted secrets: its owner only
    prefix = f".partial-{name}/" if root is not None else f"{name}/"
    try:
        dump = staging / DUMP
        await _run([pg_dump, "--format=custom", "--no-owner", "--file", str(dump), "--dbname", conninfo], env)
        dump_sha, dump_size = await sha256_file(dump)
        count = total = 0
        with (staging / MANIFEST).open("wb") as manifest:
            async for obj in _objects(storage.store):
                target = dest if copy_objects else None
                sha, size = await _copy_hashed(storage.store, obj["key"], target, f"{prefix}{OBJECTS}/{obj['key']}")
                manifest.write(orjson.dumps({"key": obj["key"], "size": size, "sha256": sha}) + b"\n")
                count += 1
                total += size
        manifest_sha, _ = await sha256_file(staging / MANIFEST)
        meta: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "axops_version": __version__,
            "alembic_revision": revision,
            "postgres_major": server_major,
            "created_at": created.isoformat(),
            "objects": count,
            "object_bytes": total,
            "objects_copied": copy_objects,
            "files": {DUMP: dump_sha, MANIFEST: manifest_sha},
        }
        if root is not None:
            (staging / META).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
            os.rename(staging, root / name)  # atomic: the backup appears complete or not at all
        else:
            for file in (DUMP, MANIFEST):
                with (staging / file).open("rb") as f:
                    await obstore.put_async(dest, f"{prefix}{file}", f)
            await obstore.put_async(dest, f"{prefix}{META}", orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    except BaseException:
        if root is not None:
            shutil.rmtree(staging, ignore_errors=True)
        else:  # no backup.json was written, so it is never listed; remove what was uploaded anyway
            with contextlib.suppress(Exception):
                await _delete_prefix(dest, prefix)
        raise
    finally:
        if root is None:
            shutil.rmtree(staging, ignore_errors=True)
    pruned = await prune(location, keep) if keep else []
    where = str(root / name) if root is not None else f"{location.rstrip('/')}/{name}"
    return BackupResult(name, where, meta["created_at"], revision, count, total, copy_objects, dump_size, pruned)
