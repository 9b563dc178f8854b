"""Embedded PostgreSQL (pgserver) in the data directory, for the single-machine setup and tests."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("axops.embedded")


def start_embedded_postgres(data_dir: Path, database: str = "axops", cleanup_mode: str | None = "stop"):
    """Start (or attach to) the embedded server; returns (server, libpq URL of `database`).

    pgserver reference-counts the processes using a data directory and stops PostgreSQL when the
    last one exits (cleanup_mode="stop"), so Ctrl-C on `axops up` stops it cleanly.
    """
    import pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("embedded_postgres.database_created", extra={"fields": {"database": database}})
    uri = server.get_uri(database)
    return server, uri
