"""Test fixtures: a real PostgreSQL (AXOPS_TEST_DATABASE_URL, else embedded pgserver), migrated once,
and a real axops server (uvicorn on a free loopback port) that the tests talk to over HTTP; for tests
of services without HTTP, a database session whose transaction is rolled back after each test.
What tests make over the API (accounts, models, datasets...) is in tests/factories.py."""

from __future__ import annotations

import asyncio
import functools
import graphlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from axops import bootstrap
from axops.app import create_app
from axops.core.db import Database, libpq_url
from axops.core.embedded import start_embedded_postgres
from axops.core.throttle import LoginThrottle
from axops.migrations import runner
from axops.settings import Settings
from tests.factories import ADMIN_PASSWORD, flush_gateway, free_port, login_headers
from tests.live import LiveServer


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("axops-data")


@pytest.fixture(scope="session")
def server_url():
    """A PostgreSQL server URL (its maintenance database)."""
    url = os.environ.get("AXOPS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    # Not under pytest's tmp dir: a concurrent pytest run prunes old ones, and would pull the
    # data directory out from under this server.
    for attempt in (1, 2):
        pgdir = Path(tempfile.mkdtemp(prefix="axops-test-pg-"))
        try:
            server, url = start_embedded_postgres(pgdir, database="postgres")
            break
        except subprocess.CalledProcessError:
            # Run as root, pgserver creates its system user on first use; two xdist workers doing
            # that at once on a fresh machine left one initdb unable to chmod its directory.
            shutil.rmtree(pgdir, ignore_errors=True)
            if attempt == 2:
                raise
    yield url
    server.cleanup()
    shutil.rmtree(pgdir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(server_url) -> str:
    """A fresh database for this test session, migrated to head; dropped at the end."""
    name = f"axops_test_{uuid.uuid4().hex[:8]}"
    admin_url = libpq_url(server_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    db_url = url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)
    runner.upgrade(db_url)
    yield db_url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(data_dir) -> Settings:
    return Settings(
        data_dir=data_dir,
        secret_key="test-secret-key-" + "x" * 32,
        admin_password=ADMIN_PASSWORD,
        log_level="WARNING",
        max_body_bytes=64 * 1024,
        gateway_health_interval_s=0,  # tests run the gateway's health checks themselves, when they mean to
        approvals_required=False,  # tests that promote to production; approvals' own tests switch it on
    )


@pytest.fixture(scope="session")
def live_server(database_url, settings):
    asyncio.run(bootstrap.seed(database_url, settings))  # roles must exist before the app loads them
    port = free_port()
    settings.public_url = f"http://127.0.0.1:{port}"  # where deployed runtimes fetch their model from
    server = LiveServer(create_app(database_url, settings, run_worker=False), port)
    server.start()
    yield server
    server.stop()


@functools.cache
def _tables_children_first(database_url: str) -> list[str]:
    """Every table but alembic_version (partitions through their parent), each after the tables that
    reference it, so that deleting in this order never trips a foreign key."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> 'alembic_version'"
            )
        }
        referenced_by: dict[str, set[str]] = {t: set() for t in sorted(tables)}
        for child, parent in conn.execute(
            "SELECT c.relname, p.relname FROM pg_constraint f "
            "JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class p ON p.oid = f.confrelid "
            "WHERE f.contype = 'f' AND f.connamespace = current_schema()::regnamespace"
        ):
            if child != parent and child in tables and parent in tables:
                referenced_by[parent].add(child)
    return list(graphlib.TopologicalSorter(referenced_by).static_order())


def _reset_database(database_url: str, settings: Settings) -> None:
    """Empty every table, then seed as a fresh install does.

    Rows are deleted (children first), not truncated. TRUNCATE takes ACCESS EXCLUSIVE locks one table
    after another, while the server's background loops read several tables in one transaction (every
    second the training runner reads training_jobs, then training_quotas): each side held a lock the
    other waited for, and PostgreSQL broke the deadlock. DELETE takes row locks only, which readers
    never wait for, and one statement a table, each committed, holds no lock across tables. With the
    few rows tests leave it is also some 20 times quicker (~0.08 s against ~2 s)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a row a stuck transaction holds fails the test, clearly
        conn.execute("SET synchronous_commit = off")
        for table in _tables_children_first(database_url):
            conn.execute(f'DELETE FROM "{table}"')
    asyncio.run(bootstrap.seed(database_url, settings))


@pytest.fixture
def api(live_server, database_url, settings):
    """A clean database with only the seeded admin, and an HTTP client to the live server."""
    flush_gateway(live_server)  # an earlier test's last records land before the reset, not in this test
    _reset_database(database_url, settings)
    live_server.app.state.axops.throttle = LoginThrottle(
        settings.login_max_failures, settings.login_ip_max_failures, settings.login_window_seconds
    )
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(api) -> dict:
    """Headers of a logged-in admin."""
    return login_headers(api, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def demo_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """Two versions of the project's tiny demo model (2 and 3 layers), built once per session."""
    from axops.registry.demo import build_demo_model

    root = tmp_path_factory.mktemp("demo")
    return build_demo_model(root / "two", layers=2, steps=5), build_demo_model(
        root / "three", layers=3, steps=5, seed=1
    )


@pytest.fixture
def task_worker(live_server):
    """A background worker for the length of one test (journeys in the browser wait on tasks)."""
    from axops.pii.persons import kiwi

    kiwi()  # loaded before the test, as the worker does at start (loading it stalls the server for seconds)
    state = live_server.app.state.axops
    run = state.tasks.run_worker_async(
        wait=True, install_signal_handlers=False, fetch_job_polling_interval=0.2, additional_context={"axops": state}
    )
    future = asyncio.run_coroutine_threadsafe(run, live_server.server_loop)
    yield
    future.cancel()


@pytest.fixture(scope="session")
async def database(database_url, settings) -> AsyncIterator[Database]:
    """The test database as the app opens it (engine settings, JSON codecs), seeded as the server's is
    (roles, partitions for this month's audit events), for service-level tests."""
    await bootstrap.seed(database_url, settings)
    db = Database(database_url, pool_size=2)
    yield db
    await db.dispose()


@pytest.fixture
async def db_session(database) -> AsyncIterator[AsyncSession]:
    """A session for calling services directly, inside a transaction that is rolled back after the test.

    The session joins the connection's transaction through savepoints (SQLAlchemy's "join an external
    transaction" recipe), so services may commit or roll back as they do in a request: nothing outlives
    the test. The database is shared with the HTTP tests and not emptied first: look rows up by what the
    test made, not by counting a table."""
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        session = AsyncSession(
            bind=conn, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
