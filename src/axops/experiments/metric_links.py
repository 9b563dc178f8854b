"""MLflow 3's logged model and dataset of a metric point: stored once per (run, key, model, dataset) in
run_metric_links, and each point logged with a link in run_metric_link_points (MLflow's logged_model_metrics),
so a logged model's `metrics` are exactly the points logged for it. Points without a link (most of them, and
every plain `log_metric`) never come here.

As in MLflow, a point's link is not part of its history (`get-history` answers key, value, step, timestamp):
MLflow's client relies on that when `log_model` re-logs the step's points with the new model's id."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from axops.core.db import fetch_raw
from axops.core.errors import Invalid

Link = tuple[str, str, str, str]  # key, model_id, dataset_name, dataset_digest ('' where not sent)
_FIELDS = (("model_id", 100), ("dataset_name", 500), ("dataset_digest", 36))


def point_links(metrics: list) -> list[Link | None]:
    """The link of each point (None: the point names no model or dataset); a field too long is refused."""
    out: list[Link | None] = []
    for i, m in enumerate(metrics):
        if not any(m.get(field) for field, _ in _FIELDS):
            out.append(None)
            continue
        found = []
        for field, limit in _FIELDS:
            value = m.get(field) or ""
            if not isinstance(value, str) or len(value) > limit:
                raise Invalid(f"metrics[{i}].{field} must be a string of at most {limit} characters.")
            found.append(value)
        out.append((m["key"], found[0], found[1], found[2]))
    return out


_ENSURE = """
WITH l AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS l(key, model_id, dataset_name, dataset_digest)),
ins AS (INSERT INTO run_metric_links (run_id, key, model_id, dataset_name, dataset_digest) SELECT $1, * FROM l
        ON CONFLICT DO NOTHING RETURNING id, key, model_id, dataset_name, dataset_digest)
SELECT * FROM ins
UNION ALL
SELECT k.id, k.key, k.model_id, k.dataset_name, k.dataset_digest
FROM run_metric_links k JOIN l USING (key, model_id, dataset_name, dataset_digest) WHERE k.run_id = $1
"""
_FIND = """
SELECT k.id, k.key, k.model_id, k.dataset_name, k.dataset_digest
FROM run_metric_links k JOIN unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS l(key, model_id, dataset_name, dataset_digest)
     USING (key, model_id, dataset_name, dataset_digest) WHERE k.run_id = $1
"""
_POINTS = """
INSERT INTO run_metric_link_points (link_id, step, timestamp, value)
SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::float8[]) ON CONFLICT DO NOTHING
"""


async def write(
    session: AsyncSession, run_id: uuid.UUID, links: list[Link | None], steps: list, stamps: list, values: list
) -> None:
    """Record the linked points of a batch (the points themselves go to run_metrics as any other)."""
    wanted = sorted({link for link in links if link})
    columns = [list(c) for c in zip(*wanted, strict=True)]
    ids = {tuple(r[1:]): r[0] for r in await fetch_raw(session, _ENSURE, run_id, *columns)}
    if len(ids) < len(wanted):  # another transaction added one after this statement's snapshot
        ids = {tuple(r[1:]): r[0] for r in await fetch_raw(session, _FIND, run_id, *columns)}
    picked = [i for i, link in enumerate(links) if link]
    await fetch_raw(
        session,
        _POINTS,
        [ids[links[i]] for i in picked],
        [steps[i] for i in picked],
        [stamps[i] for i in picked],
        [values[i] for i in picked],
    )


_MODEL_POINTS = """
SELECT k.model_id, replace(k.run_id::text, '-', ''), k.key, p.value, p.step, p.timestamp, k.dataset_name, k.dataset_digest
FROM run_metric_links k JOIN run_metric_link_points p ON p.link_id = k.id
WHERE k.model_id = ANY($1) AND k.run_id = ANY($2)
ORDER BY k.key, p.step, p.timestamp
"""


async def model_points(session: AsyncSession, model_ids: list[str], run_ids: list[uuid.UUID]) -> dict[str, list[dict]]:
    """The points logged for each logged model (MLflow id `m-<hex>`) in these runs (the caller's visible ones),
    by key, step and timestamp: {run_id, key, value, step, timestamp[, dataset_name, dataset_digest]}."""
    out: dict[str, list[dict]] = {m: [] for m in model_ids}
    if not model_ids or not run_ids:
        return out
    rows = await fetch_raw(session, _MODEL_POINTS, model_ids, run_ids)
    for model_id, run, key, value, step, ts, dname, ddigest in rows:
        point = {"key": key, "value": value, "step": step, "timestamp": ts, "run_id": run}
        if dname or ddigest:
            point["dataset_name"], point["dataset_digest"] = dname, ddigest
        out[model_id].append(point)
    return out
