"""Security review (issue 12): gateway routes owned by a team, runtime tokens.

Routes get the team that owns them and who may call them (team: its members and Admins;
organization: anyone who may call models). Routes a deployment keeps take its team and its
model's visibility. Deployments get the token their replicas require from the gateway.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gateway_routes", sa.Column("team_id", sa.UUID(), nullable=True))
    op.add_column(
        "gateway_routes", sa.Column("visibility", sa.String(length=16), server_default="organization", nullable=False)
    )
    op.create_foreign_key(
        op.f("fk_gateway_routes_team_id_teams"), "gateway_routes", "teams", ["team_id"], ["id"], ondelete="RESTRICT"
    )
    op.create_check_constraint(
        op.f("ck_gateway_routes_visibility"),
        "gateway_routes",
        "visibility IN ('team', 'organization') AND (visibility = 'organization' OR team_id IS NOT NULL)",
    )
    op.execute("""
        UPDATE gateway_routes r SET team_id = d.team_id, visibility = m.visibility
        FROM deployments d JOIN registered_models m ON m.id = d.model_id
        WHERE r.managed_by = 'deployment:' || d.id::text
    """)
    op.add_column("deployments", sa.Column("serve_token", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("deployments", "serve_token")
    op.drop_constraint(op.f("ck_gateway_routes_visibility"), "gateway_routes", type_="check")
    op.drop_constraint(op.f("fk_gateway_routes_team_id_teams"), "gateway_routes", type_="foreignkey")
    op.drop_column("gateway_routes", "visibility")
    op.drop_column("gateway_routes", "team_id")
