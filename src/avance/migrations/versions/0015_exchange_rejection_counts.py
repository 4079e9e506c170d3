"""Exchange: rejections counted per sender and reason, with a bounded sample

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exchange_rejection_counts',
    sa.Column('day', sa.Date(), nullable=False, comment='UTC day of the rejections'),
    sa.Column('partner', sa.String(length=64), nullable=False, comment='The registered partner they claimed to come from; empty for anyone else'),
    sa.Column('code', sa.String(length=80), nullable=False, comment='Why they were rejected (catalog key)'),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', 'partner', 'code', name='pk_exchange_rejection_counts'),
    comment='Messages rejected, counted per day, partner and reason'
    )
    with op.batch_alter_table('exchange_rejections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner', sa.String(length=64), server_default='', nullable=False, comment='The registered partner it claimed to come from; empty for anyone else'))
        batch_op.add_column(sa.Column('address', sa.String(length=45), nullable=True, comment='Source address of the request'))
        batch_op.create_index('ix_exchange_rejections_sample', ['partner', 'code', 'id'], unique=False)
    # the rows logged before: under their sender when it is a partner, and counted per day
    op.execute("UPDATE exchange_rejections SET partner = sender WHERE sender IN (SELECT node_id FROM exchange_partners)")
    day = "substr(at, 1, 10)" if op.get_bind().dialect.name == "sqlite" else "CAST(at AT TIME ZONE 'UTC' AS DATE)"
    op.execute(
        "INSERT INTO exchange_rejection_counts (day, partner, code, count, first_at, last_at) "
        f"SELECT {day}, partner, code, count(*), min(at), max(at) FROM exchange_rejections GROUP BY {day}, partner, code"
    )


def downgrade() -> None:
    with op.batch_alter_table('exchange_rejections', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_rejections_sample')
        batch_op.drop_column('address')
        batch_op.drop_column('partner')
    op.drop_table('exchange_rejection_counts')
