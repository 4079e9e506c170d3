"""valuation references

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('valuation_references',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False, comment='hs6_origin, hs6 or hs4'),
    sa.Column('hs', sa.String(length=6), nullable=False, comment='HS6 or HS4 code'),
    sa.Column('origin', sa.String(length=2), nullable=True, comment='ISO 3166 alpha-2; null: all origins'),
    sa.Column('unit', sa.String(length=3), nullable=False, comment='UN/ECE Rec. 20 unit of the quantity (KGM: net mass)'),
    sa.Column('n', sa.Integer(), nullable=False, comment='Goods items behind the statistics'),
    sa.Column('median', avance.store.types.ExactDecimal(length=40), nullable=False, comment='Unit values in national currency per unit'),
    sa.Column('q10', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('q25', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('q75', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('q90', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('mad_log', sa.Float(), nullable=False, comment='Median absolute deviation of log(unit value), scaled by 1.4826'),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('min_count', sa.Integer(), nullable=False, comment='Observations a level needs to be used (build setting)'),
    sa.Column('k', sa.Float(), nullable=False, comment='Robust bounds: exp(median_log -/+ k * mad_log) (build setting)'),
    sa.Column('floor_q10', sa.Boolean(), nullable=False, comment='Lower bound floored at q10, upper capped at q90 (build setting)'),
    sa.Column('built_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_from', sa.Date(), nullable=True, comment='First registration date used; null: from the start'),
    sa.Column('window_to', sa.Date(), nullable=True, comment='Last registration date used; null: up to the build'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_valuation_references'))
    )
    with op.batch_alter_table('valuation_references', schema=None) as batch_op:
        batch_op.create_index('ix_valuation_references_hs_unit', ['hs', 'unit'], unique=False)

    op.create_table('valuation_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hs_prefix', sa.String(length=10), nullable=False, comment='4 to 10 digits: covers every longer code beneath it'),
    sa.Column('origin', sa.String(length=2), nullable=True, comment='null: every origin'),
    sa.Column('unit', sa.String(length=3), nullable=True, comment='null: whatever the unit of measure'),
    sa.Column('minimum', avance.store.types.ExactDecimal(length=40), nullable=True, comment='Lowest acceptable unit value, national currency'),
    sa.Column('maximum', avance.store.types.ExactDecimal(length=40), nullable=True, comment='Highest acceptable unit value, national currency'),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=70), nullable=False),
    sa.Column('updated_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_valuation_overrides'))
    )
    with op.batch_alter_table('valuation_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_valuation_overrides_hs_prefix', ['hs_prefix'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('valuation_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_valuation_overrides_hs_prefix')

    op.drop_table('valuation_overrides')
    with op.batch_alter_table('valuation_references', schema=None) as batch_op:
        batch_op.drop_index('ix_valuation_references_hs_unit')

    op.drop_table('valuation_references')
