"""class summaries indexed by day: digests and trends read them a day range at a time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:50:00
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('class_reports', schema=None) as batch_op:
        batch_op.create_index('ix_class_reports_day', ['day', 'check'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('class_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_class_reports_day')
