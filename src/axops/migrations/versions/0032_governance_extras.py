"""Approvals for a canary's promotion and for scaling a production deployment up (issue 18): two more
request kinds, and deployments as a request's target.

Revision ID: 0032
Revises: 0031
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

_T = "approval_requests"


def _constraints(kinds: str, targets: str) -> None:
    op.drop_constraint(op.f("ck_approval_requests_kind"), _T, type_="check")
    op.drop_constraint(op.f("ck_approval_requests_target_type"), _T, type_="check")
    op.create_check_constraint(op.f("ck_approval_requests_kind"), _T, f"kind IN {kinds}")
    op.create_check_constraint(op.f("ck_approval_requests_target_type"), _T, f"target_type IN {targets}")


def upgrade() -> None:
    _constraints("('promote', 'deploy', 'access', 'canary', 'scale')", "('model', 'route', 'deployment')")


def downgrade() -> None:
    op.execute("DELETE FROM approval_requests WHERE kind IN ('canary', 'scale') OR target_type = 'deployment'")
    _constraints("('promote', 'deploy', 'access')", "('model', 'route')")
