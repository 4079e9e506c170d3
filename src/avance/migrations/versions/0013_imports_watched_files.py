"""Imports: the ledger of files taken from a watched drop folder

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watched_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False, comment="SHA-256 of the file's content, hexadecimal"),
    sa.Column('name', sa.String(length=255), nullable=False, comment="The file's name in the drop folder"),
    sa.Column('folder', sa.String(length=1024), nullable=False, comment='The drop folder, as the watcher was given it'),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False, comment='claimed while imported; done or rejected once settled'),
    sa.Column('claimed_by', sa.String(length=128), nullable=False, comment='The watcher that took it (host, process, start)'),
    sa.Column('claimed_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted', sa.Integer(), nullable=True, comment='Documents stored (or already stored by an earlier run)'),
    sa.Column('rejected', sa.Integer(), nullable=True, comment='Documents refused, with their reasons in the errors file'),
    sa.Column('detail', sa.Text(), nullable=True, comment='Why the file was rejected, when it was as a whole'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watched_files')),
    sa.UniqueConstraint('digest', 'name', name='uq_watched_files_digest_name'),
    comment='Files taken from a watched drop folder: one row per content and name, claimed in a transaction'
    )


def downgrade() -> None:
    op.drop_table('watched_files')
