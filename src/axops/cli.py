"""The `axops` command line."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from axops.settings import get_settings

app = typer.Typer(help="axops: on-premises LLM Ops platform.", no_args_is_help=True, add_completion=False)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
prompt_app = typer.Typer(
    help="Keep prompts in files: pull them from a server as YAML, push them back.", no_args_is_help=True
)
app.add_typer(prompt_app, name="prompt")
eval_app = typer.Typer(help="Evaluation from CI: run a suite and exit by its verdict.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
logs_app = typer.Typer(help="Gateway request logs.", no_args_is_help=True)
app.add_typer(logs_app, name="logs")


def _setup_logging() -> None:
    from axops.core import logging as axlog

    s = get_settings()
    axlog.configure(s.log_level, s.log_json)


def _require_secret_key(s) -> None:
    """Refuse to start without a usable signing key (too short: tokens could be forged by brute force)."""
    try:
        s.resolved_secret_key()
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _announce_admin(password: str | None) -> None:
    if password:
        bar = "=" * 64
        typer.echo(
            f"\n{bar}\n  First start: created user 'admin' with password:\n\n      {password}\n\n"
            f"  It is shown only this once. Set AXOPS_ADMIN_PASSWORD to choose it.\n{bar}\n"
        )


def _warn_if_root() -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        typer.echo(
            "warning: axops is running as root. Anything a flaw lets a user reach (files, processes) is then "
            "the whole machine's: run it as an unprivileged user (see docs/SECURITY.md).",
            err=True,
        )


@app.command()
def up(
    host: str = typer.Option(None, help="Bind address (default AXOPS_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default AXOPS_PORT or 8000)."),
    worker: bool = typer.Option(True, help="Run the background worker in the same process."),
    workers: int = typer.Option(None, help="API processes (default AXOPS_WORKERS or 1); e.g. one per core."),
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate: serve HTTPS (default AXOPS_TLS_CERT).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert (default AXOPS_TLS_KEY).")] = None,
) -> None:
    """Start axops: database (embedded unless AXOPS_DATABASE_URL), migrations, API, UI and worker."""
    _warn_if_root()
    from axops.core import tls

    s = get_settings()
    tls_cert, tls_key = tls_cert or s.tls_cert, tls_key or s.tls_key
    try:
        tls.check(tls_cert, tls_key)  # before anything slow: a typo in a path fails at once, clearly
    except tls.TlsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    import uvicorn

    from axops import bootstrap
    from axops.app import create_app

    _setup_logging()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    _require_secret_key(s)
    url, server = bootstrap.database_url(s)
    _announce_admin(bootstrap.migrate(url, s))
    host, port = host or s.host, port or s.port
    s.host, s.port = host, port  # serving runtimes are told where to find the control plane
    os.environ["AXOPS_HOST"], os.environ["AXOPS_PORT"] = host, str(port)
    scheme = "https" if tls_cert else "http"
    typer.echo(f"axops is starting on {scheme}://{host}:{port}  (Ctrl-C to stop)")
    workers = workers or s.workers
    common = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "loop": "uvloop",
        "http": "httptools",
        # After the drain period (app lifespan, core/lifecycle.py): in-flight requests get this long.
        "timeout_graceful_shutdown": s.shutdown_timeout_seconds,
    }
    if tls_cert:
        common |= {
            "ssl_certfile": str(tls_cert),
            "ssl_keyfile": str(tls_key),
            "ssl_context_factory": tls.context_factory,
        }
    if workers == 1:
        uvicorn.run(create_app(url, s, run_worker=worker and s.worker), **common)
    else:
        # Worker processes build the app themselves, from the environment the parent resolved.
        os.environ["AXOPS_DATABASE_URL"] = url
        os.environ["AXOPS_WORKER"] = "true" if worker and s.worker else "false"
        uvicorn.run("axops.app:create_app_from_env", factory=True, workers=workers, **common)
    if server is not None:
        typer.echo("stopping embedded PostgreSQL")
        server.cleanup()


@app.command()
def migrate() -> None:
    """Apply database migrations and seed roles and the admin user."""
    from axops import bootstrap

    _setup_logging()
    s = get_settings()
    url, server = bootstrap.database_url(s)
    try:
        _announce_admin(bootstrap.migrate(url, s))
        typer.echo("database is at the latest migration")
    finally:
        if server is not None:
            server.cleanup()


@app.command()
def worker(concurrency: int = typer.Option(2, help="Tasks run at once.")) -> None:
    """Run the background worker alone (for deployments that separate it from the API)."""
    _warn_if_root()
    from axops import bootstrap
    from axops.core.state import AppState

    _setup_logging()
    s = get_settings()
    _require_secret_key(s)
    url, server = bootstrap.database_url(s)

    async def run() -> None:
        from axops.datasets.tasks import prepare_worker

        state = AppState.build(s, url)
        await prepare_worker()
        async with state.tasks.open_async():
            await state.tasks.run_worker_async(additional_context={"axops": state}, concurrency=concurrency)
        await state.db.dispose()

    try:
        asyncio.run(run())
    finally:
        if server is not None:
            server.cleanup()


@user_app.command("create")
def user_create(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option("developer", help="admin, operator, developer or viewer."),
    display_name: str = typer.Option("", help="Name shown in the UI."),
    email: str = typer.Option(None, help="E-mail address."),
    password: str = typer.Option(None, help="Password (asked for when omitted; or AXOPS_NEW_USER_PASSWORD)."),
) -> None:
    """Create a user from the command line (e.g. a second admin)."""
    from pydantic import ValidationError

    from axops import bootstrap
    from axops.auth import service
    from axops.auth.schemas import UserCreate
    from axops.core.db import Database
    from axops.core.errors import AppError

    password = password or os.environ.get("AXOPS_NEW_USER_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            raise typer.BadParameter("give --password or AXOPS_NEW_USER_PASSWORD when not on a terminal")
        password = getpass.getpass("Password (12+ characters): ")
    try:
        data = UserCreate(username=username, password=password, role=role, display_name=display_name, email=email)
    except ValidationError as exc:
        typer.echo(f"error: {exc.errors()[0]['loc'][-1]}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from exc
    s = get_settings()
    url, server = bootstrap.database_url(s)

    async def run() -> None:
        db = Database(url, pool_size=1)
        try:
            async with db.sessionmaker() as session:
                user = await service.create_user(session, data)
                await session.commit()
                typer.echo(f"created user {user.username} ({user.role}) id={user.id}")
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if server is not None:
            server.cleanup()


@app.command()
def demo(
    layers: int = typer.Option(2, help="Transformer layers of the demo model."),
    steps: int = typer.Option(40, help="Training steps on the bundled corpus (CPU, seconds)."),
) -> None:
    """Build the tiny demo model (Korean + English GPT-2) and a demo dataset, and register them,
    so everything works offline."""
    from sqlalchemy import select

    from axops import bootstrap
    from axops.auth import service as auth_service
    from axops.auth.models import Team, TeamMember, User
    from axops.core.db import Database
    from axops.core.storage import ObjectStore
    from axops.registry import imports
    from axops.registry.demo import build_demo_model

    _setup_logging()
    s = get_settings()
    out = build_demo_model(s.data_dir / "demo" / f"gpt2-{layers}l", layers=layers, steps=steps)
    typer.echo(f"built the demo model in {out}")
    url, server = bootstrap.database_url(s)

    async def run() -> None:
        db = Database(url, pool_size=1)
        storage = ObjectStore(s.resolved_storage_url, s.resolved_secret_key())
        try:
            async with db.sessionmaker() as session:
                admin = await session.scalar(select(User).where(User.username == "admin"))
                if admin is None:
                    raise typer.BadParameter("no user 'admin': run `axops migrate` first")
                team = await session.scalar(select(Team).where(Team.name == "demo"))
                if team is None:
                    team = Team(name="demo", description="Demo resources created by `axops demo`")
                    session.add(team)
                    await session.flush()
                    session.add(TeamMember(team_id=team.id, user_id=admin.id))
                    await session.flush()
                principal = await auth_service.principal_of(session, admin)  # the demo is the admin's
                version = await imports.register_demo(session, storage, principal, out, team.id)
                await session.commit()
                params = version.card.get("parameter_count")
                typer.echo(f"registered axops-demo-gpt2 v{version.version} ({params} parameters) id={version.id}")
            await register_demo_dataset(db, storage, principal, team.id)
        finally:
            await db.dispose()

    async def register_demo_dataset(db, storage, principal, team_id) -> None:
        """The demo tickets (CP949 CSV with synthetic PII); its scan runs on the next worker."""
        from axops.core import tasks
        from axops.datasets import uploads
        from axops.datasets.demo import demo_csv
        from axops.datasets.models import Dataset
        from axops.datasets.schemas import DatasetCreate

        async def chunks():
            yield demo_csv()

        async with db.sessionmaker() as session:
            existing = await session.scalar(
                select(Dataset.id).where(Dataset.name == "axops-demo-tickets", Dataset.team_id == team_id)
            )
            create = (
                None
                if existing
                else DatasetCreate(
                    name="axops-demo-tickets",
                    team_id=team_id,
                    visibility="organization",
                    key_column="ticket_id",
                    description="Synthetic Korean/English support tickets with personal data, built by `axops demo`.",
                )
            )
            _, version = await uploads.upload(
                session,
                principal,
                storage,
                s.data_dir,
                dataset_id=existing,
                create=create,
                filename="tickets.csv",
                chunks=chunks(),
            )
            hooks = session.info.pop("after_commit", [])
            await session.commit()
        async with tasks.configure(url).open_async():
            for hook in hooks:
                await hook()
        typer.echo(f"registered axops-demo-tickets v{version.version} ({version.row_count} rows, scan queued)")

    try:
        asyncio.run(run())
    finally:
        if server is not None:
            server.cleanup()


@app.command()
def openapi(output: str = typer.Option("-", help="File to write, or - for stdout.")) -> None:
    """Print the OpenAPI schema (the web UI's API types are generated from it)."""
    import json

    from axops.app import create_app

    schema = create_app("postgresql://unused/unused").openapi()
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if output == "-":
        sys.stdout.write(text)
    else:
        with open(output, "w") as f:
            f.write(text)


_SERVER_URL = typer.Option("http://127.0.0.1:8000", "--url", envvar="AXOPS_URL", help="The axops server.")
_API_KEY = typer.Option(
    None, "--api-key", envvar="AXOPS_API_KEY", help="An API key with prompts:read (pull) or prompts:write (push)."
)


@prompt_app.command("pull")
def prompt_pull(
    names: Annotated[list[str], typer.Argument(help="Prompt names.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write NAME.yaml into.")] = Path(),
    url: str = _SERVER_URL,
    api_key: str | None = _API_KEY,
) -> None:
    """Write each prompt (every version and its labels) to NAME.yaml."""
    from axops.client import PromptError, Prompts

    failed = False
    with Prompts(url, api_key) as prompts:
        for name in names:
            try:
                text = prompts.pull(name)
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"{name}.yaml"
                path.write_text(text, encoding="utf-8")
            except (PromptError, OSError) as exc:
                typer.echo(f"error: {name}: {exc}", err=True)
                failed = True
                continue
            typer.echo(f"wrote {path}")
    if failed:
        raise typer.Exit(1)


def _changes(before: dict | None, after: dict) -> str:
    name, latest = after["name"], after["latest_version"] or 0
    first = (before["latest_version"] or 0) + 1 if before else 1
    parts = []
    if latest >= first:
        parts.append(f"version {latest}" if first == latest else f"versions {first}-{latest}")
    old_labels = before["labels"] if before else {}
    for label in sorted(set(old_labels) | set(after["labels"])):
        was, now = old_labels.get(label), after["labels"].get(label)
        if was != now:
            parts.append(
                f"{label} removed" if now is None else f"{label} -> {now}" if was is None else f"{label} {was} -> {now}"
            )
    if before is None:
        return f"created {name}" + (": " + ", ".join(parts) if parts else "")
    return f"{name}: " + (", ".join(parts) if parts else f"unchanged (latest version {latest})")


@prompt_app.command("push")
def prompt_push(
    files: Annotated[list[Path], typer.Argument(help="YAML files as `axops prompt pull` writes them.")],
    url: str = _SERVER_URL,
    api_key: str | None = _API_KEY,
) -> None:
    """Import each file: create the prompt or add the versions that differ from its latest, then set its labels."""
    import yaml

    from axops.client import PromptError, Prompts

    failed = False
    with Prompts(url, api_key) as prompts:
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
                try:  # the name, to say afterwards what changed; the server judges the file
                    name = yaml.safe_load(text).get("name")
                except (yaml.YAMLError, AttributeError):
                    name = None
                before = prompts.info(name) if isinstance(name, str) and name else None
                after = prompts.push(text)
            except (PromptError, OSError, UnicodeDecodeError) as exc:
                typer.echo(f"error: {file}: {exc}", err=True)
                failed = True
                continue
            typer.echo(_changes(before, after))
    if failed:
        raise typer.Exit(1)


@eval_app.command("run")
def eval_run(
    suite: Annotated[str, typer.Argument(help="The suite's name (or id).")],
    target: Annotated[
        str | None, typer.Option("--target", help="Evaluate this gateway route instead of the suite's target.")
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option("--model-version", help="The model version (id) the target serves: the result gates it."),
    ] = None,
    fail_under: Annotated[
        float | None, typer.Option("--fail-under", help="Also fail when the metric's mean is below this fraction.")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="The metric --fail-under applies to (e.g. bleu, judge:correctness).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Give up following the run after this many seconds.")
    ] = 3600,
    url: str = _SERVER_URL,
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="AXOPS_API_KEY", help="An API key with eval:read and eval:write."
    ),
) -> None:
    """Start a suite run, follow it, print each metric against its threshold. Exit 0 passed, 1 failed,
    2 usage, connection or API error."""
    from axops.evaluation import suite_cli

    raise typer.Exit(
        suite_cli.run(
            suite,
            url=url,
            api_key=api_key,
            target=target,
            model_version=model_version,
            fail_under=fail_under,
            metric=metric,
            timeout_s=timeout,
        )
    )


