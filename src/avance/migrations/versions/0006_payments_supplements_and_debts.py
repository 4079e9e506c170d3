"""Payments, supplementary assessments and debts (revenue integrity, what is due is paid)

A payment's receipt number is used once per node: ``declaration_events.receipt`` with a unique
index (receipts already stored are copied into it, the first use of each number only). What a
post-clearance audit finds owed is a row of ``debts``, beside the ``supplement`` event that
assessed it; audits recorded after release before this revision become debts too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from decimal import Decimal

from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt', sa.String(length=35), nullable=True, comment="A payment's receipt number: used once per node"))
    events = sa.table('declaration_events', sa.column('id', sa.Integer), sa.column('kind', sa.String), sa.column('data', sa.JSON), sa.column('receipt', sa.String))
    conn = op.get_bind()
    seen: set[str] = set()
    for row in conn.execute(sa.select(events.c.id, events.c.data).where(events.c.kind == 'paid').order_by(events.c.id)):
        data = row.data if isinstance(row.data, dict) else {}
        receipt = str(data.get('receipt') or '')[:35]
        if receipt and receipt not in seen:
            seen.add(receipt)
            conn.execute(events.update().where(events.c.id == row.id).values(receipt=receipt))
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.create_index('uq_declaration_events_receipt', ['receipt'], unique=True)

    op.create_table('debts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False, comment='The supplement event that assessed it'),
    sa.Column('importer_id', sa.String(length=35), nullable=False),
    sa.Column('importer_name', sa.String(length=70), nullable=False),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', avance.store.types.ExactDecimal(length=40), nullable=False),
    sa.Column('paid', avance.store.types.ExactDecimal(length=40), nullable=False, comment='Derived from the paid events; kept for filtering'),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('assessed_by', sa.String(length=70), nullable=True),
    sa.Column('assessed_at', avance.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', avance.store.types.UTCDateTime(timezone=True), nullable=True, comment='Derived from the paid events: when nothing was left owed'),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_debts_declaration_id_declarations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['declaration_events.id'], name=op.f('fk_debts_event_id_declaration_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_debts')),
    sa.UniqueConstraint('event_id', name='uq_debts_event')
    )
    with op.batch_alter_table('debts', schema=None) as batch_op:
        batch_op.create_index('ix_debts_importer', ['importer_id', 'settled_at'], unique=False)
        batch_op.create_index('ix_debts_office', ['office_code', 'settled_at'], unique=False)
    _backfill_debts(conn, events)


def _backfill_debts(conn: sa.Connection, events: sa.TableClause) -> None:
    """Findings of audits recorded after release before this revision become debts (their
    inspection event stands for the supplement: ``lifecycle.derive`` reads it so)."""
    declarations = sa.table(
        'declarations', sa.column('id', sa.Integer), sa.column('importer_id', sa.String), sa.column('importer_name', sa.String),
        sa.column('office_code', sa.String), sa.column('currency', sa.String),
    )
    debts = sa.table(
        'debts', sa.column('declaration_id', sa.Integer), sa.column('event_id', sa.Integer), sa.column('importer_id', sa.String),
        sa.column('importer_name', sa.String), sa.column('office_code', sa.String), sa.column('currency', sa.String),
        sa.column('amount', avance.store.types.ExactDecimal), sa.column('paid', avance.store.types.ExactDecimal), sa.column('reason', sa.Text),
        sa.column('source', sa.String), sa.column('assessed_by', sa.String), sa.column('assessed_at', avance.store.types.UTCDateTime),
    )
    timed = sa.table('declaration_events', sa.column('id', sa.Integer), sa.column('declaration_id', sa.Integer), sa.column('kind', sa.String),
                     sa.column('at', avance.store.types.UTCDateTime), sa.column('actor', sa.String), sa.column('data', sa.JSON))
    first_release = sa.select(timed.c.declaration_id, sa.func.min(timed.c.at)).where(timed.c.kind == 'released').group_by(timed.c.declaration_id)
    released = {declaration_id: at for declaration_id, at in conn.execute(first_release)}
    if not released:
        return
    found = conn.execute(
        sa.select(timed.c.id, timed.c.declaration_id, timed.c.at, timed.c.actor, timed.c.data).where(timed.c.kind == 'inspected', timed.c.declaration_id.in_(list(released)))
    ).all()
    for event_id, declaration_id, at, actor, data in found:
        data = data if isinstance(data, dict) else {}
        try:
            extra = Decimal(str(data.get('extra_duty') or '0'))
        except ArithmeticError:
            continue
        if extra <= 0 or at < released[declaration_id]:
            continue
        row = conn.execute(sa.select(declarations).where(declarations.c.id == declaration_id)).one()
        conn.execute(debts.insert().values(
            declaration_id=declaration_id, event_id=event_id, importer_id=row.importer_id, importer_name=row.importer_name,
            office_code=row.office_code, currency=row.currency, amount=extra, paid=Decimal(0),
            reason=data.get('findings') or ', '.join(data.get('fraud_kinds') or []) or None, source='inspection', assessed_by=actor, assessed_at=at,
        ))


def downgrade() -> None:
    with op.batch_alter_table('debts', schema=None) as batch_op:
        batch_op.drop_index('ix_debts_office')
        batch_op.drop_index('ix_debts_importer')
    op.drop_table('debts')
    with op.batch_alter_table('declaration_events', schema=None) as batch_op:
        batch_op.drop_index('uq_declaration_events_receipt')
        batch_op.drop_column('receipt')
