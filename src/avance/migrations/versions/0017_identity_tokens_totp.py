"""Identity: token expiry and rotation, last use, second factor

Tokens issued before this upgrade get an expiry: 90 days after they were issued, but never
sooner than 30 days after the upgrade, so that no program stops working at the upgrade itself
and every old token has to be rotated within a month at most (``avance users rotate-token``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

TOKEN_DAYS = 90
"""The default lifetime of a token (AVANCE_TOKEN_DAYS) when this step was written."""
GRACE_DAYS = 30
"""The least time an old token keeps working after the upgrade."""


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_expires_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='The token stops working at this time (AVANCE_TOKEN_DAYS after it was issued)'))
        batch_op.add_column(sa.Column('token_last_used_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='Last call with the token, to the minute (written at most once a minute)'))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True, comment="Base32 secret of the user's second factor (TOTP); never shown after enrolment"))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True, comment='Time step of the last code accepted: a code is used once'))

    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('created_at', avance.store.types.UTCDateTime(timezone=True)), sa.column('token_expires_at', avance.store.types.UTCDateTime(timezone=True)))
    conn = op.get_bind()
    floor = datetime.now(timezone.utc) + timedelta(days=GRACE_DAYS)
    for user_id, created_at in conn.execute(sa.select(users.c.id, users.c.created_at)).all():
        conn.execute(sa.update(users).where(users.c.id == user_id).values(token_expires_at=max(created_at + timedelta(days=TOKEN_DAYS), floor)))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('token_expires_at', existing_type=avance.store.types.UTCDateTime(timezone=True), nullable=False, existing_comment='The token stops working at this time (AVANCE_TOKEN_DAYS after it was issued)')

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step', sa.String(length=16), nullable=True, comment="A half-open session: 'totp' waits for the second factor's code, 'totp_setup' for its enrolment; none: open"))
        batch_op.add_column(sa.Column('totp_setup_secret', sa.String(length=64), nullable=True, comment='The secret offered on the enrolment step, until its first code is given'))


def downgrade() -> None:
    op.execute(sa.text('DELETE FROM sessions WHERE step IS NOT NULL'))  # a half-open session must not become an open one
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('totp_setup_secret')
        batch_op.drop_column('step')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_secret')
        batch_op.drop_column('token_last_used_at')
        batch_op.drop_column('token_expires_at')
