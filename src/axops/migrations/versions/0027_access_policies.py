"""access policies (issue 18): who may call, deploy or download which model or route; external
transfer per team or API key; and which gateway providers are external.

Existing providers: a deployment's replicas and providers at a loopback, private or link-local
address (or a single-label / .local / .internal / .svc host name) are internal; the rest external.
New providers take the admin's flag, or the same address rule when none is given.

Revision ID: 0027
Revises: 0026
"""

import ipaddress
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_INTERNAL_SUFFIXES = (".local", ".internal", ".lan", ".svc", ".cluster.local", ".localdomain")


def _internal_address(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(_INTERNAL_SUFFIXES)
    return ip.is_private or ip.is_loopback or ip.is_link_local


def upgrade() -> None:
    op.create_table(
        "access_policies",
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource", sa.String(length=300), nullable=False),
        sa.Column("effect", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "subject_type IN ('team', 'role', 'everyone')", name=op.f("ck_access_policies_subject_type")
        ),
        sa.CheckConstraint("action IN ('call', 'deploy', 'download')", name=op.f("ck_access_policies_action")),
        sa.CheckConstraint("effect IN ('allow', 'deny')", name=op.f("ck_access_policies_effect")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_access_policies_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_policies")),
    )
    op.create_table(
        "transfer_policies",
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("external", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("external IN ('allowed', 'forbidden')", name=op.f("ck_transfer_policies_external")),
        sa.CheckConstraint("(team_id IS NULL) <> (api_key_id IS NULL)", name=op.f("ck_transfer_policies_one_subject")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_transfer_policies_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_transfer_policies_api_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_transfer_policies_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_policies")),
        sa.UniqueConstraint("team_id", name=op.f("uq_transfer_policies_team_id")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_transfer_policies_api_key_id")),
    )
    op.add_column(
        "gateway_providers", sa.Column("external", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    bind = op.get_bind()
    managed = {
        str(t.get("provider_id"))
        for (targets,) in bind.execute(sa.text("SELECT targets FROM gateway_routes WHERE managed_by IS NOT NULL"))
        for t in (targets or [])
    }
    for pid, base_url in bind.execute(sa.text("SELECT id, base_url FROM gateway_providers")).all():
        if str(pid) in managed or _internal_address(base_url):
            bind.execute(sa.text("UPDATE gateway_providers SET external = false WHERE id = :id"), {"id": pid})


def downgrade() -> None:
    op.drop_column("gateway_providers", "external")
    op.drop_table("transfer_policies")
    op.drop_table("access_policies")
