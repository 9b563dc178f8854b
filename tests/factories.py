"""What tests make and wait for: accounts, API keys, models and versions, datasets, training labs, runs.

Everything goes over the real HTTP API (the `api` client of tests/conftest.py) as a user would do it,
so a test built from these stays a journey; each helper asserts that its requests succeeded. Helpers
that return the raw response (`upload_model`, `upload_dataset`) are for tests that check refusals.
Service-level tests (tests/service, no HTTP) make their callers with `principal`.
Test modules import from here (or from tests/mocks.py), never from each other."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest

from axops.auth.deps import Principal
from axops.auth.permissions import ROLE_PERMISSIONS

ADMIN_PASSWORD = "admin-password-for-tests"
PASSWORD = "factory-pass-123"  # of every account made here, unless a test names another
TRACKING_SCOPES = ["training:read", "training:write"]  # what a notebook's or the mlflow client's key needs
AGENT_SCOPES = ["gateway:invoke", "agents:read", "agents:write", "tools:read", "tools:write"]  # makes and runs agents


# -- accounts --------------------------------------------------------------------------------


def login(client: httpx.Client, username: str, password: str) -> dict:
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def login_headers(api: httpx.Client, username: str, password: str = PASSWORD) -> dict:
    return bearer(login(api, username, password)["access_token"])


def admin_headers(api: httpx.Client) -> dict:
    """The seeded admin's headers (the `admin` fixture, for tests that log in as admin midway)."""
    return login_headers(api, "admin", ADMIN_PASSWORD)


