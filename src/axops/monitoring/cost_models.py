"""Cost settings: the hourly rate of one GPU per GPU type (`default` prices the types not listed)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from axops.core.db import Base

DEFAULT_GPU_TYPE = "default"


class GpuRate(Base):
    __tablename__ = "cost_gpu_rates"
    gpu_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    hourly_rate: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (CheckConstraint("hourly_rate >= 0", name="hourly_rate"),)
