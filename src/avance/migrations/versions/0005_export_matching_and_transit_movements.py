"""export matching and transit movements

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transit_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mrn', sa.String(length=18), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='overdue: the time limit passed without arrival'),
    sa.Column('raised_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transit_alerts')),
    sa.UniqueConstraint('mrn', 'kind', name='uq_transit_alerts_mrn_kind')
    )
    op.create_table('transit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mrn', sa.String(length=18), nullable=False, comment='Not a foreign key: a notification may arrive before the declaration it follows'),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='registered, passage, arrival, discharge'),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='When it happened at the office'),
    sa.Column('recorded_at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='When this node learnt it'),
    sa.Column('source_node', sa.String(length=64), nullable=True, comment='Node that recorded it (null: this node)'),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('actor', sa.String(length=70), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transit_events')),
    sa.UniqueConstraint('mrn', 'kind', 'office_code', name='uq_transit_events_mrn_kind_office')
    )
    with op.batch_alter_table('transit_events', schema=None) as batch_op:
        batch_op.create_index('ix_transit_events_mrn', ['mrn', 'id'], unique=False)

    op.create_table('transit_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mrn', sa.String(length=18), nullable=False, comment='Movement reference number, the same on every node'),
    sa.Column('role', sa.String(length=12), nullable=False, comment="This node's part in the movement: departure, en_route or destination"),
    sa.Column('lrn', sa.String(length=35), nullable=False, comment="The principal's local reference"),
    sa.Column('departure_node', sa.String(length=64), nullable=False, comment="Node id of the office of departure's administration"),
    sa.Column('departure_office', sa.String(length=35), nullable=False),
    sa.Column('departure_country', sa.String(length=2), nullable=False),
    sa.Column('destination_office', sa.String(length=35), nullable=False),
    sa.Column('destination_country', sa.String(length=2), nullable=False),
    sa.Column('itinerary', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False, comment='Offices of passage in route order'),
    sa.Column('principal_id', sa.String(length=35), nullable=False),
    sa.Column('principal_name', sa.String(length=70), nullable=False),
    sa.Column('guarantee_reference', sa.String(length=35), nullable=False),
    sa.Column('guarantee_amount', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('guarantee_currency', sa.String(length=3), nullable=False),
    sa.Column('registered_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('time_limit', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='Latest arrival at the office of destination'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='registered, in_transit, arrived, discharged: derived from the events'),
    sa.Column('status_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('guarantee_released_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False, comment='The transit-declaration payload'),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_transit_movements_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transit_movements')),
    sa.UniqueConstraint('departure_country', 'principal_id', 'lrn', name='uq_transit_movements_principal_lrn'),
    sa.UniqueConstraint('mrn', name='uq_transit_movements_mrn')
    )
    with op.batch_alter_table('transit_movements', schema=None) as batch_op:
        batch_op.create_index('ix_transit_movements_guarantee', ['principal_id', 'guarantee_reference'], unique=False)
        batch_op.create_index('ix_transit_movements_status', ['status', 'time_limit'], unique=False)

    op.create_table('export_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False, comment='received: this node imports and matches; sent: this node exported'),
    sa.Column('partner', sa.String(length=64), nullable=False, comment='Node id of the other administration'),
    sa.Column('message_id', sa.String(length=36), nullable=True, comment='Exchange message that carried (or will carry) the notice'),
    sa.Column('export_reference', sa.String(length=35), nullable=False, comment='Export declaration number at the exporting administration'),
    sa.Column('exporting_country', sa.String(length=2), nullable=False),
    sa.Column('destination_country', sa.String(length=2), nullable=False),
    sa.Column('ucr', sa.String(length=35), nullable=True),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=True),
    sa.Column('consignee_id', sa.String(length=35), nullable=True),
    sa.Column('export_date', sa.Date(), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False, comment='The export-declaration-notice payload'),
    sa.Column('at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='When the notice was received or sent'),
    sa.Column('outcome', sa.String(length=16), nullable=False, comment='pending, conforme, non_conforme or non_retrouvee'),
    sa.Column('declaration_id', sa.Integer(), nullable=True, comment='Matched import declaration (received notices)'),
    sa.Column('import_reference', sa.String(length=35), nullable=True, comment="Matched import declaration's reference at the importing administration"),
    sa.Column('currency', sa.String(length=3), nullable=True, comment="Importing country's currency of the amounts below"),
    sa.Column('value_gap_percent', avance.store.types.ExactDecimal(length=40), nullable=True),
    sa.Column('revenue_gap', avance.store.types.ExactDecimal(length=40), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True, comment='The match-result payload (gaps, values, tolerances)'),
    sa.Column('decided_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_export_notices_declaration_id_declarations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_notices')),
    sa.UniqueConstraint('direction', 'exporting_country', 'export_reference', name='uq_export_notices_direction_reference')
    )
    with op.batch_alter_table('export_notices', schema=None) as batch_op:
        batch_op.create_index('ix_export_notices_declaration', ['declaration_id'], unique=False)
        batch_op.create_index('ix_export_notices_outcome', ['direction', 'outcome', 'export_date'], unique=False)
        batch_op.create_index('ix_export_notices_tdr', ['transport_document_reference'], unique=False)
        batch_op.create_index('ix_export_notices_ucr', ['ucr'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('export_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_export_notices_ucr')
        batch_op.drop_index('ix_export_notices_tdr')
        batch_op.drop_index('ix_export_notices_outcome')
        batch_op.drop_index('ix_export_notices_declaration')

    op.drop_table('export_notices')
    with op.batch_alter_table('transit_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_transit_movements_status')
        batch_op.drop_index('ix_transit_movements_guarantee')

    op.drop_table('transit_movements')
    with op.batch_alter_table('transit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_transit_events_mrn')

    op.drop_table('transit_events')
    op.drop_table('transit_alerts')
