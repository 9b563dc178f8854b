"""Review for training: a reviewer of the owning team approves or rejects a scanned version; unmasked
high-risk PII blocks approval unless overridden (with its own permission)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit
from axops.auth.deps import Principal
from axops.core.errors import Conflict, Forbidden
from axops.datasets.models import Dataset, DatasetVersion
from axops.datasets.service import get_version

# Entity types whose presence, unmasked, blocks approval for training (without an override).
HIGH_RISK = frozenset({"RRN", "ARN", "PASSPORT", "DRIVER_LICENSE", "CREDIT_CARD", "BANK_ACCOUNT"})


async def review(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID, decision: str, comment: str, override_pii: bool
) -> DatasetVersion:
    if not principal.can("datasets:approve"):
        raise Forbidden("Reviewing data for training needs the 'datasets:approve' permission.")
    dataset, version = await get_version(session, principal, version_id, for_update=True)
    if not principal.sees_team(dataset.team_id):
        raise Forbidden("Only reviewers in the dataset's team (or Admins) can approve or reject its versions.")
    if version.status != "ready" or version.review_status == "uploaded":
        raise Conflict("The version can be reviewed once its PII scan has finished.", code="review_before_scan")
    risky = sorted(HIGH_RISK & set((version.pii or {}).get("entities", {})))
    overridden = False
    if decision == "approve" and risky:
        if not override_pii:
            raise Conflict(
                f"Unmasked high-risk PII ({', '.join(risky)}): create a masked version, or approve with an override.",
                code="high_risk_pii_unmasked",
                entities=risky,
            )
        if not principal.can("datasets:override_pii"):
            raise Forbidden(
                "Approving data with high-risk PII needs the 'datasets:override_pii' permission.",
                code="pii_override_forbidden",
            )
        overridden = True
    version.review_status = "approved" if decision == "approve" else "rejected"
    version.reviewed_by, version.reviewed_at, version.review_comment = (
        principal.user_id,
        datetime.now(UTC),
        comment or None,
    )
    await session.flush()
    audit.record(
        session,
        f"dataset.version_{version.review_status}",
        resource_type="dataset",
        resource_id=dataset.id,
        team_id=dataset.team_id,
        summary={
            "name": dataset.name,
            "version": version.version,
            "comment": comment,
            "pii_override": overridden,
            "entities": risky,
        },
    )
    await session.refresh(version)
    return version


async def approved_version(
    session: AsyncSession, principal: Principal, version_id: uuid.UUID
) -> tuple[Dataset, DatasetVersion]:
    """For training: only approved versions are accepted (409 otherwise)."""
    dataset, version = await get_version(session, principal, version_id)
    if version.review_status != "approved":
        raise Conflict(
            f"Dataset {dataset.name} v{version.version} is not approved for training ({version.review_status})."
        )
    return dataset, version
