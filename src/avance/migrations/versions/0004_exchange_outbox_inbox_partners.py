"""exchange outbox inbox partners

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import avance.store.types
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exchange_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('raised_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False, comment='dead_letter or rejected'),
    sa.Column('partner', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('acknowledged_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_alerts'))
    )
    with op.batch_alter_table('exchange_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_alerts_open', ['acknowledged_at', 'raised_at'], unique=False)

    op.create_table('exchange_inbox',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('movement', sa.String(length=70), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('correlation', sa.String(length=100), nullable=True),
    sa.Column('created_at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='Signing time of the first copy received'),
    sa.Column('last_signed_at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='Signing time of the latest genuine copy'),
    sa.Column('received_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False, comment='applied, buffered or rejected'),
    sa.Column('applied_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('code', sa.String(length=80), nullable=True, comment='Why it was rejected (catalog key)'),
    sa.Column('reason', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='Why, in words: {fr, en}'),
    sa.Column('digest', sa.String(length=64), nullable=False, comment='SHA-256 of the content without created_at and signature'),
    sa.Column('duplicates', sa.Integer(), nullable=False, comment='Copies received again (retries)'),
    sa.Column('envelope', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='The signed envelope as received'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_exchange_inbox')),
    sa.UniqueConstraint('sender', 'movement', 'sequence', name='uq_exchange_inbox_stream')
    )
    with op.batch_alter_table('exchange_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_inbox_state', ['state', 'sender'], unique=False)

    op.create_table('exchange_inbox_cursors',
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('movement', sa.String(length=70), nullable=False),
    sa.Column('next_sequence', sa.Integer(), nullable=False, comment='Sequence of the next message to apply in this stream'),
    sa.Column('held', sa.Integer(), nullable=False, comment='Messages received ahead of their turn, not yet settled'),
    sa.PrimaryKeyConstraint('sender', 'movement', name='pk_exchange_inbox_cursors')
    )
    op.create_table('exchange_keys',
    sa.Column('kid', sa.String(length=64), nullable=False, comment='Key id: RFC 7638 JWK thumbprint of the public key'),
    sa.Column('public_key', sa.String(length=64), nullable=False, comment='Ed25519 public key, 32 raw bytes in base64url'),
    sa.Column('created_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='When a newer key replaced it (null: the current key)'),
    sa.Column('expires_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='End of the grace period of a retired key'),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_exchange_keys'))
    )
    op.create_table('exchange_outbox',
    sa.Column('id', sa.Integer(), nullable=False, comment='Enqueue order'),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('movement', sa.String(length=70), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True, comment='Order within (recipient, movement), from 1'),
    sa.Column('correlation', sa.String(length=100), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('enqueued_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pending_since', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment='Enqueued or requeued at: the dead-letter age counts from here'),
    sa.Column('state', sa.String(length=10), nullable=False, comment='pending, delivered, rejected or dead'),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='created_at of the last signed copy sent'),
    sa.Column('signature', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='Signature of the last signed copy sent'),
    sa.Column('outcome', sa.String(length=10), nullable=True, comment="Partner's answer: accepted, buffered, duplicate, rejected, retry"),
    sa.Column('outcome_code', sa.String(length=80), nullable=True),
    sa.Column('ack', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment="The partner's signed acknowledgement (proof of receipt)"),
    sa.Column('finished_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='When it was delivered, rejected or dead-lettered'),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_outbox')),
    sa.UniqueConstraint('message_id', name='uq_exchange_outbox_message_id'),
    sa.UniqueConstraint('recipient', 'movement', 'sequence', name='uq_exchange_outbox_stream')
    )
    with op.batch_alter_table('exchange_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_outbox_queue', ['recipient', 'state', 'id'], unique=False)

    op.create_table('exchange_partners',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('endpoint', sa.String(length=500), nullable=False, comment="Base URL of the partner's API"),
    sa.Column('added_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False, comment='Consecutive failed deliveries (backoff)'),
    sa.Column('next_attempt_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='No delivery before this (backoff)'),
    sa.Column('confirmed_kid', sa.String(length=64), nullable=True, comment='Newest own key the partner accepted'),
    sa.Column('probe_after', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='When to try the current own key again'),
    sa.Column('lease_owner', sa.String(length=100), nullable=True, comment='Sender process delivering to this partner'),
    sa.Column('lease_until', avance.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('node_id', name=op.f('pk_exchange_partners')),
    sa.UniqueConstraint('country', name='uq_exchange_partners_country')
    )
    op.create_table('exchange_reference_data',
    sa.Column('partner', sa.String(length=64), nullable=False, comment='Node id of the administration that published it'),
    sa.Column('dataset', sa.String(length=16), nullable=False, comment='offices or holidays'),
    sa.Column('code', sa.String(length=35), nullable=False, comment='Office code, or the date of a holiday'),
    sa.Column('record', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False, comment='How many updates were applied to this record'),
    sa.Column('updated_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False, comment='Last message that changed it'),
    sa.PrimaryKeyConstraint('partner', 'dataset', 'code', name='pk_exchange_reference_data')
    )
    op.create_table('exchange_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=True, comment='Claimed sender (not authenticated)'),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=40), nullable=True),
    sa.Column('code', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_rejections'))
    )
    with op.batch_alter_table('exchange_rejections', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_rejections_code', ['code', 'at'], unique=False)

    op.create_table('exchange_sequences',
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('movement', sa.String(length=70), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('recipient', 'movement', name='pk_exchange_sequences')
    )
    op.create_table('exchange_partner_keys',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False, comment='Ed25519 public key, 32 raw bytes in base64url'),
    sa.Column('added_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['exchange_partners.node_id'], name=op.f('fk_exchange_partner_keys_node_id_exchange_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('node_id', 'kid', name='pk_exchange_partner_keys')
    )


def downgrade() -> None:
    op.drop_table('exchange_partner_keys')
    op.drop_table('exchange_sequences')
    with op.batch_alter_table('exchange_rejections', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_rejections_code')

    op.drop_table('exchange_rejections')
    op.drop_table('exchange_reference_data')
    op.drop_table('exchange_partners')
    with op.batch_alter_table('exchange_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_outbox_queue')

    op.drop_table('exchange_outbox')
    op.drop_table('exchange_keys')
    op.drop_table('exchange_inbox_cursors')
    with op.batch_alter_table('exchange_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_inbox_state')

    op.drop_table('exchange_inbox')
    with op.batch_alter_table('exchange_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_alerts_open')

    op.drop_table('exchange_alerts')
