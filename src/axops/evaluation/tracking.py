"""A finished evaluation run in experiment tracking and the model registry: an experiment run in
`eval/<set name>` (the run's team) with its parameters, a metric `<metric>/<target key>` per metric
mean, the per-row table (`eval_rows.jsonl`) and the report (`report.json`) as artifacts; for a run
on a model version, the primary (first) target's means merged into the version's `metrics` under
`eval/<set name>/<metric>`. Everything through those domains' services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson

from axops.auth.deps import Principal
from axops.evaluation.models import EvalRun, EvalSet
from axops.experiments import artifacts
from axops.experiments import metrics as tracking_metrics
from axops.experiments import runs as tracking_runs
from axops.registry import service as registry

STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED", "stopped": "KILLED"}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1 << 20):
        yield data[start : start + (1 << 20)]


def means(report: dict) -> dict[str, dict[str, float | None]]:
    """metric → target key → mean (the run's summary)."""
    return {m: {k: v.get("mean") for k, v in spec["by_target"].items()} for m, spec in report["metrics"].items()}


async def record(state, run_id: uuid.UUID, principal: Principal, status: str, report: dict, rows: list[dict]) -> None:
    async with state.db.sessionmaker() as session:
        run = await session.get(EvalRun, run_id)
        eval_set = await session.get(EvalSet, run.eval_set_id)
        params = {
            "targets": orjson.dumps(
                [{k: t.get(k) for k in ("key", "kind", "route", "prompt", "column", "label")} for t in run.targets]
            ).decode(),
            "metrics": ",".join(m["name"] for m in run.metrics),
            "judges": ",".join(f"{j['name']}:{j.get('mode', 'single')}@{j['route']}" for j in run.judges),
            "tokenizer": run.tokenizer,
            "sample_size": run.sample_size if run.sample_size is not None else "all",
            "rows": len(rows),
            "seed": run.seed,
            "eval_set": eval_set.name,
        }
        tracked = await tracking_runs.create_run(
            session,
            principal,
            experiment_name=f"eval/{eval_set.name}",
            team_id=run.team_id,
            run_name=run.name[:250] or None,
            params=params,
            tags={"axops.eval_run_id": str(run.id), "axops.eval_status": status},
            dataset_version_ids=[eval_set.dataset_version_id],
            start_time=run.started_at,
        )
        points = [
            {"key": f"{metric}/{key}", "value": mean, "step": 0}
            for metric, by_target in means(report).items()
            for key, mean in by_target.items()
            if mean is not None
        ]
        for key, usage in (report.get("usage") or {}).items():
            for name in ("cost", "latency_p50_ms", "errors"):
                if isinstance(usage.get(name), int | float):
                    points.append({"key": f"{name}/{key}", "value": usage[name], "step": 0})
        if points:
            await tracking_metrics.log_batch(session, principal, tracked.id, metrics=points)
        lines = b"".join(orjson.dumps(r, default=str) + b"\n" for r in rows)
        await artifacts.log_artifact(session, state.storage, principal, tracked.id, "eval_rows.jsonl", _chunks(lines))
        await artifacts.log_artifact(
            session, state.storage, principal, tracked.id, "report.json", _chunks(orjson.dumps(report, default=str))
        )
        await tracking_runs.set_run_status(session, principal, tracked.id, STATUS.get(status, "FINISHED"))
        run.experiment_run_id = tracked.id
        if run.model_version_id is not None and status == "succeeded" and run.targets:
            primary = run.targets[0]["key"]
            values = {
                f"eval/{eval_set.name}/{metric}": by_target.get(primary)
                for metric, by_target in means(report).items()
                if by_target.get(primary) is not None
            }
            if values:
                await registry.record_version_metrics(session, run.model_version_id, values, f"eval run {run.id}")
        await session.commit()
