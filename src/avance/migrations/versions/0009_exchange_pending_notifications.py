"""Exchange: notifications for an unknown movement held as pending; a notice compared with every
declaration of its bill

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transit_pending_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mrn', sa.String(length=18), nullable=False, comment='The movement this node does not know yet'),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='passage, arrival or discharge'),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False, comment='Node id of the partner that sent it'),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False, comment='The notification as received'),
    sa.Column('received_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False, comment='pending; applied or rejected once the movement is known'),
    sa.Column('settled_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('code', sa.String(length=80), nullable=True, comment='Why it was rejected (catalog key)'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transit_pending_notifications')),
    comment='Notifications for a movement not known yet: held, not facts, until its transit declaration arrives'
    )
    with op.batch_alter_table('transit_pending_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_transit_pending_notifications_mrn', ['mrn', 'state'], unique=False)

    op.create_table('export_notice_declarations',
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_export_notice_declarations_declaration_id_declarations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['export_notices.id'], name=op.f('fk_export_notice_declarations_notice_id_export_notices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('notice_id', 'declaration_id', name='pk_export_notice_declarations'),
    comment='The import declarations of its bill of lading a received notice was compared with, together'
    )
    with op.batch_alter_table('export_notice_declarations', schema=None) as batch_op:
        batch_op.create_index('ix_export_notice_declarations_declaration', ['declaration_id'], unique=False)
    # notices matched before: their one declaration
    op.execute(
        "INSERT INTO export_notice_declarations (notice_id, declaration_id) "
        "SELECT id, declaration_id FROM export_notices WHERE direction = 'received' AND declaration_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('export_notice_declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_export_notice_declarations_declaration')
    op.drop_table('export_notice_declarations')
    with op.batch_alter_table('transit_pending_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_transit_pending_notifications_mrn')
    op.drop_table('transit_pending_notifications')
