"""The store keeps money exact, time in UTC, and its schema exactly as migrated, on every engine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.bootstrap import init_node
from avance.store.engine import make_engine
from avance.reference.tables import exchange_rates
from avance.migrations import schema
from tests.support import declaration


def test_migrations_create_exactly_the_declared_tables(node):
    with node.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema())
    assert diff == []


def test_amounts_read_back_exactly(node):
    with node.engine.begin() as conn:
        conn.execute(insert(exchange_rates).values(currency="GBP", valid_from=datetime(2026, 1, 1).date(), rate=Decimal("765.123456"), loaded_at=datetime.now(timezone.utc)))
        value = conn.execute(select(exchange_rates.c.rate).where(exchange_rates.c.currency == "GBP")).scalar_one()
    assert value == Decimal("765.123456") and isinstance(value, Decimal)


def test_times_are_stored_and_read_as_utc(node):
    lagos = timezone(timedelta(hours=1))
    at = datetime(2026, 6, 1, 9, 30, tzinfo=lagos)
    with node.engine.begin() as conn:
        declaration_id = service.lodge(
            conn, node.context, GoodsDeclaration.model_validate(declaration()), SYSTEM, registration_date=datetime.now(timezone.utc).date(), now=at
        ).id
        record = service.get(conn, declaration_id, SYSTEM)
    assert record.row["lodged_at"] == at
    assert record.row["lodged_at"].utcoffset() == timedelta(0)


def test_a_failed_batch_entry_does_not_block_the_rest_and_leaves_nothing_half_stored(node):
    good = GoodsDeclaration.model_validate(declaration(lrn="B-1"))
    bad = GoodsDeclaration.model_validate(declaration(lrn="B-2", office_code="SN-NOWHERE"))
    today = datetime.now(timezone.utc).date()
    with node.engine.begin() as conn:
        outcome = service.lodge_batch(conn, node.context, [(good, today), (bad, today), (good, today)], SYSTEM)
    assert outcome.ids[0] is not None and outcome.ids[1] is None and outcome.ids[2] is None
    assert outcome.issues[2][0].code == "lrn.duplicate"
    with node.engine.connect() as conn:
        rows, total = service.search(conn, SYSTEM, service.Filters(), page=1, page_size=10)
    assert total == 1


def test_init_refuses_to_switch_a_node_to_another_country(store_url):
    from avance.kit.errors import ConfigurationError

    engine = make_engine(store_url)
    init_node(engine, "SN")
    init_node(engine, "SN")  # idempotent
    with pytest.raises(ConfigurationError):
        init_node(engine, "CI")
    engine.dispose()
