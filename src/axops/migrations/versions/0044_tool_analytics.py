"""tool analytics: a tool's price per call (`tools.cost_per_call`) and, on every call, the model cost
attributed to it (`tool_calls.model_cost`: the asking model step's cost split evenly among the calls
of its answer) (issue 21).

Revision ID: 0044
Revises: 0043
"""

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tools", sa.Column("cost_per_call", sa.Float(), nullable=False, server_default=sa.text("0")))
    op.create_check_constraint(op.f("ck_tools_cost_per_call"), "tools", "cost_per_call >= 0")
    op.add_column("tool_calls", sa.Column("model_cost", sa.Float(), nullable=False, server_default=sa.text("0")))
    op.create_index("ix_tool_calls_agent_run_id", "tool_calls", ["agent_run_id"])


def downgrade() -> None:
    op.drop_index("ix_tool_calls_agent_run_id", table_name="tool_calls")
    op.drop_column("tool_calls", "model_cost")
    op.drop_constraint(op.f("ck_tools_cost_per_call"), "tools", type_="check")
    op.drop_column("tools", "cost_per_call")
