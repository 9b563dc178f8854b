"""The data dashboard (PRD §7.3 ④) over the datasets the caller sees (`visible`: their teams' and
organisation-wide ones; Admins all), the same rule as the datasets list, which shows every visible
dataset's name whatever its sensitivity.

- Quality: each dataset's latest ready version's scan (`quality`: duplicate rows, the emptiest column's null
  ratio, warnings by kind) and the review states of all their versions.
- PII findings: the entity counts of the versions created in the range (their scan's `pii.entities`), per
  UTC day and per entity type.
- Growth: versions, rows and bytes added per UTC day in the range, and running totals that start from
  everything created before it.
- Lineage: the training jobs active in the range (the caller's teams'), each dataset version they trained
  on → the model version they produced (none yet while running or when they failed)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.auth.scoping import team_ids_param
from axops.core.db import fetch_raw
from axops.monitoring.dashboards import Range

QUALITY_ROWS = 50
LINEAGE_ROWS = 200

# Soft-deleted datasets (and models, below) drop out of the dashboards like out of every other read.
_SEES = "d.deleted_at IS NULL AND ($1::uuid[] IS NULL OR d.team_id = ANY($1) OR d.visibility = 'organization')"

_LATEST = f"""
SELECT DISTINCT ON (d.id) d.id AS dataset_id, d.name, v.id AS version_id, v.version, v.row_count, v.size,
       v.review_status, v.sensitivity, v.created_at,
       (v.quality->>'duplicate_rows')::float8 / nullif((v.quality->>'rows')::float8, 0) AS duplicate_ratio,
       (SELECT max((c->>'null_ratio')::float8) FROM jsonb_array_elements(v.quality->'columns') c) AS max_null_ratio,
       coalesce(jsonb_array_length(v.quality->'warnings'), 0) AS warnings,
       v.quality IS NOT NULL AS scanned
FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
WHERE {_SEES} AND v.status = 'ready'
ORDER BY d.id, v.version DESC"""

_WARNING_KINDS = f"""
SELECT w->>'kind' AS kind, count(*) AS n
FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id, jsonb_array_elements(v.quality->'warnings') w
WHERE {_SEES} AND v.status = 'ready' AND jsonb_typeof(v.quality->'warnings') = 'array'
  AND v.id = ANY($2::uuid[])
GROUP BY 1 ORDER BY 2 DESC, 1"""

_REVIEWS = f"""
SELECT v.review_status AS state, count(*) AS n FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
WHERE {_SEES} AND v.status = 'ready' GROUP BY 1"""

_PII = f"""
SELECT date_trunc('day', v.created_at AT TIME ZONE 'UTC') AS day, e.key AS entity, sum(e.value::bigint) AS n,
       count(DISTINCT v.id) AS versions
FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id,
     jsonb_each_text(CASE WHEN jsonb_typeof(v.pii->'entities') = 'object' THEN v.pii->'entities' END) e
WHERE {_SEES} AND v.created_at >= $2 AND v.created_at < $3
GROUP BY 1, 2 ORDER BY 1, 2"""

_SCANNED = f"""
SELECT count(*) FILTER (WHERE v.pii IS NOT NULL) AS scanned,
       count(*) FILTER (WHERE v.pii->'entities' IS NOT NULL AND v.pii->'entities' <> '{{}}'::jsonb) AS with_findings
FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
WHERE {_SEES} AND v.created_at >= $2 AND v.created_at < $3"""

_GROWTH = f"""
SELECT date_trunc('day', v.created_at AT TIME ZONE 'UTC') AS day, count(*) AS versions,
       coalesce(sum(v.row_count), 0) AS rows, coalesce(sum(v.size), 0) AS bytes
FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
WHERE {_SEES} AND v.status = 'ready' AND v.created_at >= $2 AND v.created_at < $3
GROUP BY 1 ORDER BY 1"""

_BEFORE = f"""
SELECT count(*) AS versions, coalesce(sum(v.row_count), 0) AS rows, coalesce(sum(v.size), 0) AS bytes
FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
WHERE {_SEES} AND v.status = 'ready' AND v.created_at < $2"""

_LINEAGE = f"""
SELECT j.id AS job_id, j.name AS job, j.status, d.id AS dataset_id, d.name AS dataset, dv.version AS dataset_version,
       m.id AS model_id, m.name AS model, mv.version AS model_version
