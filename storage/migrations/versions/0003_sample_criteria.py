"""per-criterion verdicts on sample results

Revision ID: 0003_sample_criteria
Revises: 0002_finetune_columns
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sample_criteria"
down_revision: str | None = "0002_finetune_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: results stored before criteria existed keep null, read as "no breakdown".
    with op.batch_alter_table("sample_results") as batch:
        batch.add_column(sa.Column("criteria", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sample_results") as batch:
        batch.drop_column("criteria")
