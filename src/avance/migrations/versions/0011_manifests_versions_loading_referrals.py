"""Cargo reports: amendments (versions), place and date of loading, pre-loading referrals

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('manifests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False, comment='The latest version: 1, then one more for each amendment'))
        batch_op.add_column(sa.Column('amended_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='When the latest amendment was lodged'))
        batch_op.add_column(sa.Column('place_of_loading', sa.String(length=5), nullable=True, comment='UN/LOCODE, for a report filed before loading'))
        batch_op.add_column(sa.Column('loading_date', avance.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('loaded', sa.Boolean(), server_default=sa.true(), nullable=False, comment='False while a report filed before loading says the goods are not on board'))

    with op.batch_alter_table('consignment_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('importer_id', sa.String(length=35), nullable=True, comment="The declaration's importer, compared with the bill's consignee"))

    op.create_table('manifest_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manifest_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', JSON, nullable=False, comment='The cargo report as lodged in this version'),
    sa.Column('changes', JSON, nullable=True, comment='What this version changed from the one before (none for the first)'),
    sa.Column('lodged_by', sa.Integer(), nullable=True),
    sa.Column('lodged_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], name=op.f('fk_manifest_versions_manifest_id_manifests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lodged_by'], ['users.id'], name=op.f('fk_manifest_versions_lodged_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manifest_versions')),
    sa.UniqueConstraint('manifest_id', 'version', name='uq_manifest_versions_manifest_version'),
    comment='Every version of a cargo report: the first lodging and each amendment, with what it changed'
    )
    # reports lodged before: their one version
    op.execute(
        "INSERT INTO manifest_versions (manifest_id, version, document, changes, lodged_by, lodged_at) "
        "SELECT id, 1, document, NULL, lodged_by, lodged_at FROM manifests"
    )

    op.create_table('cargo_referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manifest_id', sa.Integer(), nullable=False),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=False, comment='The bill referred (kept if an amendment removes it)'),
    sa.Column('carrier_id', sa.String(length=35), nullable=False, comment='The carrier of the cargo report: who sees and answers the referral'),
    sa.Column('kind', sa.String(length=24), nullable=False, comment='request_for_information, request_for_screening or do_not_load'),
    sa.Column('state', sa.String(length=10), nullable=False, comment='open, answered or lifted (expired is an open one past its deadline)'),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('deadline', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('referred_by', sa.String(length=70), nullable=False),
    sa.Column('referred_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', JSON, nullable=True, comment="The carrier's answer: information, screening result, note"),
    sa.Column('answered_by', sa.String(length=70), nullable=True),
    sa.Column('answered_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.String(length=70), nullable=True),
    sa.Column('lifted_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lift_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], name=op.f('fk_cargo_referrals_manifest_id_manifests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cargo_referrals')),
    comment='Pre-loading referrals of bills of lading: requests for information or screening, do-not-load'
    )
    with op.batch_alter_table('cargo_referrals', schema=None) as batch_op:
        batch_op.create_index('ix_cargo_referrals_tdr', ['transport_document_reference', 'kind', 'state'], unique=False)
        batch_op.create_index('ix_cargo_referrals_carrier', ['carrier_id'], unique=False)
        batch_op.create_index('ix_cargo_referrals_manifest', ['manifest_id'], unique=False)

    op.create_table('write_off_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manifest_id', sa.Integer(), nullable=False),
    sa.Column('transport_document_reference', sa.String(length=35), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False, comment='not_declared, over_declared, under_declared or consignee_mismatch'),
    sa.Column('raised_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', JSON, nullable=False, comment='The figures when it was raised'),
    sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], name=op.f('fk_write_off_alerts_manifest_id_manifests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_write_off_alerts')),
    sa.UniqueConstraint('manifest_id', 'transport_document_reference', 'kind', name='uq_write_off_alerts_bill_kind'),
    comment='Write-off findings raised as alerts, once per bill and kind'
    )


def downgrade() -> None:
    op.drop_table('write_off_alerts')
    with op.batch_alter_table('cargo_referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_cargo_referrals_manifest')
        batch_op.drop_index('ix_cargo_referrals_carrier')
        batch_op.drop_index('ix_cargo_referrals_tdr')
    op.drop_table('cargo_referrals')
    op.drop_table('manifest_versions')
    with op.batch_alter_table('consignment_lines', schema=None) as batch_op:
        batch_op.drop_column('importer_id')
    with op.batch_alter_table('manifests', schema=None) as batch_op:
        batch_op.drop_column('loaded')
        batch_op.drop_column('loading_date')
        batch_op.drop_column('place_of_loading')
        batch_op.drop_column('amended_at')
        batch_op.drop_column('version')
