"""Consignment write-off balances of bills of lading (one consignment, declared once)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import avance.store.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consignments',
    sa.Column('transport_document_reference', sa.String(length=35), nullable=False),
    sa.PrimaryKeyConstraint('transport_document_reference')
    )
    op.create_table('consignment_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False, comment='The declaration (a plain number: manifests do not know declarations)'),
    sa.Column('bill_id', sa.Integer(), nullable=True, comment='The bill written off; null until a cargo report lists it'),
    sa.Column('packages', sa.Integer(), nullable=False),
    sa.Column('gross_mass', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('hs_headings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='HS headings (4 digits) of the declared goods'),
    sa.Column('container_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('split', sa.Boolean(), nullable=False, comment='Declared as one part of a split consignment'),
    sa.Column('declared_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('given_back_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='The declaration was rejected: no longer written off'),
    sa.ForeignKeyConstraint(['bill_id'], ['bills_of_lading.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['transport_document_reference'], ['consignments.transport_document_reference']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consignment_lines', schema=None) as batch_op:
        batch_op.create_index('ix_consignment_lines_bill', ['bill_id'], unique=False)
        batch_op.create_index('ix_consignment_lines_declaration', ['declaration_id'], unique=False)
        batch_op.create_index('ix_consignment_lines_tdr', ['transport_document_reference'], unique=False)

    op.create_table('consignment_discrepancies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manifest_id', sa.Integer(), nullable=False),
    sa.Column('bill_id', sa.Integer(), nullable=False),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=False),
    sa.Column('packages_on_bill', sa.Integer(), nullable=False),
    sa.Column('packages_declared', sa.Integer(), nullable=False),
    sa.Column('gross_mass_on_bill', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('gross_mass_declared', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('declaration_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('recorded_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bill_id'], ['bills_of_lading.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consignment_discrepancies', schema=None) as batch_op:
        batch_op.create_index('ix_consignment_discrepancies_manifest', ['manifest_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consignment_discrepancies', schema=None) as batch_op:
        batch_op.drop_index('ix_consignment_discrepancies_manifest')
    op.drop_table('consignment_discrepancies')
    with op.batch_alter_table('consignment_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_consignment_lines_tdr')
        batch_op.drop_index('ix_consignment_lines_declaration')
        batch_op.drop_index('ix_consignment_lines_bill')
    op.drop_table('consignment_lines')
    op.drop_table('consignments')
