"""The application's state, typed: what the lifespan builds once per process, and the dependencies
routes read it with.

`app.state.axops` holds the one `AppState`; background tasks get the same object as
`additional_context["axops"]` (read it with `task_state`). Routes take what they need as
parameters: `state: State`, `db: Db`, `storage: Storage`, `settings: SettingsDep`,
`secret: SecretKey`. Code that is handed a request without dependency injection (the gateway's
`/v1` fast path, `get_principal`) reads `state_of(request)`: a plain attribute read.

Core cannot import the layers above it, so the objects they build (the gateway, the serving and
training supervisor, the training cluster backends) are `Any` here; their own domain gives them a
type (e.g. `gateway/deps.py: GatewayDep`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import procrastinate
from fastapi import Depends, Request

from axops.core import tasks
from axops.core import throttle as throttles
from axops.core.db import Database
from axops.core.storage import ObjectStore, Retries
from axops.core.throttle import LoginThrottle
from axops.settings import Settings


@dataclass(eq=False)
class AppState:
    settings: Settings
    db: Database
    storage: ObjectStore
    tasks: procrastinate.App
    secret_key: str
    throttle: LoginThrottle
    serving_dir: Path  # local replicas' working directories
    kubernetes_enabled: bool = False
    role_permissions: dict[str, frozenset[str]] = field(default_factory=dict)  # loaded once at start
    gpus_here: int = 0
    training_executors: dict[str, str] = field(default_factory=dict)  # name → where, for people
    # Built by upper layers (see the module's docstring).
    gateway: Any = None  # axops.gateway: the route table, limits, usage writers
    supervisor: Any = None  # axops.executors.local.Supervisor, when this process runs replicas and jobs
    training_backends: list[Any] = field(default_factory=list)  # clusters fine-tuning jobs may go to

    @classmethod
    def build(cls, settings: Settings, database_url: str) -> AppState:
        """The parts every process needs (the API, a worker alone); the lifespan adds the rest."""
        secret_key = settings.resolved_secret_key()
        throttles.configure(settings.redis_url)  # login and two-factor windows shared by every replica
        return cls(
            settings=settings,
            db=Database(database_url, pool_size=settings.db_pool_size),
            storage=ObjectStore(
                settings.resolved_storage_url,
                secret_key,
                retries=Retries(settings.storage_retries, settings.storage_retry_timeout_s),
                signed_url_ttl_s=settings.storage_signed_url_ttl_s,
            ),
            tasks=tasks.configure(database_url),
            secret_key=secret_key,
            throttle=LoginThrottle(
                settings.login_max_failures, settings.login_ip_max_failures, settings.login_window_seconds
            ),
            serving_dir=(settings.data_dir / "serving").resolve(),
            kubernetes_enabled=bool(settings.kubernetes_namespace),
        )


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.axops
    return state


def task_state(job_context: procrastinate.JobContext) -> AppState:
    """The state a background task runs with (the worker's `additional_context["axops"]`)."""
    state: AppState = job_context.additional_context["axops"]
    return state


# async: FastAPI runs plain `def` dependencies in a thread pool, which costs more than these reads.
async def _state(request: Request) -> AppState:
    return request.app.state.axops


async def _db(request: Request) -> Database:
    return request.app.state.axops.db


async def _storage(request: Request) -> ObjectStore:
    return request.app.state.axops.storage


async def _settings(request: Request) -> Settings:
    return request.app.state.axops.settings


async def _secret_key(request: Request) -> str:
    return request.app.state.axops.secret_key


State = Annotated[AppState, Depends(_state)]
Db = Annotated[Database, Depends(_db)]
Storage = Annotated[ObjectStore, Depends(_storage)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SecretKey = Annotated[str, Depends(_secret_key)]
