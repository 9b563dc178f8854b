"""The archive of compliance reports: one row per period (a week or a month, starting at midnight
Asia/Seoul), its HTML and PDF in the object store."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base, IdMixin

PERIODS = ("week", "month")


class ComplianceReport(IdMixin, Base):
    __tablename__ = "compliance_reports"
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    generated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    generated_by_name: Mapped[str] = mapped_column(String(100))
    html_key: Mapped[str] = mapped_column(String(300))
    html_size: Mapped[int] = mapped_column(BigInteger)
    html_sha256: Mapped[str] = mapped_column(String(64))
    pdf_key: Mapped[str | None] = mapped_column(String(300))
    pdf_size: Mapped[int | None] = mapped_column(BigInteger)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    checklist: Mapped[dict] = mapped_column(JSONB, default=dict)  # {control id: met | partial | not_met}

    __table_args__ = (
        UniqueConstraint("period", "period_start", name="uq_compliance_reports_period_start"),
        CheckConstraint(f"period IN {PERIODS}", name="period"),
    )
