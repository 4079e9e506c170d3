"""Second-factor secrets sealed: room for the sealed form

A secret is now stored sealed with the node's key (``avance.auth.totp.Sealer``), longer than the
base32 secret itself. Secrets stored before are sealed the next time their user gives a code
(``avance.auth.sessions.give_code``): the key is a file of the node, not something a migration
holds.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=128), existing_nullable=True,
                              comment="Secret of the user's second factor (TOTP), sealed with the node's key (auth.totp.Sealer); never shown after enrolment",
                              existing_comment="Base32 secret of the user's second factor (TOTP); never shown after enrolment")
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.alter_column('totp_setup_secret', existing_type=sa.String(length=64), type_=sa.String(length=128), existing_nullable=True,
                              comment='The secret offered on the enrolment step, sealed, until its first code is given',
                              existing_comment='The secret offered on the enrolment step, until its first code is given')


def downgrade() -> None:
    # a sealed secret does not fit the old column, and the old code could not open it: the users
    # enrol again (their sessions waiting for a code end)
    op.execute(sa.text("UPDATE users SET totp_secret = NULL, totp_last_step = NULL WHERE totp_secret LIKE 'sealed1:%'"))
    op.execute(sa.text('DELETE FROM sessions WHERE step IS NOT NULL'))
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.alter_column('totp_setup_secret', existing_type=sa.String(length=128), type_=sa.String(length=64), existing_nullable=True,
                              comment='The secret offered on the enrolment step, until its first code is given',
                              existing_comment='The secret offered on the enrolment step, sealed, until its first code is given')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=128), type_=sa.String(length=64), existing_nullable=True,
                              comment="Base32 secret of the user's second factor (TOTP); never shown after enrolment",
                              existing_comment="Secret of the user's second factor (TOTP), sealed with the node's key (auth.totp.Sealer); never shown after enrolment")
