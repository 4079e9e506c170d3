"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exchange_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('rate', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('loaded_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_rates')),
    sa.UniqueConstraint('currency', 'valid_from', name='uq_exchange_rates_currency_valid_from')
    )
    op.create_table('node_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_node_settings'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=70), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party_id', sa.String(length=35), nullable=True, comment='TIN of the declarant or carrier a declarant user acts for'),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_users_token_hash'))
    )
    op.create_table('declarations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lrn', sa.String(length=35), nullable=False),
    sa.Column('declarant_id', sa.String(length=35), nullable=False),
    sa.Column('importer_id', sa.String(length=35), nullable=False),
    sa.Column('importer_name', sa.String(length=70), nullable=False),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.Column('procedure_code', sa.String(length=4), nullable=False),
    sa.Column('transport_mode_code', sa.SmallInteger(), nullable=False),
    sa.Column('estimated_arrival', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('registration_date', sa.Date(), nullable=False, comment='Date of registration: rates and tariffs in force on it apply'),
    sa.Column('lodged_at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='System time of lodging'),
    sa.Column('manifest_reference', sa.String(length=35), nullable=True),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=True),
    sa.Column('invoice_currency', sa.String(length=3), nullable=False),
    sa.Column('invoice_amount', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False, comment='National currency of the amounts below'),
    sa.Column('customs_value', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('duty_total', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('duties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='Duty breakdown (lines per code)'),
    sa.Column('lane', sa.String(length=8), nullable=False),
    sa.Column('score', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('assessor', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False, comment='Derived from the events; kept for filtering'),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='The declaration exactly as lodged'),
    sa.Column('lodged_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['lodged_by'], ['users.id'], name=op.f('fk_declarations_lodged_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declarations')),
    sa.UniqueConstraint('declarant_id', 'lrn', name='uq_declarations_declarant_lrn')
    )
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_importer', ['importer_id'], unique=False)
        batch_op.create_index('ix_declarations_lane', ['lane'], unique=False)
        batch_op.create_index('ix_declarations_manifest', ['manifest_reference'], unique=False)
        batch_op.create_index('ix_declarations_office_date', ['office_code', 'registration_date'], unique=False)
        batch_op.create_index('ix_declarations_status', ['status'], unique=False)

    op.create_table('manifests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=35), nullable=False),
    sa.Column('carrier_id', sa.String(length=35), nullable=False),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.Column('transport_mode_code', sa.SmallInteger(), nullable=False),
    sa.Column('voyage_number', sa.String(length=35), nullable=False),
    sa.Column('conveyance_id', sa.String(length=35), nullable=True),
    sa.Column('port_of_loading', sa.String(length=5), nullable=False),
    sa.Column('port_of_discharge', sa.String(length=5), nullable=False),
    sa.Column('estimated_arrival', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='The cargo report as lodged'),
    sa.Column('lodged_by', sa.Integer(), nullable=True),
    sa.Column('lodged_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lodged_by'], ['users.id'], name=op.f('fk_manifests_lodged_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifests')),
    sa.UniqueConstraint('reference', name='uq_manifests_reference')
    )
    op.create_table('bills_of_lading',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manifest_id', sa.Integer(), nullable=False),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=False),
    sa.Column('consignee_id', sa.String(length=35), nullable=True),
    sa.Column('consignee_name', sa.String(length=70), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('package_quantity', sa.Integer(), nullable=False),
    sa.Column('gross_mass', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('container_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], name=op.f('fk_bills_of_lading_manifest_id_manifests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bills_of_lading')),
    sa.UniqueConstraint('manifest_id', 'transport_document_reference', name='uq_bills_of_lading_manifest_tdr')
    )
    with op.batch_alter_table('bills_of_lading', schema=None) as batch_op:
        batch_op.create_index('ix_bills_of_lading_tdr', ['transport_document_reference'], unique=False)

    op.create_table('declaration_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=70), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_declaration_events_declaration_id_declarations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_events'))
    )
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.create_index('ix_declaration_events_declaration', ['declaration_id', 'id'], unique=False)
        batch_op.create_index('ix_declaration_events_kind_at', ['kind', 'at'], unique=False)

    op.create_table('goods_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.SmallInteger(), nullable=False),
    sa.Column('hs_code', sa.String(length=10), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('origin_country', sa.String(length=2), nullable=False),
    sa.Column('procedure_code', sa.String(length=4), nullable=False),
    sa.Column('duty_regime', sa.String(length=10), nullable=False),
    sa.Column('net_mass', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('gross_mass', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('supplementary_quantity', avance.store.types.ExactDecimal(length=40), nullable=True),
    sa.Column('invoice_amount', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('customs_value', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('fob_value', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('duty_total', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('duties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_goods_items_declaration_id_declarations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goods_items')),
    sa.UniqueConstraint('declaration_id', 'sequence', name='uq_goods_items_declaration_sequence')
    )
    with op.batch_alter_table('goods_items', schema=None) as batch_op:
        batch_op.create_index('ix_goods_items_hs_origin', ['hs_code', 'origin_country'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('goods_items', schema=None) as batch_op:
        batch_op.drop_index('ix_goods_items_hs_origin')

    op.drop_table('goods_items')
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.drop_index('ix_declaration_events_kind_at')
        batch_op.drop_index('ix_declaration_events_declaration')

    op.drop_table('declaration_events')
    with op.batch_alter_table('bills_of_lading', schema=None) as batch_op:
        batch_op.drop_index('ix_bills_of_lading_tdr')

    op.drop_table('bills_of_lading')
    op.drop_table('manifests')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_status')
        batch_op.drop_index('ix_declarations_office_date')
        batch_op.drop_index('ix_declarations_manifest')
        batch_op.drop_index('ix_declarations_lane')
        batch_op.drop_index('ix_declarations_importer')

    op.drop_table('declarations')
    op.drop_table('users')
    op.drop_table('node_settings')
    op.drop_table('exchange_rates')
