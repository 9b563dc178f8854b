"""All configuration, read from AXOPS_* environment variables (documented in README.md)."""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AXOPS_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".axops")
    database_url: str | None = None
    storage_url: str | None = None
    # A remote store (s3://...): endpoint, region and credentials come from AWS_* variables (docs/OPERATIONS.md).
    storage_retries: int = Field(4, ge=0, le=20, description="retries of a failed object-store request (backoff)")
    storage_retry_timeout_s: float = Field(30.0, gt=0, description="give up retrying an object-store request after")
    storage_signed_url_ttl_s: int = Field(
        300, ge=1, le=7 * 24 * 3600, description="how long a signed download URL (presigned S3 URL) stays valid"
    )
    redis_url: str | None = None
    redis_fail_open: bool = Field(
        True,
        description="while Redis is unreachable each replica applies rate limits on its own (true) "
        "instead of refusing limited requests with 429 (false); see docs/OPERATIONS.md",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str | None = None
    import_roots: str = Field(
        "", description="server directories model imports may read, separated by ':' or ','; empty: off"
    )
    admin_password: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    login_max_failures: int = 5
    login_ip_max_failures: int = 30
    login_window_seconds: int = 900
    mfa_required_for_admins: bool = Field(
        False, description="admins must enrol two-factor authentication before destructive actions"
    )
    oidc_issuer: str | None = Field(None, description="OpenID Connect issuer URL; unset: single sign-on off")
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = Field(
        None, description="the callback the IdP redirects to (default <public url>/api/auth/sso/callback)"
    )
    oidc_scopes: str = "openid profile email groups"
    oidc_groups_claim: str = "groups"
    oidc_group_map: str = Field(
        "{}",
        description='JSON: IdP group -> {"role": ...} and/or {"team": ...}, e.g. {"axops-admins": {"role": "admin"}}',
    )
    oidc_default_role: str = "viewer"
    approvals_required: bool = Field(
        True, description="moving a model version to production and deploying it there need another person's approval"
    )
    audit_retention_days: int = 365
    audit_partitions_ahead: int = 3
    max_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 200 * 1024**3
    # Files of archived model versions are deleted this long after archiving (PRD: versions kept >= 180 days;
    # a smaller value is allowed, docs/OPERATIONS.md "Retention and recovery").
    model_archive_retention_days: int = Field(180, ge=1)
    # Deleted models and datasets can be restored this long, then the purge task removes them and their files.
    deleted_retention_days: int = Field(30, ge=1)
    # Output lines of training jobs finished longer ago than this are deleted (the job and its outcome stay).
    training_log_retention_days: int = Field(30, ge=1)
    upload_expiry_hours: int = 72
    dataset_max_rows: int = Field(
        5_000_000, ge=1, description="rows a dataset version may have; larger uploads are refused"
    )
    usage_retention_days: int = 400
    request_log_retention_days: int = 90
    gateway_health_interval_s: float = 15.0
    # A guardrail check that asks a model (moderation or classifier route) waits at most this long.
    guardrails_model_timeout_s: float = Field(2.0, gt=0, le=60)
    alert_allowed_networks: str = Field(
        "",
        description="private, loopback or link-local networks alert channels may send to (CIDRs separated by ','; "
        "e.g. your SMTP relay or Alertmanager: 10.0.0.0/8); empty: public addresses only",
    )
    mcp_allowed_networks: str = Field(
        "",
        description="private, loopback or link-local networks streamable-HTTP MCP servers may be on (CIDRs separated "
        "by ','; e.g. 10.0.0.0/8); empty: public addresses only",
    )
    gateway_currency: str = Field(
        "USD", min_length=1, max_length=8, description="the unit of route prices and every cost figure"
    )
    otel: bool = Field(
        False, description="export OpenTelemetry traces (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set)"
    )
    db_pool_size: int = 20
    public_url: str | None = None  # how runtimes reach the control plane (default http://host:port)
    serving_supervisor: bool = Field(True, description="supervise local deployments' replicas from this process")
    training_slots: int = Field(1, ge=1, le=64, description="fine-tuning jobs the local executor runs at once")
    kubernetes_namespace: str | None = (
        None  # where the kubernetes executor creates deployments and jobs (unset: executor off)
    )
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
    # Backups (issue 19): the worker writes one a day when a destination is set; `axops backup` uses the same.
    backup_url: str | None = Field(
        None,
        validation_alias=AliasChoices("AXOPS_BACKUP_URL", "AXOPS_BACKUP_DIR"),
        description="where backups go: a directory or an s3://bucket/prefix; unset: no daily backup",
    )
    backup_hour: int = Field(2, ge=0, le=23, description="the UTC hour the daily backup runs")
    backup_keep: int = Field(7, ge=1, description="complete backups kept; older ones are deleted")
    backup_copy_objects: bool = Field(True, description="copy the object store's files into each backup")
    # HTTPS served by `axops up` itself (docs/OPERATIONS.md "TLS"); both or neither.
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) for HTTPS; unset: plain HTTP")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert (unencrypted)")
    behind_tls_proxy: bool = Field(
        False,
        description="a proxy or Ingress terminates TLS in front of axops: cookies are Secure and responses carry HSTS",
    )
    # Graceful stop (docs/OPERATIONS.md "Stopping and updating without losing requests").
    shutdown_drain_seconds: float = Field(
        0, ge=0, le=600, description="after SIGTERM: /readyz 503 but keep serving this long (e.g. 5 on Kubernetes)"
    )
    shutdown_timeout_seconds: float = Field(
        30, gt=0, le=3600, description="then the longest wait for requests in flight before they are cancelled"
    )

    @property
    def control_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return self.public_url or f"http://{host}:{self.port}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "objects").resolve().as_uri()

    @property
    def import_root_paths(self) -> list[Path]:
        return [
            Path(p.strip()).expanduser().resolve()
            for p in re.split(f"[,{re.escape(os.pathsep)}]", self.import_roots)
            if p.strip()
        ]

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret_key"

    def resolved_secret_key(self) -> str:
        """The JWT/signing key: from the environment, else generated once and kept in the data dir (mode 0600)."""
        if self.secret_key:
            if len(self.secret_key.encode()) < MIN_SECRET_KEY_BYTES:
                raise RuntimeError(
                    f"AXOPS_SECRET_KEY is {len(self.secret_key.encode())} bytes long; it must be at least "
                    f"{MIN_SECRET_KEY_BYTES}. Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
            return self.secret_key
        if self.env == "production":
            raise RuntimeError("AXOPS_SECRET_KEY must be set when AXOPS_ENV=production")
        path = self.secret_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".secret_key.{secrets.token_hex(8)}")
            with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(secrets.token_urlsafe(48))
            try:
                os.link(draft, path)  # never seen half-written; a concurrent start keeps the first key
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        key = path.read_text().strip()
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            raise RuntimeError(
                f"The secret key in {path} is shorter than {MIN_SECRET_KEY_BYTES} bytes: "
                "delete the file to have a new one generated (this ends every session)."
            )
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
