"""The selection policy's running quotas, shared by every process of a node: one row per office
and quota period (``lane_quotas``), read and counted in the lodging's own transaction.

A streaming decision (``StreamingSelector.decide``) made inside a write transaction
(``avance.store.engine.write``: every lodging through the API) holds its office's row until that
transaction ends (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), decides
against what the whole node has counted, and adds its lane to the row. Two API processes, or two
hosts, never both take the last red place of an office, and a lodging that fails afterwards
takes its count with it when its transaction rolls back.

Lodgings decided outside a write transaction (a bulk import's worker processes, a batch
selection) are counted by ``CountLanes``, the first step after lodging, in the transaction that
stores them. The row of a period is created the first time it is needed, from the declarations
already stored (a node upgraded in the middle of a period, or a new period): the row always says
how many declarations of the office's period went to each lane when they were assessed.

Which connection is "the lodging's own transaction" is known from the engine's events (as the
exchange worker knows which transaction queued a message): a write transaction begun in this
thread, not yet ended.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from avance.declarations.assessment import Lane
from avance.declarations.extensions import Lodged
from avance.declarations.tables import declarations
from avance.risk.policy.draw import SEPARATOR
from avance.risk.policy.model import QuotaState, period_start
from avance.risk.policy.tables import lane_quotas
from avance.store.engine import WRITE

COUNTED = (Lane.RED, Lane.YELLOW, Lane.BLUE)
IN_CHUNK = 5000  # ids per IN (...) list: SQLite's limit on bound parameters


def period_end(start: date, period: str) -> date:
    """The first day after the quota period that begins on ``start``."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def candidate_key(declarant: str, lrn: str) -> str:
    """The key a declaration's candidate is drawn and counted with (``Candidate.key``)."""
    return SEPARATOR.join((declarant, lrn))


@dataclass(eq=False)
class _Transaction:
    conn: Connection
    counted: set[str] = field(default_factory=set)


