"""All configuration, read from AXOPS_* environment variables (documented in README.md)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AXOPS_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".axops")
    database_url: str | None = None
    storage_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str | None = None
    admin_password: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    login_max_failures: int = 5
    login_ip_max_failures: int = 30
    login_window_seconds: int = 900
    audit_retention_days: int = 365
    audit_partitions_ahead: int = 3
    max_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 200 * 1024**3
    model_archive_retention_days: int = 30
    upload_expiry_hours: int = 72
    usage_retention_days: int = 400
    request_log_retention_days: int = 90
    gateway_health_interval_s: float = 15.0
    otel: bool = Field(False, description="export OpenTelemetry traces (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set)")
    db_pool_size: int = 20
    public_url: str | None = None  # how runtimes reach the control plane (default http://host:port)
    serving_supervisor: bool = Field(True, description="supervise local deployments' replicas from this process")
    training_slots: int = Field(1, ge=1, le=64, description="fine-tuning jobs the local executor runs at once")
    kubernetes_namespace: str | None = None  # where the kubernetes executor creates deployments and jobs (unset: executor off)
    runtime_image: str | None = None  # the runtime's container image for Kubernetes (serving and training)
    kubernetes_kueue_queue: str | None = None  # a Kueue LocalQueue for training jobs
    kubernetes_volcano_queue: str | None = None  # a Volcano queue for training jobs (with a PodGroup each)
    kubernetes_priority_class: str | None = None  # the priorityClassName of training pods
    ray_address: str | None = None  # the Ray dashboard (Jobs API) the ray executor submits to (unset: executor off)
    ray_token: str | None = None  # sent as a Bearer token to the Ray dashboard (token auth or an authenticating proxy)
    log_level: str = "INFO"
    log_json: bool = True
    web_dist: Path | None = None
    worker: bool = Field(True, description="run the background worker inside `axops up`")
    workers: int = Field(1, ge=1, le=64, description="API processes started by `axops up`")

    @property
    def control_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return self.public_url or f"http://{host}:{self.port}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "objects").resolve().as_uri()

    def resolved_secret_key(self) -> str:
        """The JWT/signing key: from the environment, else generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        if self.env == "production":
            raise RuntimeError("AXOPS_SECRET_KEY must be set when AXOPS_ENV=production")
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