FROM training_jobs j
CROSS JOIN LATERAL unnest(j.dataset_version_ids) AS u(version_id)
JOIN dataset_versions dv ON dv.id = u.version_id
JOIN datasets d ON d.id = dv.dataset_id
LEFT JOIN model_versions mv ON mv.id = j.output_version_id
LEFT JOIN registered_models m ON m.id = mv.model_id AND m.deleted_at IS NULL
WHERE {_SEES} AND ($4::uuid[] IS NULL OR j.team_id = ANY($4))
  AND j.created_at < $3 AND coalesce(j.finished_at, $3) >= $2
ORDER BY j.created_at DESC, j.id, d.name, dv.version
LIMIT {LINEAGE_ROWS + 1}"""


def _float(v) -> float | None:
    return float(v) if v is not None else None


async def data(session: AsyncSession, principal: Principal, window: Range) -> dict:
    teams = team_ids_param(principal)
    latest = await fetch_raw(session, _LATEST, teams)
    kinds = await fetch_raw(session, _WARNING_KINDS, teams, [r["version_id"] for r in latest])
    reviews = {r["state"]: r["n"] for r in await fetch_raw(session, _REVIEWS, teams)}
    scanned = [r for r in latest if r["scanned"]]
    dup = [r["duplicate_ratio"] for r in scanned if r["duplicate_ratio"] is not None]
    worst = sorted(latest, key=lambda r: (-r["warnings"], -(r["duplicate_ratio"] or 0), r["name"]))

    pii_rows = await fetch_raw(session, _PII, teams, window.start, window.end)
    pii_days: dict = {}
    entities: dict[str, int] = {}
    for r in pii_rows:
        pii_days.setdefault(r["day"].date(), {})[r["entity"]] = int(r["n"])
        entities[r["entity"]] = entities.get(r["entity"], 0) + int(r["n"])
    pii_counts = (await fetch_raw(session, _SCANNED, teams, window.start, window.end))[0]

    before = (await fetch_raw(session, _BEFORE, teams, window.start))[0]
    running = _before(before)
    growth = []
    for r in await fetch_raw(session, _GROWTH, teams, window.start, window.end):
        added = {"versions": r["versions"], "rows": int(r["rows"]), "bytes": int(r["bytes"])}
        running = {k: running[k] + added[k] for k in running}
        growth.append({"day": r["day"].date(), **added, **{f"total_{k}": v for k, v in running.items()}})

    links = await fetch_raw(session, _LINEAGE, teams, window.start, window.end, teams)
    return {
        "range": window.out(),
        "quality": {
            "datasets": len(latest),
            "scanned": len(scanned),
            "mean_duplicate_ratio": sum(dup) / len(dup) if dup else None,
            "with_warnings": sum(1 for r in latest if r["warnings"]),
            "warning_kinds": {r["kind"]: r["n"] for r in kinds if r["kind"]},
            "reviews": {s: reviews.get(s, 0) for s in ("uploaded", "scanned", "approved", "rejected")},
            "rows": [
                {
                    "dataset_id": r["dataset_id"],
                    "name": r["name"],
                    "version_id": r["version_id"],
                    "version": r["version"],
                    "rows": r["row_count"],
                    "bytes": r["size"],
                    "duplicate_ratio": _float(r["duplicate_ratio"]),
                    "max_null_ratio": _float(r["max_null_ratio"]),
                    "warnings": r["warnings"],
                    "review_status": r["review_status"],
                    "sensitivity": r["sensitivity"],
                }
                for r in worst[:QUALITY_ROWS]
            ],
        },
        "pii": {
            "scanned_versions": pii_counts["scanned"],
            "versions_with_findings": pii_counts["with_findings"],
            "entities": dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))),
            "days": [{"day": d, "entities": e} for d, e in sorted(pii_days.items())],
        },
        "growth": {"before": _before(before), "days": growth},
        "lineage": {
            "links": [dict(r) for r in links[:LINEAGE_ROWS]],
            "truncated": len(links) > LINEAGE_ROWS,
        },
    }


def _before(row) -> dict:
    return {"versions": row["versions"], "rows": int(row["rows"]), "bytes": int(row["bytes"])}
