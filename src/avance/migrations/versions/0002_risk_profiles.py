"""risk profiles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_profiles',
    sa.Column('id', sa.String(length=64), nullable=False, comment='Stable code of the profile, e.g. P-TEXT-CN-LOW'),
    sa.Column('version', sa.Integer(), nullable=False, comment='Current version; incremented on every change'),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('lane', sa.String(length=8), nullable=True, comment='Lane the profile forces, if any'),
    sa.Column('score', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='The current version as saved (the rules.yaml form)'),
    sa.Column('author', sa.String(length=70), nullable=False, comment='Who saved the current version'),
    sa.Column('created_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_profiles'))
    )
    op.create_table('risk_profile_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False, comment='created, updated, deactivated or reactivated'),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('author', sa.String(length=70), nullable=False),
    sa.Column('saved_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['risk_profiles.id'], name=op.f('fk_risk_profile_versions_profile_id_risk_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_profile_versions')),
    sa.UniqueConstraint('profile_id', 'version', name='uq_risk_profile_versions_profile_version')
    )
    op.create_table('risk_profile_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.String(length=64), nullable=False),
    sa.Column('profile_version', sa.Integer(), nullable=False),
    sa.Column('lane', sa.String(length=8), nullable=False, comment='Lane the profile asked for (green when it only adds to the score)'),
    sa.Column('at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='When the declaration was assessed'),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_risk_profile_hits_declaration_id_declarations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_profile_hits')),
    sa.UniqueConstraint('declaration_id', 'profile_id', name='uq_risk_profile_hits_declaration_profile')
    )
    with op.batch_alter_table('risk_profile_hits', schema=None) as batch_op:
        batch_op.create_index('ix_risk_profile_hits_profile_at', ['profile_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_profile_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_profile_hits_profile_at')

    op.drop_table('risk_profile_hits')
    op.drop_table('risk_profile_versions')
    op.drop_table('risk_profiles')
