"""The local executor: deployments as runtime processes on this machine.

One supervisor per installation (a PostgreSQL advisory lock picks the process) reconciles every
second: it starts replicas on free ports, polls their `/health` (readiness and queue figures),
restarts crashed ones with backoff (the exit recorded), scales between min and max on queued +
running requests per replica, replaces replicas of an older generation one at a time (restart),
stops what is no longer wanted, judges canaries, and reports the state back to the database,
where the gateway route of the deployment follows its ready replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import socket
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import select

from axops.auth.scoping import SYSTEM
from axops.executors.environment import runtime_environment
from axops.serving import canary, routing
from axops.serving import service as serving
from axops.serving.logs import replica_log
from axops.serving.models import ACTIVE, Deployment

log = logging.getLogger("axops.executors.local")
LOCK_KEY = 0x6178_6F70_7301  # pg_advisory_lock key of the local serving supervisor
EXIT_UNSERVABLE = 3
MAX_EARLY_CRASHES = 5  # restarts before a replica that never got ready fails the deployment
SCALE_DOWN_AFTER_S = 30.0
LOG_TAIL = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    index: int
    generation: int
    port: int
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    state: str = "starting"  # starting | ready | crashed | stopping
    restarts: int = 0
    crashes_before_ready: int = 0
    ever_ready: bool = False
    restart_at: float = 0.0
    last_exit: str | None = None
    queued: int = 0
    running: int = 0
    window: dict = field(default_factory=dict)  # the runtime's own request figures over the canary window
    tail: deque = field(default_factory=lambda: deque(maxlen=LOG_TAIL))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "state": self.state,
            "endpoint": self.endpoint,
            "pid": self.process.pid if self.process else None,
            "restarts": self.restarts,
            "queued": self.queued,
            "running": self.running,
            "last_exit": self.last_exit,
            "generation": self.generation,
            "log": str(self.log_path),
        }


class Supervisor:
    def __init__(
        self, db, secret: str, control_url: str, work_dir: Path, interval_s: float = 1.0, kubernetes=None, training=None
    ) -> None:
        self.db, self.secret, self.control_url = db, secret, control_url.rstrip("/")
        self.kubernetes = (
            kubernetes  # a KubernetesExecutor when a cluster is configured: reconciled by the same process
        )
        self.training = (
            training or []
        )  # the runners of fine-tuning jobs (local, clusters): the same process drives them
        self.work_dir = work_dir
        self.interval_s = interval_s
        self.replicas: dict[uuid.UUID, list[Replica]] = {}
        self.low_since: dict[uuid.UUID, float] = {}
        self._task: asyncio.Task | None = None
        self._retiring: set[asyncio.Task] = set()
        self._lock_conn = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(
            *(self._terminate(r) for rs in self.replicas.values() for r in rs), *self._retiring, return_exceptions=True
        )
        self.replicas.clear()
        for runner in self.training:
            await runner.stop()
        if self._http:
            await self._http.close()
        if self._lock_conn is not None:
            await self._lock_conn.close()

    async def _run(self) -> None:
        while not await self._take_lock():
            await asyncio.sleep(5)
        log.info("serving.supervisor_started work_dir=%s", self.work_dir)
        rounds = 0
        while True:
            try:
                await self.reconcile()
                for runner in self.training:
                    await runner.reconcile()
                if self.kubernetes is not None and rounds % 5 == 0:
                    await self.kubernetes.reconcile()
            except Exception:  # a failed round is retried; replicas keep running
                log.exception("serving.reconcile_failed")
            rounds += 1
            await asyncio.sleep(self.interval_s)

    async def _take_lock(self) -> bool:
        """Only one process of an installation supervises local replicas."""
        import asyncpg

        from axops.core.db import libpq_url

        if self._lock_conn is None:
            self._lock_conn = await asyncpg.connect(libpq_url(self.db.url))
        return bool(await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY))

    # -- one round ---------------------------------------------------------------------------

    async def reconcile(self) -> None:
        async with self.db.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(Deployment).where(Deployment.executor == "local", Deployment.status.in_(ACTIVE))
                )
            ).all()
            wanted = {d.id: d for d in rows}
        for gone in [i for i in self.replicas if i not in wanted]:
            await asyncio.gather(*(self._terminate(r) for r in self.replicas.pop(gone)))
            self.low_since.pop(gone, None)
        for d in wanted.values():
            await self._reconcile_one(d)

    async def _reconcile_one(self, d: Deployment) -> None:
        replicas = self.replicas.setdefault(d.id, [])
        await asyncio.gather(*(self._poll(r, int(d.rollback_policy.get("window_s", 60))) for r in replicas))
        failure = None
        for r in replicas:
            if r.process is not None and r.process.returncode is not None and r.state not in ("crashed", "stopping"):
                failure = failure or self._on_exit(r)
        desired = self._desired(d, replicas)
        # replicas beyond the wanted count, or of an older generation once a successor is ready
        current = [r for r in replicas if r.state != "stopping"]
        old = [r for r in current if r.generation != d.generation]
        if old and any(r.state == "ready" for r in current if r.generation == d.generation):
            self._retire(old[0])
            replicas.remove(old[0])
        fresh = [r for r in replicas if r.generation == d.generation]
        while len(fresh) < desired and failure is None:
            if old and any(r.state != "ready" for r in fresh):
                break  # a rolling restart brings up one new replica at a time
            r = Replica(
                index=self._next_index(replicas),
                generation=d.generation,
                port=free_port(),
                log_path=replica_log(self.work_dir, d.id, self._next_index(replicas)),
            )
            replicas.append(r)
            fresh.append(r)
            await self._spawn(d, r)
        while len(fresh) > desired:
            r = max(fresh, key=lambda x: (x.state != "ready", x.index))
            fresh.remove(r)
            replicas.remove(r)
            self._retire(r)
        now = time.monotonic()
        for r in replicas:
            if r.state == "crashed" and now >= r.restart_at and failure is None:
                await self._spawn(d, r)
        verdict = None
        if d.canary_of is not None and d.rollback_policy:
            verdict = canary.judge(d.rollback_policy, [r.window for r in replicas if r.state == "ready"])
        await self._report(d, replicas, desired, failure, verdict)

    def _desired(self, d: Deployment, replicas: list[Replica]) -> int:
        """Scale on queued + running requests per ready replica: up at once, down after a calm spell."""
        ready = [r for r in replicas if r.state == "ready"]
        current = max(d.replicas_desired, d.replicas_min)
        if not ready:
            return min(current, d.replicas_max)
        load = sum(r.queued + r.running for r in ready)
        wanted = min(max(math.ceil(load / d.autoscale_target), d.replicas_min), d.replicas_max)
        if wanted >= current:
            self.low_since.pop(d.id, None)
            return wanted
        since = self.low_since.setdefault(d.id, time.monotonic())
        return wanted if time.monotonic() - since >= SCALE_DOWN_AFTER_S else current

    @staticmethod
    def _next_index(replicas: list[Replica]) -> int:
        used = {r.index for r in replicas}
        return next(i for i in range(len(used) + 1) if i not in used)

    def _on_exit(self, r: Replica) -> str | None:
        """Record why a replica ended; the deployment's failure reason when it should not come back."""
        code = r.process.returncode
        reason = _describe_exit(code, r.tail)
        r.last_exit = reason
        r.process = None
        if code == EXIT_UNSERVABLE:
            r.state = "crashed"
            return reason
        if not r.ever_ready:
            r.crashes_before_ready += 1
            if r.crashes_before_ready >= MAX_EARLY_CRASHES:
                r.state = "crashed"
                return f"replica {r.index} exited {r.crashes_before_ready} times before getting ready; last: {reason}"
        r.state = "crashed"
        r.restarts += 1
        r.restart_at = time.monotonic() + min(2 ** min(r.restarts - 1, 5), 30)
        log.warning(
            "serving.replica_exited replica=%d reason=%s restart_in=%.0fs",
            r.index,
            reason,
            r.restart_at - time.monotonic(),
        )
        return None

    async def _spawn(self, d: Deployment, r: Replica) -> None:
        r.log_path.parent.mkdir(parents=True, exist_ok=True)
        r.port = free_port() if r.restarts else r.port
        command = [
            sys.executable,
            "-m",
            "axops.runtime.serve",
            "--version-id",
            str(d.version_id),
            "--control-url",
            self.control_url,
            "--served-name",
            d.name,
            "--port",
            str(r.port),
            "--engine",
            d.engine,
            "--max-batch",
            str(d.max_batch),
            "--cache-dir",
            str(self.work_dir / "cache"),
            "--memory-limit-bytes",
            str(int(d.resources.get("memory_gb", 4) * 2**30)),
        ]
        env = runtime_environment(
            AXOPS_RUNTIME_TOKEN=routing.runtime_token(self.secret, d) or "",
            AXOPS_RUNTIME_SERVE_TOKEN=await routing.serve_token(self.db, self.secret, d),
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS=str(max(1, int(d.resources.get("cpu", 1)))),
            TOKENIZERS_PARALLELISM="false",
        )
        if not d.resources.get("gpu"):
            env["CUDA_VISIBLE_DEVICES"] = ""
        out = r.log_path.open("ab")
        r.process = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True
        )
        out.close()
        r.state = "starting"
        r.tail.clear()
        log.info(
            "serving.replica_started deployment=%s replica=%d port=%d pid=%d", d.name, r.index, r.port, r.process.pid
        )

    async def _poll(self, r: Replica, window_s: int = 60) -> None:
        if r.process is None or r.process.returncode is not None:
            self._read_tail(r)
            return
        try:
            async with self._http.get(f"http://127.0.0.1:{r.port}/health", params={"window_s": str(window_s)}) as resp:
                health = await resp.json() if resp.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            health = {}
        if health.get("ready") and not health.get("draining"):
            r.state, r.ever_ready, r.crashes_before_ready = "ready", True, 0
            r.queued, r.running = int(health.get("queued", 0)), int(health.get("running", 0))
            r.window = health.get("window") or {}
        elif r.state == "ready":  # stopped answering: not a target until it does again
            r.state = "starting"
        self._read_tail(r)

    def _read_tail(self, r: Replica) -> None:
        with contextlib.suppress(OSError), r.log_path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 8192))
            r.tail.clear()
            r.tail.extend(f.read().decode("utf-8", "replace").splitlines()[-LOG_TAIL:])

    def _retire(self, r: Replica) -> None:
        """Drain and stop a replica in the background (it leaves the route at once: it is no longer listed)."""
        task = asyncio.create_task(self._terminate(r))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _terminate(self, r: Replica) -> None:
        r.state = "stopping"
        p = r.process
        if p is None or p.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(p.wait(), timeout=15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            await p.wait()

    async def _report(
        self, d: Deployment, replicas: list[Replica], desired: int, failure: str | None, verdict: str | None
    ) -> None:
        ready = sum(r.state == "ready" for r in replicas)
        if failure:
            status, reason = "failed", failure
        elif ready and ready >= d.replicas_min:
            status, reason = "ready", None
        elif ready:
            status, reason = "degraded", f"{ready} of {d.replicas_min} replicas ready"
        elif any(r.ever_ready for r in replicas) or d.status in ("ready", "degraded"):
            status, reason = (
                "degraded",
                "no replica is ready: " + next((r.last_exit for r in replicas if r.last_exit), "restarting"),
            )
        else:
            status, reason = "loading", None
        state = [r.as_dict() for r in sorted(replicas, key=lambda x: x.index)]
        targets_before = {(x.get("index"), x.get("endpoint")) for x in d.replicas if x.get("state") == "ready"}
        targets_now = {(x["index"], x["endpoint"]) for x in state if x["state"] == "ready"}
        if (
            status == d.status
            and reason == d.status_reason
            and desired == d.replicas_desired
            and _same(d.replicas, state)
            and not verdict
        ):
            return
        async with self.db.sessionmaker() as session, session.begin():
            row = await session.get(Deployment, d.id, with_for_update=True)
            if row is None or row.status not in ACTIVE:
                return
            if status != row.status:
                serving.note(row, status, reason or status)
                log.info("serving.status deployment=%s %s -> %s %s", row.name, row.status, status, reason or "")
            if desired != row.replicas_desired:
                serving.note(row, "autoscaled", f"replicas {row.replicas_desired} → {desired}")
            if status == "ready" and row.ready_at is None:
                row.ready_at = datetime.now(UTC)
                row.ready_seconds = (row.ready_at - row.created_at).total_seconds()
            row.status, row.status_reason, row.replicas, row.replicas_desired = status, reason, state, desired
            await session.flush()
            if status == "failed":
                await asyncio.gather(*(self._terminate(r) for r in replicas))
                self.replicas.pop(d.id, None)
            if targets_before != targets_now or status == "failed":
                await routing.sync_route(session, row.canary_of or row.id)
            if verdict and row.canary_of is not None:
                log.warning("serving.canary_rollback deployment=%s reason=%s", row.name, verdict)
                await serving.rollback(session, SYSTEM, row.id, verdict)
        d.status, d.status_reason, d.replicas, d.replicas_desired = status, reason, state, desired


def _same(before: list, after: list) -> bool:
    keys = ("index", "state", "endpoint", "pid", "restarts", "last_exit", "queued", "running")
    return [{k: x.get(k) for k in keys} for x in before] == [{k: x.get(k) for k in keys} for x in after]


def _describe_exit(code: int | None, tail: deque) -> str:
    last = next((line for line in reversed(tail) if line.strip()), "")
    if code is not None and code < 0:
        try:
            what = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exited with code {code}"
    if code == EXIT_UNSERVABLE and last:
        return last.removeprefix("axops-runtime: ")
    return f"{what}" + (f": {last[-300:]}" if last and code not in (0, None) and (code or 0) > 0 else "")
