"""Lists one page at a time, newest first, with how many rows match in all: the one way every
search of the node (declarations, debts, mirror-control outcomes, transits, discrepancies) pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, func, select


def newest_first(
    conn: Connection, query: Select[Any], table: Table, conditions: Sequence[ColumnElement[bool]] = (), *, limit: int, offset: int = 0
) -> tuple[list[Any], int]:
    """The rows of ``query`` that meet ``conditions``, newest first (``table``'s id descending),
    ``limit`` of them from ``offset``; and how many meet them in all (counted on ``table``)."""
    where = and_(True, *conditions)
    total = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()
    rows = conn.execute(query.where(where).order_by(table.c.id.desc()).limit(limit).offset(offset)).mappings()
    return list(rows), int(total)
