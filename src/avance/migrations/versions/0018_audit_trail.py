"""The tamper-evident audit trail

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('audit_records',
    sa.Column('seq', _SEQ, autoincrement=False, nullable=False, comment='Position in the chain, from 1, without gaps'),
    sa.Column('at', sa.String(length=32), nullable=False, comment='When (UTC, ISO 8601 with microseconds, as hashed)'),
    sa.Column('actor', sa.String(length=120), nullable=False, comment="Who: the user's name, the operator's name or 'system'"),
    sa.Column('role', sa.String(length=16), nullable=True, comment="The actor's role, when known"),
    sa.Column('via', sa.String(length=120), nullable=True, comment='From where: token:<user id>, session, cli:<os user>, system'),
    sa.Column('address', sa.String(length=64), nullable=True, comment="The client's network address (API and pages)"),
    sa.Column('action', sa.String(length=64), nullable=False, comment='What was done, e.g. declaration.released, valuation_bound.removed'),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=120), nullable=False),
    sa.Column('before_digest', sa.String(length=64), nullable=True, comment='SHA-256 of the canonical JSON before the change'),
    sa.Column('after_digest', sa.String(length=64), nullable=True, comment='SHA-256 of the canonical JSON after the change'),
    sa.Column('before_doc', _JSON, nullable=True, comment='The document before, when small and not secret'),
    sa.Column('after_doc', _JSON, nullable=True, comment='The document after, when small and not secret'),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_records')),
    comment='The tamper-evident audit trail: append only, hash-chained (avance audit verify)'
    )
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.create_index('ix_audit_records_actor', ['actor', 'seq'], unique=False)
        batch_op.create_index('ix_audit_records_object', ['object_type', 'object_id', 'seq'], unique=False)
        batch_op.create_index('ix_audit_records_at', ['at'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False, comment='Always 1: one chain per node'),
    sa.Column('seq', _SEQ, nullable=False, comment="The last record's sequence number (0: none yet)"),
    sa.Column('hash', sa.Text(), nullable=False, comment="The last record's hash"),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head')),
    comment="The audit chain's head: locked by each appending transaction"
    )
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + '0' * 64 + "')")

    op.create_table('audit_signed_heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', _SEQ, nullable=False, comment="The chain's last sequence number when signed"),
    sa.Column('hash', sa.String(length=64), nullable=False, comment="That record's hash"),
    sa.Column('signed_at', sa.String(length=32), nullable=False, comment='When (UTC, ISO 8601, as signed)'),
    sa.Column('node_id', sa.String(length=64), nullable=False, comment='The node whose exchange key signed'),
    sa.Column('kid', sa.String(length=64), nullable=False, comment='The exchange key that signed'),
    sa.Column('signature', sa.String(length=100), nullable=False, comment="Ed25519 over the head's canonical JSON, base64url"),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_signed_heads')),
    comment='The audit chain\'s head, signed by the node\'s exchange key at intervals and on demand'
    )
    with op.batch_alter_table('audit_signed_heads', schema=None) as batch_op:
        batch_op.create_index('ix_audit_signed_heads_seq', ['seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_signed_heads', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_signed_heads_seq')
    op.drop_table('audit_signed_heads')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_records_at')
        batch_op.drop_index('ix_audit_records_object')
        batch_op.drop_index('ix_audit_records_actor')
    op.drop_table('audit_records')
