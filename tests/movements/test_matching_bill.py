"""Mirror control over the whole bill of lading: a partner's export notice is compared with all the
import declarations that cite its bill, together (values, quantities and masses summed, released
declarations included), so that splitting a shipment into an honest decoy and an undervalued
declaration does not hide the gap; every open declaration of the bill has its lane raised."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from avance.auth.model import SYSTEM
from avance.declarations import service as declarations_service
from avance.declarations.tables import declaration_events, declarations
from avance.movements.matching import model as matching_model
from avance.movements.matching import service as matching_service
from avance.store.engine import write
from tests.support import exchange_ready, notice, queued, xof_declaration
from tests.support import lodge_document as lodge

POLICY = matching_model.MatchingPolicy()


@pytest.fixture
def sn_store(node):
    exchange_ready(node)
    return node


def two_cars() -> dict[str, Any]:
    """Côte d'Ivoire exported two cars on bill GRIM0123456: 2,500 kg, 20,000,000 XOF."""
    return notice(value="20000000", item={"net_mass": "2500"})


def one_car(lrn: str, value: str, importer: str = "SN0098765B2") -> dict[str, Any]:
    """One of the two cars of the bill, declared as one part of a split consignment."""
    return xof_declaration(lrn=lrn, value=value, importer={"id": importer, "name": "Importateur", "country": "SN"}, split_consignment=True)


def receive(node: Any, doc: dict[str, Any]) -> int:
    with write(node.engine) as conn:
        return matching_service.on_export_notice(conn, node.context, sender="CI-AVANCE", message_id="7d0c5b9e-6d0f-4d3e-9f3e-0a3b5c7d9e11", payload=doc, policy=POLICY)


def lane_of(node: Any, declaration_id: int) -> str:
    with node.engine.connect() as conn:
        return conn.execute(select(declarations.c.lane).where(declarations.c.id == declaration_id)).scalar_one()


def annex(node: Any, declaration_id: int) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return matching_service.annex(conn, declaration_id, "en", POLICY)


@pytest.mark.parametrize("notice_first", [False, True], ids=["notice-after-both", "notice-between"])
def test_a_decoy_declaration_does_not_hide_an_undervalued_one_on_the_same_bill(sn_store, notice_first):
    decoy = lodge(sn_store, one_car("2026-DKR-D0001", "10000000"))  # one car, at its true value
    if notice_first:
        notice_id = receive(sn_store, two_cars())
        undervalued = lodge(sn_store, one_car("2026-DKR-D0002", "2000000", importer="SN0000001A1"))  # the other car, at a fifth
    else:
        undervalued = lodge(sn_store, one_car("2026-DKR-D0002", "2000000", importer="SN0000001A1"))
        notice_id = receive(sn_store, two_cars())
    with sn_store.engine.connect() as conn:
        row = matching_service.get_notice(conn, notice_id)
    assert row["outcome"] == "non_conforme"
    assert row["value_gap_percent"] == Decimal("-40")  # 12,000,000 declared on the bill against 20,000,000 exported
    assert row["result"]["declared_value"] == {"amount": "12000000", "currency": "XOF"}
    assert lane_of(sn_store, decoy) == "red" and lane_of(sn_store, undervalued) == "red"
    for declaration_id in (decoy, undervalued):
        view = annex(sn_store, declaration_id)
        assert view["outcome"] == "non_conforme" and view["suggested_lane"] == "red"
        assert "matching.reason.value_gap" in [r["code"] for r in view["reasons"]]
        assert [m["id"] for m in view["matches"]] == [notice_id]
        assert view["matches"][0]["bill_declarations"] == sorted([decoy, undervalued])
    last = queued(sn_store, "match-result")[-1]["payload"]
    assert last["outcome"] == "non_conforme" and last["value_gap_percent"] == "-40.0"