def make_team(api: httpx.Client, admin: dict, name: str, **fields) -> dict:
    r = api.post("/api/teams", json={"name": name, **fields}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def make_user(
    api: httpx.Client, admin: dict, username: str, role: str = "developer", team_ids=(), password: str = PASSWORD
) -> dict:
    """A user (as the API returns it); with no teams, the user joins the default team."""
    r = api.post(
        "/api/users",
        json={"username": username, "password": password, "role": role, "team_ids": [str(t) for t in team_ids]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return r.json()


def make_key(api: httpx.Client, headers: dict, name: str = "test", **fields) -> dict:
    """An API key of the caller (`scopes`, `models`... as the API takes them); the secret is in ["key"]."""
    r = api.post("/api/apikey/create", json={"name": name, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@dataclass
class Account:
    """A logged-in user: `headers` carry its access token; `key` is an API key's secret when one was made."""

    username: str
    user_id: str
    team: dict | None
    headers: dict
    password: str = PASSWORD
    key: str | None = None


def make_account(
    api: httpx.Client,
    admin: dict,
    username: str,
    role: str = "developer",
    team: dict | None = None,
    *,
    new_team: str | None = None,
    password: str = PASSWORD,
    key_scopes: list[str] | None = None,
) -> Account:
    """A user of `team` (as the API returns it), or of a team made for it and named `new_team`, else of
    the default team; logged in, with an API key of `key_scopes` when given."""
    if new_team is not None:
        team = make_team(api, admin, new_team)
    user = make_user(api, admin, username, role, [team["id"]] if team else (), password)
    headers = login_headers(api, username, password)
    key = make_key(api, headers, "key", scopes=key_scopes)["key"] if key_scopes is not None else None
    return Account(username, user["id"], team, headers, password, key)


# -- models ----------------------------------------------------------------------------------


def register_model(api: httpx.Client, headers: dict, name: str, **extra) -> dict:
    r = api.post("/api/model/register", json={"name": name, "task": "text-generation", **extra}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def dir_files(directory: Path) -> dict[str, Path]:
    """The files of a model directory, as `upload_model` takes them."""
    return {p.name: p for p in sorted(directory.iterdir()) if p.is_file()}


def upload_model(api: httpx.Client, headers: dict, model_id: str, files: dict[str, bytes | Path], base_version_id=None):
    """Upload a new version of a model in one request; the response, for tests of refusals too."""
    parts = [("files", (name, data if isinstance(data, bytes) else data.read_bytes())) for name, data in files.items()]
    data = {"model_id": model_id, **({"base_version_id": base_version_id} if base_version_id else {})}
    return api.post("/api/model/version/upload", data=data, files=parts, headers=headers)


def make_model_version(api: httpx.Client, headers: dict, name: str, model_dir: Path, **extra) -> tuple[dict, dict]:
    """A registered model with one version uploaded from `model_dir`: (model, version)."""
    model = register_model(api, headers, name, **extra)
    r = upload_model(api, headers, model["id"], dir_files(model_dir))
    assert r.status_code == 201, r.text
    return model, r.json()


# -- datasets --------------------------------------------------------------------------------


def upload_dataset(api: httpx.Client, headers: dict, content: bytes, filename: str, **fields):
    """Upload a dataset (a new one, or a version of `dataset_id`) in one request; the response."""
    return api.post("/api/dataset/upload", data=fields, files={"file": (filename, content)}, headers=headers)


def corpus_csv(note: bool = False) -> bytes:
    """The demo model's training corpus as a one-column CSV (`text`), with a `note` column if asked."""
    from axops.registry.demo import CORPUS

    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    quoted = ['"' + line.replace('"', '""') + '"' for line in lines]
    if note:
        return ("text,note\n" + "".join(q + ",x\n" for q in quoted)).encode()
    return ("text\n" + "".join(q + "\n" for q in quoted)).encode()


def approve_dataset(api: httpx.Client, admin: dict, version_id: str) -> None:
    r = api.post(f"/api/dataset/version/{version_id}/review", json={"decision": "approve"}, headers=admin)
    assert r.status_code == 200, r.text


def run_tasks(live_server, timeout: float = 300) -> None:
    """Run every queued background task (quality report, PII scan...) to completion, on the server's loop."""
    state = live_server.app.state.axops
    run = state.tasks.run_worker_async(wait=False, install_signal_handlers=False, additional_context={"axops": state})
    asyncio.run_coroutine_threadsafe(run, live_server.server_loop).result(timeout)


# -- training --------------------------------------------------------------------------------


def make_training_lab(
    api: httpx.Client,
    admin: dict,
    live_server,
    headers: dict,
    demo_dir: Path,
    *,
    model_name: str = "tiny-base",
    dataset_name: str = "corpus",
    csv: bytes | None = None,
    approve: bool = False,
) -> dict:
    """What a fine-tuning job needs, made by the caller of `headers`: the demo model registered with one
    version and a dataset (the demo corpus unless `csv` is given) scanned, approved if asked.
    Returns {"model", "base" (the version), "dataset_version"}."""
    model, base = make_model_version(api, headers, model_name, demo_dir)
    r = upload_dataset(api, headers, csv if csv is not None else corpus_csv(), "corpus.csv", name=dataset_name)
    assert r.status_code == 201, r.text
    run_tasks(live_server)
    if approve:
        approve_dataset(api, admin, r.json()["id"])
    return {"model": model, "base": base, "dataset_version": r.json()}


def job_body(lab: dict, **extra) -> dict:
    """The request body of a short LoRA job on a training lab (see make_training_lab), with `extra` fields."""
    return {
        "base_version_id": lab["base"]["id"],
        "dataset_version_ids": [lab["dataset_version"]["id"]],
        "column_mapping": {"text": "text"},
        "method": "lora",
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "hyperparameters": {
            "max_steps": 30,
            "learning_rate": 0.01,
            "batch_size": 8,
            "max_seq_length": 64,
            "save_steps": 10,
            "lr_scheduler": "constant",
        },
        **extra,
    }


def wait_job(api: httpx.Client, headers: dict, job_id: str, predicate: Callable, timeout: float = 240.0) -> dict:
    """Poll a training job until `predicate(job)`; a job that fails or is cancelled first fails the test
    with the tail of its log."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/api/training/job/{job_id}/status", headers=headers).json()
        if predicate(job):
            return job
        if job["status"] in ("failed", "cancelled"):
            logs = api.get(f"/api/training/job/{job_id}/logs", params={"limit": 5000}, headers=headers).json()["lines"]
            pytest.fail(f"job {job['status']}: {job['status_reason']}\n" + "\n".join(x["line"] for x in logs[-30:]))
        assert time.monotonic() < deadline, f"timed out: {job['status']} {job['status_reason']} {job['progress']}"
        time.sleep(0.3)


# -- serving ---------------------------------------------------------------------------------


def wait_deployment(
    api: httpx.Client, headers: dict, deployment_id: str, predicate: Callable, timeout: float = 120.0
) -> dict:
    """Poll a deployment until `predicate(deployment)`."""
    deadline = time.monotonic() + timeout
    while True:
        d = api.get(f"/api/serving/deployments/{deployment_id}", headers=headers).json()
        if predicate(d):
            return d
        assert time.monotonic() < deadline, (
            f"timed out; deployment is {d['status']}: {d['status_reason']} {d['replicas']}"
        )
        time.sleep(0.3)


# -- experiments -----------------------------------------------------------------------------


def new_run(api: httpx.Client, headers: dict, experiment="lora-sweep", name=None, params=None, tags=None) -> dict:
    r = api.post(
        "/api/experiments/runs",
        json={"experiment_name": experiment, "name": name, "params": params or {}, "tags": tags or {}},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def log_batch(api: httpx.Client, headers: dict, run_id: str, metrics=(), params=None, tags=None):
    """Log metrics, params and tags to a run in one request; the response."""
    return api.post(
        f"/api/experiments/runs/{run_id}/log-batch",
        json={"metrics": list(metrics), "params": params or {}, "tags": tags or {}},
        headers=headers,
    )


def free_port() -> int:
    """A loopback port free at the moment (for a server the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refresh_with_cookie(api: httpx.Client, token: str | None) -> httpx.Response:
    """POST /api/auth/refresh as the UI does: the refresh cookie (when there is one) and X-Requested-With."""
    cookie = {"cookie": f"axops_refresh={token}"} if token else {}
    return httpx.post(f"{api.base_url}/api/auth/refresh", headers={"x-requested-with": "axops", **cookie})


def principal(
    role: str = "developer", teams: Iterable = (), default_team=None, auth: str = "jwt", user=None
) -> Principal:
    """A caller for service-level tests: `role` with its permissions, member of `teams` (Team rows); the
    user of a User row when given (services that record who made a row need one), else a made-up one."""
    return Principal(
        user_id=user.id if user is not None else uuid.uuid4(),
        username=user.username if user is not None else f"{role}-{uuid.uuid4().hex[:6]}",
        role=role,
        permissions=frozenset(ROLE_PERMISSIONS[role]),
        team_ids=frozenset(t.id for t in teams),
        default_team_id=default_team.id if default_team is not None else None,
        auth=auth,
    )


# -- audit history ----------------------------------------------------------------------------


def insert_audit_events(database_url: str, events: Iterable[dict]) -> int:
    """Write audit events straight into the table, for history no API call can make (events on past
    days, more than a page of them). Each dict names created_at and action; the rest has defaults."""
    import psycopg
    from psycopg.types.json import Jsonb

    from axops.core.db import libpq_url

    rows = [
        (
            uuid.uuid4(),
            e["created_at"],
            e.get("actor_id"),
            e.get("actor_name", "bulk"),
            e.get("actor_type", "user"),
            e["action"],
            e.get("resource_type"),
            e.get("resource_id"),
            e.get("team_id"),
            Jsonb(e.get("summary", {})),
            e.get("outcome", "success"),
        )
        for e in events
    ]
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_events (id, created_at, actor_id, actor_name, actor_type, action, resource_type,"
            " resource_id, team_id, summary, outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


# -- rows no API call can make quickly ----------------------------------------------------------


def insert_rows(database_url: str, model, rows: Iterable[dict]) -> list:
    """Write rows of an ORM table straight into the database (the model's Python-side defaults
    applied), for state no API call makes quickly: usage history at known hours, deployments and
    training jobs that seem to run (give them `executor="kubernetes"` so this machine's executors
    leave them alone). Returns the rows' ids."""
    from sqlalchemy import create_engine, insert

    from axops.core.db import libpq_url

    engine = create_engine(libpq_url(database_url).replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            return [conn.execute(insert(model).values(**row).returning(model.id)).scalar_one() for row in rows]
    finally:
        engine.dispose()


def live_and_dead_routes(api: httpx.Client, admin: dict, upstream_url: str) -> None:
    """Route `chat-live` to a working upstream and `chat-dead` to a provider on a closed port (the gateway's
    health check and calls then see it fail for real)."""
    alive = api.post("/api/gateway/providers", json={"name": "alive", "base_url": upstream_url}, headers=admin).json()
    dead = api.post(
        "/api/gateway/providers",
        json={"name": "dead", "base_url": f"http://127.0.0.1:{free_port()}/v1", "timeout_s": 2},
        headers=admin,
    ).json()
    for name, provider, model in (("chat-live", alive, "tiny"), ("chat-dead", dead, "gone")):
        r = api.post(
            "/api/gateway/routes",
            json={
                "model_name": name,
                "targets": [{"provider_id": provider["id"], "model": model, "input_price": 1.0, "output_price": 2.0}],
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text


def flush_gateway(live_server) -> None:
    """Let the gateway finish what it is recording: calls whose tokens are being counted and streams still
    relaying (their record is written when the relay ends), then write the buffered usage and content logs."""
    gw = live_server.app.state.axops.gateway
    for _ in range(200):
        if not gw.counter.pending and not any(u.in_flight for u in gw.table.upstreams.values()):
            break
        time.sleep(0.02)
    for writer in (gw.logs, gw.usage):
        asyncio.run_coroutine_threadsafe(writer.flush(), live_server.server_loop).result(10)


# -- prompts ---------------------------------------------------------------------------------


def make_prompt(
    api: httpx.Client,
    headers: dict,
    name: str,
    template: str | list[dict] = "Hello {{ name }}",
    variables: list[dict] | None = None,
    labels: list[str] = ("production",),  # type: ignore[assignment]
    **fields,
) -> dict:
    """A prompt with a first version (a text template, or chat messages as a list of {role, content}) and
    `labels` on it; `variables` default to the names the template uses, as required strings; `fields`
    go to the create body (description, tags, team_id, visibility, or a `binding` for the version)."""
    kind = "text" if isinstance(template, str) else "chat"
    if variables is None:
        text = template if isinstance(template, str) else " ".join(m["content"] for m in template)
        names = dict.fromkeys(re.findall(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)", text))
        variables = [{"name": n, "type": "string"} for n in names]
    version = {"kind": kind, "template": template, "variables": variables}
    if "binding" in fields:
        version["binding"] = fields.pop("binding")
    body = {"name": name, "version": version, "labels": list(labels), **fields}
    r = api.post("/api/prompts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def add_prompt_version(api: httpx.Client, headers: dict, name: str, template, variables=(), **fields) -> dict:
    """A new version of a prompt (kind from the template's shape); `fields`: labels, binding, message."""
    kind = "text" if isinstance(template, str) else "chat"
    body = {"kind": kind, "template": template, "variables": list(variables), **fields}
    r = api.post(f"/api/prompts/{name}/versions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


# -- tools and agents ------------------------------------------------------------------------


def make_http_tool(
    api: httpx.Client, headers: dict, name: str, base_url: str, path: str, *, query=None, required=False, **fields
) -> dict:
    """An HTTP GET tool on a test's loopback server (host 127.0.0.1 allowed). `query` maps each argument to
    its JSON type and sends it in the query string (all `required` if asked); `fields` (requires_approval,
    timeout_s, team_id ...) go as they are."""
    props = {arg: {"type": kind} for arg, kind in (query or {}).items()}
    parameters: dict = {"type": "object", "properties": props}
    if required:
        parameters["required"] = list(props)
    spec = {"method": "GET", "base_url": base_url, "path": path, "params": {arg: {"in": "query"} for arg in props}}
    r = api.post(
        "/api/tool/tools",
        json={"name": name, "kind": "http", "allow_hosts": ["127.0.0.1"], "parameters": parameters, "spec": spec}
        | fields,
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def make_agent(api: httpx.Client, headers: dict, name: str, route: str, tool_ids=(), *, version=None, **fields) -> dict:
    """An agent on gateway route `route` with the tools `tool_ids`; `version` adds to its first version,
    `fields` (visibility, team_id ...) to the agent."""
    r = api.post(
        "/api/agent/agents",
        json={"name": name, "version": {"route": route, "tool_ids": list(tool_ids), **(version or {})}, **fields},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


# -- evaluation ------------------------------------------------------------------------------


def make_route(api: httpx.Client, admin: dict, name: str, upstream_url: str, **target) -> dict:
    """A gateway provider on `upstream_url` and a route `name` to it (prices etc. in `target`)."""
    provider = api.post("/api/gateway/providers", json={"name": f"p-{name}", "base_url": upstream_url}, headers=admin)
    assert provider.status_code == 201, provider.text
    r = api.post(
        "/api/gateway/routes",
        json={"model_name": name, "targets": [{"provider_id": provider.json()["id"], "model": "tiny", **target}]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return r.json()


def make_eval_set(
    api: httpx.Client,
    headers: dict,
    admin: dict,
    live_server,
    csv: bytes,
    mapping: dict,
    *,
    name: str = "qa",
    approve: bool = True,
    **dataset_fields,
) -> dict:
    """A dataset uploaded from `csv` (scanned, approved unless told otherwise) and an evaluation set on
    it with `mapping`; the set as the API answers it."""
    r = upload_dataset(api, headers, csv, f"{name}.csv", name=f"{name}-data", **dataset_fields)
    assert r.status_code == 201, r.text
    run_tasks(live_server)
    if approve:
        approve_dataset(api, admin, r.json()["id"])
    r = api.post(
        "/api/eval/sets", json={"name": name, "dataset_version_id": r.json()["id"], "mapping": mapping}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


# -- two-factor authentication ----------------------------------------------------------------


class Authenticator:
    """A phone's authenticator app: the next code it would show that the server has not seen yet."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None

    def code(self) -> str:
        now = int(time.time()) // 30
        step = now - 1 if self.last_step is None else max(now - 1, self.last_step + 1)
        while step > now + 1:  # all of ±1 used: wait for the clock
            time.sleep(1)
            now = int(time.time()) // 30
        self.last_step = step
        return self.totp.generate_otp(step)


def enrol_two_factor(api: httpx.Client, headers: dict) -> tuple[Authenticator, list[str]]:
    """Turn two-factor on for the caller: their authenticator app and recovery codes."""
    r = api.post("/api/user/2fa/enrol", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/axops:") and body["qr_svg"].startswith("<svg")
    app = Authenticator(body["secret"])
    r = api.post("/api/user/2fa/confirm", json={"code": app.code()}, headers=headers)
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return app, codes


def mfa_login(api: httpx.Client, username: str, password: str, code: str) -> httpx.Response:
    """Both steps of a login with two-factor on; the second step's response."""
    first = api.post("/api/auth/login", json={"username": username, "password": password})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["mfa_required"] is True and "access_token" not in body
    return api.post("/api/auth/login/mfa", json={"challenge": body["challenge"], "code": code})
