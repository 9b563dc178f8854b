"""A Python tool bound to a dataset version (`spec.dataset_version_id`): the version's Parquet file is
copied into the sandbox's work directory as `data.parquet` on every call.

The version is resolved with the *caller's* permissions (datasets.service: visibility and the raw-row
read policy, reads of sensitive data audited), when the version is written and again on each call, so
a tool never hands a caller rows it could not read through the datasets API."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth.deps import Principal
from axops.core.errors import AppError, Invalid
from axops.core.storage import ObjectStore

FILE_NAME = "data.parquet"
MAX_BYTES = 45_000_000  # under the sandbox's per-file limit (Limits.file_bytes)


async def check(session: AsyncSession, principal: Principal, spec: dict) -> None:
    """422 unless the caller may read the rows of the version the spec names (if it names one)."""
    from axops.datasets import service as datasets

    version_id = spec.get("dataset_version_id")
    if not version_id:
        return
    dataset, version = await datasets.get_version(session, principal, uuid.UUID(version_id))
    datasets.has_data(version)
    datasets.guard_rows(session, principal, dataset, version, "tool")
    if version.size and version.size > MAX_BYTES * 4:
        raise Invalid("The dataset version is too large for a tool's sandbox.", code="tool_spec_invalid", kind="python")


@cache
def _store(url: str, secret: str) -> ObjectStore:
    return ObjectStore(url, secret)


async def files_for(
    session: AsyncSession, principal: Principal, spec: dict, *, secret: str, settings: Any
) -> dict[str, bytes] | str:
    """The files to copy into the sandbox, or why there are none (the call's error)."""
    from axops.datasets import service as datasets

    version_id = spec.get("dataset_version_id")
    if not version_id:
        return {}
    if settings is None:
        return "The tool's dataset cannot be read here."
    try:
        dataset, version = await datasets.get_version(session, principal, uuid.UUID(version_id))
        datasets.has_data(version)
        datasets.guard_rows(session, principal, dataset, version, "tool")
    except AppError as exc:
        return f"The tool's dataset version is not readable: {exc.detail}"
    store = _store(settings.resolved_storage_url, secret)
    data = await store.get_bytes(version.parquet_key)
    if len(data) > MAX_BYTES:
        return "The tool's dataset version is too large for the sandbox."
    return {FILE_NAME: data}