@logs_app.command("export")
def logs_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl (Loki, ELK) or otlp (OTLP/JSON logs).")] = "jsonl",
    since: Annotated[str, typer.Option("--since", help="How far back: 90m, 1h, 7d (at most 92d).")] = "1h",
    output: Annotated[str, typer.Option("--output", "-o", help="File to write, or - for stdout.")] = "-",
    push: Annotated[
        str | None,
        typer.Option("--push", help="Send instead: an OTLP/HTTP logs URL (otlp) or Loki's /loki/api/v1/push (jsonl)."),
    ] = None,
    url: str = _SERVER_URL,
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="AXOPS_API_KEY", help="An API key with gateway:admin."
    ),
) -> None:
    """Export the gateway's request log (masked text) for Loki, Elasticsearch or an OTel collector.
    Exit 0 done, 2 usage, connection or API error."""
    import httpx

    from axops.gateway import log_export

    if fmt not in ("jsonl", "otlp"):
        raise typer.BadParameter("--format is jsonl or otlp")
    try:
        log_export.parse_duration(since)
        code = log_export.cli_export(url=url, api_key=api_key, fmt=fmt, since=since, output=output, push=push)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


def _exit_now(code: int) -> NoReturn:
    """Leave without interpreter finalisation: obstore 0.12's async runtime sometimes aborts a short-lived
    process (SIGABRT) while Python finalises, after the work is done (developmentseed/obstore#471)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _backup_target(url: str | None, server) -> tuple[str, bool]:
    """The database to back up or restore into, and whether it is the embedded server."""
    from axops.core.db import libpq_url

    return libpq_url(url or ""), server is not None


@app.command()
def backup(
    to: Annotated[
        str | None, typer.Option("--to", help="A directory or s3://bucket/prefix (default AXOPS_BACKUP_URL).")
    ] = None,
    copy_objects: Annotated[
        bool | None,
        typer.Option(
            "--copy-objects/--no-copy-objects",
            help="Copy the object store's files too (default AXOPS_BACKUP_COPY_OBJECTS, on); without, only their checksums.",
        ),
    ] = None,
    keep: Annotated[
        int | None, typer.Option("--keep", min=1, help="Then delete the oldest backups beyond this many.")
    ] = None,
) -> None:
    """Write a consistent backup: pg_dump (custom format), the object store's manifest with sha256, optionally
    the objects. Exit 0 done, 1 failed, 2 usage."""
    from axops import bootstrap
    from axops.core import backup as backups
    from axops.core.db import Database
    from axops.core.storage import ObjectStore
    from axops.monitoring.backup_tasks import audited_backup

    _setup_logging()
    s = get_settings()
    location = to or s.backup_url
    if not location:
        typer.echo("error: give --to DIR|s3://bucket/prefix or set AXOPS_BACKUP_URL", err=True)
        raise typer.Exit(2)
    _require_secret_key(s)
    url, server = bootstrap.database_url(s)
    failure: str | None = None
    try:
        database, embedded = _backup_target(url, server)
        storage = ObjectStore(s.resolved_storage_url, s.resolved_secret_key())

        async def run() -> backups.BackupResult:
            db = Database(database, pool_size=1)
            try:
                return await audited_backup(
                    db,
                    storage,
                    location,
                    embedded=embedded,
                    copy_objects=s.backup_copy_objects if copy_objects is None else copy_objects,
                    keep=keep,
                    via="cli",
                )
            finally:
                await db.dispose()

        result = asyncio.run(run())
    except backups.BackupError as exc:
        failure = str(exc)
    finally:
        if server is not None:
            server.cleanup()
    if failure is not None:
        typer.echo(f"error: {failure}", err=True)
        _exit_now(1)
    copied = "copied" if result.copied else "listed with checksums (not copied)"
    typer.echo(
        f"backup {result.name} written to {result.location}: database dump {result.dump_bytes:,} bytes, "
        f"{result.objects:,} objects ({result.object_bytes:,} bytes) {copied}"
    )
    for name in result.pruned:
        typer.echo(f"deleted old backup {name}")
    _exit_now(0)


@app.command()
def restore(
    source: Annotated[str, typer.Argument(help="One backup: its directory or s3://bucket/prefix/axops-<time>.")],
    force: Annotated[
        bool, typer.Option("--force", help="Restore into a non-empty database: drop its schemas first.")
    ] = False,
) -> None:
    """Verify every checksum, then restore a backup into an empty database and object store.
    Exit 0 done, 1 refused or failed (nothing changed when refused)."""
    from axops import bootstrap
    from axops.core import backup as backups
    from axops.core import restore as restoring
    from axops.core.storage import ObjectStore

    _setup_logging()
    s = get_settings()
    _require_secret_key(s)
    url, server = bootstrap.database_url(s)
    failure: str | None = None
    try:
        database, embedded = _backup_target(url, server)
        storage = ObjectStore(s.resolved_storage_url, s.resolved_secret_key())
        report = asyncio.run(restoring.restore(database, storage, source, embedded=embedded, force=force))
    except backups.BackupError as exc:
        failure = str(exc)
    finally:
        if server is not None:
            server.cleanup()
    if failure is not None:
        typer.echo(f"error: {failure}", err=True)
        _exit_now(1)
    if report["dropped_schemas"]:
        typer.echo(f"dropped schemas {', '.join(report['dropped_schemas'])} (--force)")
    typer.echo(
        f"restored backup {report['backup']} of {report['created_at']} (migration {report['alembic_revision']}): "
        f"database restored, {report['objects_restored']:,} objects restored and "
        f"{report['objects_verified_in_store']:,} verified in the store ({report['object_bytes']:,} bytes). "
        "Start axops (it applies newer migrations)."
    )
    _exit_now(0)


if __name__ == "__main__":
    app()
