"""Versions side by side: their facts, which of them differ, and the differences of their configs."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import Invalid
from axops.registry.schemas import CompareColumn, CompareOut, ConfigDifference
from axops.registry.service import get_version


async def compare(session: AsyncSession, principal: Principal, version_ids: list[uuid.UUID]) -> CompareOut:
    rows = []
    for vid in dict.fromkeys(version_ids):
        rows.append(await get_version(session, principal, vid))
    if len(rows) < 2:
        raise Invalid("Compare needs at least two different versions.")
    columns = [
        CompareColumn(
            version_id=v.id,
            model_name=m.name,
            version=v.version,
            stage=v.stage,
            architecture=v.card.get("architecture"),
            parameter_count=v.card.get("parameter_count"),
            context_length=v.card.get("context_length"),
            vocab_size=v.card.get("vocab_size"),
            dtype=v.card.get("dtype") or v.card.get("config_dtype"),
            total_size=v.total_size,
            dataset_version_ids=v.dataset_version_ids or [],
            run_id=v.run_id,
            metrics=v.metrics or {},
        )
        for m, v in rows
    ]
    facts = [
        "architecture",
        "parameter_count",
        "context_length",
        "vocab_size",
        "dtype",
        "total_size",
        "dataset_version_ids",
        "run_id",
    ]
    differing = [f for f in facts if len({repr(getattr(c, f)) for c in columns}) > 1]
    configs = [_flatten(v.config or {}) for _, v in rows]
    keys = sorted(set().union(*configs))
    diff = [
        ConfigDifference(key=k, values=[c.get(k) for c in configs])
        for k in keys
        if len({repr(c.get(k)) for c in configs}) > 1
    ]
    return CompareOut(versions=columns, differing_facts=differing, config_diff=diff)


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
