"""Users: passwords (Argon2), server-side sessions, office attachment

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=200), nullable=True, comment="Argon2id hash of the user's password; none for programs"))
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), server_default='0', nullable=False, comment='Wrong passwords in a row'))
        batch_op.add_column(sa.Column('sign_in_blocked_until', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='After five wrong passwords in a row, no sign-in before this time'))

    op.create_table('user_offices',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_offices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'office_code', name=op.f('pk_user_offices')),
    comment="The customs offices a user works at: an officer's queue is theirs"
    )
    op.create_table('sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False, comment="SHA-256 of the session cookie's random value"),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False, comment='The token every form of the session must carry'),
    sa.Column('created_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_sessions')),
    comment='Signed-in browser sessions, kept on the server; ended by sign-out, idle time, revocation or a new password'
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_user', ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_user')
    op.drop_table('sessions')
    op.drop_table('user_offices')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('sign_in_blocked_until')
        batch_op.drop_column('failed_sign_ins')
        batch_op.drop_column('password_hash')