def test_a_released_declaration_counts_on_its_bill_and_goes_to_post_clearance_audit(sn_store):
    """Goods released on the green lane before the partner's notice arrives: the gap is still
    found on the bill, and the released declaration is sent to a post-clearance audit (blue), whose
    finding the importer then owes."""
    decoy = lodge(sn_store, one_car("2026-DKR-D0011", "10000000"))
    with write(sn_store.engine) as conn:  # released on the green lane before the notice arrives
        conn.execute(declarations.update().where(declarations.c.id == decoy).values(lane="green"))
        conn.execute(declaration_events.insert().values(declaration_id=decoy, kind="released", at=datetime.now(timezone.utc), actor="t", data={}))
    undervalued = lodge(sn_store, one_car("2026-DKR-D0012", "2000000"))
    notice_id = receive(sn_store, two_cars())
    with sn_store.engine.connect() as conn:
        row = matching_service.get_notice(conn, notice_id)
    assert row["value_gap_percent"] == Decimal("-40")
    assert lane_of(sn_store, decoy) == "blue" and lane_of(sn_store, undervalued) == "red"
    assert annex(sn_store, decoy)["outcome"] == "non_conforme"  # shown to officers for the audit
    with write(sn_store.engine) as conn:
        declarations_service.record_inspection(
            conn, decoy, SYSTEM, fraud_found=True, fraud_kinds=["undervaluation"], extra_duty=Decimal("1500000"), findings="audit", now=datetime.now(timezone.utc)
        )
        debts, _ = declarations_service.search_debts(conn, SYSTEM, declarations_service.DebtFilters(), page=1, page_size=10)
    assert [(row["declaration_id"], debt.outstanding) for row, debt in debts] == [(decoy, Decimal("1500000"))]


def test_a_released_declaration_already_controlled_keeps_its_lane(sn_store):
    decoy = lodge(sn_store, one_car("2026-DKR-D0031", "10000000"))
    with write(sn_store.engine) as conn:  # controlled on the yellow lane and released before the notice
        conn.execute(declarations.update().where(declarations.c.id == decoy).values(lane="yellow"))
        conn.execute(declaration_events.insert().values(declaration_id=decoy, kind="released", at=datetime.now(timezone.utc), actor="t", data={}))
    lodge(sn_store, one_car("2026-DKR-D0032", "2000000"))
    receive(sn_store, two_cars())
    assert lane_of(sn_store, decoy) == "yellow"


def test_declarations_that_together_match_the_export_are_conforme(sn_store):
    first = lodge(sn_store, one_car("2026-DKR-D0021", "10000000"))
    second = lodge(sn_store, one_car("2026-DKR-D0022", "10000000"))
    notice_id = receive(sn_store, two_cars())
    with sn_store.engine.connect() as conn:
        assert matching_service.get_notice(conn, notice_id)["outcome"] == "conforme"
    assert annex(sn_store, first)["outcome"] == annex(sn_store, second)["outcome"] == "conforme"


items = st.builds(
    matching_model.ImportItem,
    sequence=st.integers(1, 9),
    hs_code=st.sampled_from(["8703231000", "8703241000", "1006300000"]),
    origin_country=st.sampled_from(["FR", "JP", "TH"]),
    net_mass=st.decimals(1, 10_000, places=1),
    supplementary_quantity=st.none() | st.decimals(1, 100, places=0),
    supplementary_unit=st.sampled_from([None, "NAR"]),
    fob_value=st.decimals(0, 10**8, places=0),
    customs_value=st.decimals(0, 10**8, places=0),
    duty_total=st.decimals(0, 10**7, places=0),
    duties_due=st.booleans(),
    preference_claimed=st.booleans(),
)
parts = st.lists(
    st.builds(
        matching_model.ImportFacts,
        declaration_id=st.integers(1, 10**6),
        reference=st.just("SN-DKR-PORT/2026/1"),
        importer_id=st.sampled_from(["SN0098765B2", "SN0000001A1"]),
        registration_date=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
        currency=st.just("XOF"),
        items=st.lists(items, min_size=1, max_size=4).map(tuple),
    ),
    min_size=1,
    max_size=5,
)


@given(parts)
def test_declarations_combined_keep_every_kilogram_franc_and_duty_of_the_bill(facts):
    combined = matching_model.combine(facts)
    every = [i for f in facts for i in f.items]
    assert sum(i.net_mass for i in combined.items) == sum(i.net_mass for i in every)
    assert sum(i.fob_value for i in combined.items) == sum(i.fob_value for i in every)
    assert sum(i.customs_value for i in combined.items) == sum(i.customs_value for i in every)
    assert sum(i.duty_total for i in combined.items) == sum(i.duty_total for i in every)
    if len(facts) == 1:
        assert combined == facts[0]
    else:
        assert len({(i.hs_code[:6], i.origin_country) for i in combined.items}) == len(combined.items)  # one line per HS6 and origin
        assert combined.registration_date == min(f.registration_date for f in facts)
        assert set(combined.importer_ids) == {f.importer_id for f in facts}
        assert combined.declaration_ids == tuple(f.declaration_id for f in facts)
