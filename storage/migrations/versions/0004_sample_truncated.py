"""sample results: whether the answer was cut at the output-token cap

Revision ID: 0004_sample_truncated
Revises: 0003_sample_criteria
Create Date: 2026-12-01

A run now caps every answer (a suite that sets no output-token limit gets a default), so
a grade can judge part of an answer; the summary says how many were cut, per model.
Rows stored before this knew nothing of it: false.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sample_truncated"
down_revision: str | None = "0003_sample_criteria"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sample_results", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("truncated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sample_results", schema=None) as batch_op:
        batch_op.drop_column("truncated")