class SharedQuotas:
    """The node's quota rows, and the write transactions in progress in each thread of this
    process. One per node and engine: it listens to the engine's transactions from its creation
    until ``close``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        event.listen(engine, "begin", self._begun)
        event.listen(engine, "commit", self._ended)
        event.listen(engine, "rollback", self._ended)

    def close(self) -> None:
        for name, fn in (("begin", self._begun), ("commit", self._ended), ("rollback", self._ended)):
            try:
                event.remove(self.engine, name, fn)
            except Exception:  # already removed
                pass

    # -- the write transactions of this thread

    def _open(self) -> list[_Transaction]:
        stack: list[_Transaction] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _begun(self, conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE):
            self._open().append(_Transaction(conn))

    def _ended(self, conn: Connection) -> None:
        stack = self._open()
        stack[:] = [tx for tx in stack if tx.conn is not conn]

    def _current(self) -> _Transaction | None:
        stack = self._open()
        while stack and (stack[-1].conn.closed or not stack[-1].conn.in_transaction()):
            stack.pop()
        return stack[-1] if stack else None

    def counted(self, conn: Connection) -> set[str]:
        """The candidates counted by decisions in ``conn``'s transaction (empty when none)."""
        for tx in self._open():
            if tx.conn is conn:
                return tx.counted
        return set()

    # -- the policy's side (avance.risk.policy.model.QuotaBook)

    def hold(self, office: str, period: str, start: date) -> tuple[int, int, int, int] | None:
        """The office's counters (lodged, red, yellow, blue) for the period, held until the
        current write transaction of this thread ends; None outside one."""
        tx = self._current()
        if tx is None:
            return None
        ensure_row(tx.conn, office, period, start)
        row = tx.conn.execute(
            select(lane_quotas.c.lodged, lane_quotas.c.red, lane_quotas.c.yellow, lane_quotas.c.blue).where(*_row(office, period, start)).with_for_update()
        ).one()
        return int(row.lodged), int(row.red), int(row.yellow), int(row.blue)

    def add(self, office: str, period: str, start: date, key: str, lane: Lane) -> None:
        """Count one lodging in ``lane`` on the row ``hold`` gave, in the same transaction."""
        tx = self._current()
        if tx is None:
            return
        _count(tx.conn, office, period, start, 1, Counter({lane: 1}))
        tx.counted.add(key)

    def snapshot(self, period: str) -> list[QuotaState]:
        """Every office's counters of its latest two periods, as the whole node counted them."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(lane_quotas).where(lane_quotas.c.period == period).order_by(lane_quotas.c.office, lane_quotas.c.period_start.desc())).all()
        latest: dict[str, list[Any]] = {}
        for row in rows:
            kept = latest.setdefault(row.office, [])
            if len(kept) < 2:
                kept.append(row)
        return [QuotaState(r.office, r.period_start, r.lodged, r.red, r.yellow, r.blue) for office in sorted(latest) for r in reversed(latest[office])]


def _row(office: str, period: str, start: date) -> tuple[Any, ...]:
    return (lane_quotas.c.office == office, lane_quotas.c.period == period, lane_quotas.c.period_start == start)


def ensure_row(conn: Connection, office: str, period: str, start: date) -> bool:
    """Create the office's row for the period from the declarations already stored, unless it
    exists; True when this call created it (its counts then include this transaction's own)."""
    if conn.execute(select(lane_quotas.c.lodged).where(*_row(office, period, start))).first() is not None:
        return False
    lanes = dict(
        conn.execute(
            select(declarations.c.lane, func.count())
            .where(declarations.c.office_code == office, declarations.c.registration_date >= start, declarations.c.registration_date < period_end(start, period))
            .group_by(declarations.c.lane)
        ).all()
    )
    values = {"office": office, "period": period, "period_start": start, "lodged": int(sum(lanes.values()))}
    values.update({lane.value: int(lanes.get(lane.value, 0)) for lane in COUNTED})
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return bool(conn.execute(insert(lane_quotas).values(**values).on_conflict_do_nothing()).rowcount)


def _count(conn: Connection, office: str, period: str, start: date, lodged: int, lanes: Counter[Lane]) -> None:
    changes: dict[str, Any] = {"lodged": lane_quotas.c.lodged + lodged}
    for lane in COUNTED:
        if lanes.get(lane):
            changes[lane.value] = lane_quotas.c[lane.value] + lanes[lane]
    conn.execute(update(lane_quotas).where(*_row(office, period, start)).values(**changes))


@dataclass(frozen=True)
class CountLanes:
    """The first step after lodging (``AfterLodging``): counts on the shared rows the lodgings
    their assessor did not count itself (decided outside a write transaction: bulk imports,
    batch selection), in the transaction that stores them."""

    quotas: SharedQuotas
    period: str

    def __call__(self, conn: Connection, ctx: Any, lodged: Sequence[Lodged]) -> None:
        counted = self.quotas.counted(conn)
        todo = {item.id: item for item in lodged if candidate_key(item.declaration.declarant.id, item.declaration.lrn) not in counted}
        if not todo:
            return
        groups: dict[tuple[str, date], Counter[Lane]] = {}
        ids = sorted(todo)
        for first in range(0, len(ids), IN_CHUNK):
            chunk = ids[first : first + IN_CHUNK]
            rows = conn.execute(select(declarations.c.id, declarations.c.office_code, declarations.c.registration_date).where(declarations.c.id.in_(chunk)))
            for row in rows:
                key = (row.office_code, period_start(row.registration_date, self.period))
                groups.setdefault(key, Counter())[todo[row.id].assessment.lane] += 1
        for office, start in sorted(groups):  # one order for every transaction: no deadlock between two of them
            lanes = groups[(office, start)]
            if not ensure_row(conn, office, self.period, start):  # a row made now counted these from the store
                _count(conn, office, self.period, start, sum(lanes.values()), lanes)
