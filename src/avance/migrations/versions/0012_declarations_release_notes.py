"""Declarations: release notes (bon a enlever) with a unique number

Declarations released before this step get their note here, numbered in the order of their
release, per office and year.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa
import avance.store.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('release_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False, comment='BAE-<office>-<year>-<sequence>: what the gate checks'),
    sa.Column('declaration_id', sa.Integer(), nullable=False),
    sa.Column('office_code', sa.String(length=35), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False, comment='Year of the release (UTC)'),
    sa.Column('sequence', sa.Integer(), nullable=False, comment='1, 2, ... per office and year'),
    sa.Column('issued_at', avance.store.types.UTCDateTime(timezone=True), nullable=False, comment="The release's time"),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_release_notes_declaration_id_declarations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_notes')),
    sa.UniqueConstraint('declaration_id', name='uq_release_notes_declaration_id'),
    sa.UniqueConstraint('number', name='uq_release_notes_number'),
    sa.UniqueConstraint('office_code', 'year', 'sequence', name='uq_release_notes_office_year_sequence'),
    comment='Release notes (bons a enlever): one per released declaration, numbered at release'
    )
    _number_earlier_releases()


def _number_earlier_releases() -> None:
    """A note for each declaration already released, numbered by release time per office and year."""
    conn = op.get_bind()
    at_type = avance.store.types.UTCDateTime(timezone=True)
    rows = conn.execute(sa.text(
        "SELECT d.id, d.office_code, MIN(e.at) AS released_at FROM declarations d "
        "JOIN declaration_events e ON e.declaration_id = d.id AND e.kind = 'released' "
        "GROUP BY d.id, d.office_code ORDER BY MIN(e.at), d.id"
    ).columns(sa.column('id', sa.Integer), sa.column('office_code', sa.String), sa.column('released_at', at_type))).all()
    if not rows:
        return
    counters: dict[tuple[str, int], int] = {}
    notes = []
    for declaration_id, office_code, at in rows:
        if isinstance(at, str):  # SQLite gives an aggregate's time as text
            at = at_type.process_result_value(datetime.fromisoformat(at), conn.dialect)
        key = (office_code, at.year)
        counters[key] = counters.get(key, 0) + 1
        notes.append({
            'number': f"BAE-{office_code}-{at.year}-{counters[key]:06d}", 'declaration_id': declaration_id, 'office_code': office_code,
            'year': at.year, 'sequence': counters[key], 'issued_at': at,
        })
    table = sa.table(
        'release_notes', sa.column('number'), sa.column('declaration_id'), sa.column('office_code'), sa.column('year'), sa.column('sequence'),
        sa.column('issued_at', at_type),
    )
    op.bulk_insert(table, notes)


def downgrade() -> None:
    op.drop_table('release_notes')
