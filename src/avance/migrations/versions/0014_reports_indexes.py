"""Reports: indexes for the release-time figures and dashboards

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a declaration's milestones (first arrival, control, release; last payment) read by index alone
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.create_index('ix_declaration_events_declaration_kind_at', ['declaration_id', 'kind', 'at'], unique=False)
    # lanes and amounts per registration day without reading the whole table
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_date_lane', ['registration_date', 'lane'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_date_lane')
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.drop_index('ix_declaration_events_declaration_kind_at')
