"""The selection policy's quota counters are the node's, not a process's: every lodging, through
any process, in any path (the API's one by one, a bulk import's batches), is counted once on one
row per office and period, in the transaction that stores it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, event, func, select

from avance.auth.model import SYSTEM
from avance.bootstrap import Node
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.declarations.tables import declarations
from avance.kit.errors import Conflict
from avance.risk.policy.model import period_start
from avance.risk.policy.tables import lane_quotas
from avance.store.engine import make_engine, write
from tests.support import declaration, make_node


@pytest.fixture
def twins(node: Node) -> Iterator[tuple[Node, Node]]:
    """Two processes' views of one node: their own engine and memory, one database."""
    other = Node(node.settings, make_engine(node.settings.resolved_database_url()))
    yield node, other
    other.engine.dispose()


def quota_rows(node: Node) -> list[tuple[int, int, int, int]]:
    with node.engine.connect() as conn:
        return [(r.lodged, r.red, r.yellow, r.blue) for r in conn.execute(select(lane_quotas).order_by(lane_quotas.c.office, lane_quotas.c.period_start))]


def stored_lanes(node: Node) -> tuple[int, int, int, int]:
    with node.engine.connect() as conn:
        lanes = Counter(dict(conn.execute(select(declarations.c.lane, func.count()).group_by(declarations.c.lane)).all()))
    return sum(lanes.values()), lanes["red"], lanes["yellow"], lanes["blue"]


def lodge(node: Node, lrn: str, **change: object) -> int:
    with write(node.engine) as conn:
        return service.lodge(conn, node.context, GoodsDeclaration.model_validate(declaration(lrn=lrn, **change)), SYSTEM).id


def test_concurrent_lodgings_through_two_processes_are_each_counted_once(twins):
    a, b = twins
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: lodge((a, b)[i % 2], f"2026-DKR-C{i:05d}"), range(12)))
    assert quota_rows(a) == [stored_lanes(a)]
    assert stored_lanes(a)[0] == 12


def test_a_lodging_refused_after_its_assessment_takes_its_count_back(twins):
    a, b = twins
    lodge(a, "2026-DKR-R00001", transport_document_reference="BL-SHARED")
    before = quota_rows(a)
    with pytest.raises(Conflict):  # the same goods of the same bill declared again: refused after the lane was decided
        lodge(b, "2026-DKR-R00002", transport_document_reference="BL-SHARED")
    assert quota_rows(a) == before == [stored_lanes(a)]


def test_batches_decided_outside_the_transaction_are_counted_when_stored(twins):
    a, b = twins
    lodge(a, "2026-DKR-B00000")
    today = datetime.now(timezone.utc).date()
    batch = [(GoodsDeclaration.model_validate(declaration(lrn=f"2026-DKR-B{i:05d}")), today) for i in range(1, 6)]
    with b.engine.begin() as conn:  # not a write transaction of the node: decided by the process alone, counted at storage
        outcome = service.lodge_batch(conn, b.context, batch, SYSTEM)
    assert all(i is not None for i in outcome.ids)
    assert quota_rows(a) == [stored_lanes(a)]
    assert stored_lanes(a)[0] == 6


def test_a_node_upgraded_in_the_middle_of_a_period_starts_from_what_it_stored(twins):
    a, b = twins
    for i in range(3):
        lodge(a, f"2026-DKR-U{i:05d}")
    with write(a.engine) as conn:
        conn.execute(delete(lane_quotas))  # as before the upgrade: declarations, no counters
    lodge(b, "2026-DKR-U00003")
    assert quota_rows(a) == [stored_lanes(a)]
    counted = b.context.assessor.selector.counters()
    assert [(q.office, q.period_start, q.lodged) for q in counted] == [("SN-DKR-PORT", period_start(datetime.now(timezone.utc).date(), "day"), 4)]


@pytest.fixture
def pg_twins(pg_url: str, tmp_path) -> Iterator[tuple[Node, Node]]:
    """Two processes' views of one PostgreSQL node (SQLite serialises writers: there two
    transactions never hold a lock each)."""
    node = make_node(pg_url, tmp_path)
    other = Node(node.settings, make_engine(node.settings.resolved_database_url()))
    yield node, other
    other.engine.dispose()
    node.engine.dispose()


@pytest.mark.postgres
def test_a_lodging_and_an_import_batch_on_one_bill_at_once_never_deadlock(pg_twins):
    """An API lodging and an import batch that declare the same bill at the same moment, through
    two processes: the batch (checked outside its transaction) locks the bill, then its office's
    quota row; the lodging must take them in the same order, so that one waits for the other
    instead of both being stuck until PostgreSQL aborts one (a deadlock). The first to hold the
    bill keeps the consignment; the other is refused as already declared."""
    a, b = pg_twins
    lodge(a, "2026-DKR-D00000")  # the office's quota row exists: both will want it
    batch_holds_the_bill = threading.Event()

    def pause_before_the_quota_row(conn, cursor, statement, parameters, context, executemany):
        if "lane_quotas" in statement and not batch_holds_the_bill.is_set():
            batch_holds_the_bill.set()
            time.sleep(1.5)  # the lodging starts meanwhile

    today = datetime.now(timezone.utc).date()
    prepared = service.prepare_batch(b.context, [(GoodsDeclaration.model_validate(declaration(lrn="2026-DKR-D00001", transport_document_reference="BL-RACE")), today)], SYSTEM, {})

    def import_batch():
        with write(b.engine) as conn:
            return service.store_batch(conn, b.context, prepared, SYSTEM, [datetime.now(timezone.utc)])

    event.listen(b.engine, "before_cursor_execute", pause_before_the_quota_row)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            batch = pool.submit(import_batch)
            assert batch_holds_the_bill.wait(10)
            with pytest.raises(Conflict) as refused:
                lodge(a, "2026-DKR-D00002", transport_document_reference="BL-RACE")
            outcome = batch.result()
    finally:
        event.remove(b.engine, "before_cursor_execute", pause_before_the_quota_row)
    assert refused.value.code == "consignment.already_declared"
    assert outcome.ids[0] is not None
    assert quota_rows(a) == [stored_lanes(a)]
