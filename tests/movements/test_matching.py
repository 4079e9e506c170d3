"""Mirror control at the importing node: an export declaration from a partner is matched with the
import declaration lodged here, and the outcome (conforme, non conforme with its gaps and revenue
gap, non retrouvée) goes back to the exporting node and raises the lane when it should."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.kit.errors import Conflict, Forbidden, ValidationFailed
from avance.movements.matching import model as matching_model
from avance.movements.matching import service as matching_service
from avance.movements.payloads import PAYLOADS, SCHEMA_DIR, ExportDeclarationNotice, MatchResult, schema_text
from avance.revenue.calculator import DutyItemInput, compute_duties
from avance.declarations.assessment import Lane
from avance.store.engine import write
from avance.declarations.tables import declaration_events, declarations
from avance.movements.tables import export_notices
from tests.support import TODAY, exchange_ready, mutated_message, notice, queued, xof_declaration
from tests.support import lodge_document as lodge

NOW = datetime.now(timezone.utc)
POLICY = matching_model.MatchingPolicy()


def receive(node: Any, doc: dict[str, Any], now: datetime | None = None) -> int:
    with write(node.engine) as conn:
        return matching_service.on_export_notice(conn, node.context, sender="CI-AVANCE", message_id="7d0c5b9e-6d0f-4d3e-9f3e-0a3b5c7d9e11", payload=doc, policy=POLICY, now=now)


def stored(node: Any, notice_id: int) -> Any:
    with node.engine.connect() as conn:
        return matching_service.get_notice(conn, notice_id)


def lane_of(node: Any, declaration_id: int) -> str:
    with node.engine.connect() as conn:
        return conn.execute(select(declarations.c.lane).where(declarations.c.id == declaration_id)).scalar_one()


def sn_duties(node: Any, customs_value: Decimal, hs: str = "8703231000", origin: str = "FR") -> Decimal:
    ctx = node.context
    return compute_duties(ctx.profile, ctx.schedule, DutyItemInput(hs, origin, customs_value, customs_value), TODAY).total


@pytest.fixture
def sn(sqlite_node):
    """The Senegalese node on SQLite, partnered with CI, GH and ML (most rules do not depend on the engine)."""
    exchange_ready(sqlite_node)
    return sqlite_node


@pytest.fixture
def sn_store(node):
    """The Senegalese node on each store engine (SQLite and PostgreSQL)."""
    exchange_ready(node)
    return node


# --- outcomes --------------------------------------------------------------------------------------


def test_an_export_matching_the_import_is_conforme_and_the_exporter_is_told(sn_store):
    declaration_id = lodge(sn_store, xof_declaration())
    lane = lane_of(sn_store, declaration_id)
    notice_id = receive(sn_store, notice())
    row = stored(sn_store, notice_id)
    assert row["outcome"] == "conforme" and row["declaration_id"] == declaration_id
    assert row["revenue_gap"] == 0 and row["value_gap_percent"] == 0
    [message] = queued(sn_store, "match-result")
    assert message["recipient"] == "CI-AVANCE" and message["movement"] == "EX:CI:CI-EX-2026-000123"
    result = MatchResult.model_validate(message["payload"])
    assert result.outcome == "conforme" and result.gaps == [] and result.importing_country == "SN"
    assert result.import_declaration_reference.endswith(f"/{declaration_id}")
    assert lane_of(sn_store, declaration_id) == lane
    with sn_store.engine.connect() as conn:
        kinds = [r[0] for r in conn.execute(select(declaration_events.c.kind).where(declaration_events.c.declaration_id == declaration_id))]
    assert kinds.count("lane_assigned") == 1  # a conforming outcome changes nothing on the declaration


def test_an_import_declared_at_half_the_exported_value_is_non_conforme_with_the_revenue_at_stake_and_goes_red(sn_store):
    declaration_id = lodge(sn_store, xof_declaration(value="10000000"))
    row = stored(sn_store, receive(sn_store, notice(value="20000000")))
    assert row["outcome"] == "non_conforme"
    assert row["value_gap_percent"] == Decimal("-50")
    # the import owes the duties and taxes of a 20,000,000 XOF car, and declared those of a 10,000,000 one
    assert row["revenue_gap"] == sn_duties(sn_store, Decimal(20_000_000)) - sn_duties(sn_store, Decimal(10_000_000)) == Decimal(4_431_400)
    [gap] = row["result"]["gaps"]
    assert gap == {"kind": "value", "export_item": 1, "import_item": 1, "exported": "20000000", "declared": "10000000", "unit": "XOF", "difference_percent": "-50.0"}
    assert lane_of(sn_store, declaration_id) == "red"
    with sn_store.engine.connect() as conn:
        record = service.get(conn, declaration_id, SYSTEM)
    assert record.lifecycle.lane == "red"
    last = record.events[-1]
    assert last.kind.value == "lane_assigned" and last.actor == "mirror-control" and last.data["source"] == "mirror_control"
    assert "matching.reason.value_gap" in [r["code"] for r in record.row["reasons"]]
    assert "matching.reason.revenue_gap" in [r["code"] for r in record.row["reasons"]]


@pytest.mark.parametrize(
    "exported, outcome",
    [("10490000", "conforme"), ("9520000", "conforme"), ("10560000", "non_conforme"), ("9500000", "non_conforme")],
)
def test_value_differences_within_the_tolerance_are_conforme(sn, exported, outcome):
    """5 % by default: 10,000,000 declared against 10,490,000 exported is -4.7 %, against 10,560,000 it is -5.3 %."""
    lodge(sn, xof_declaration(value="10000000"))
    assert stored(sn, receive(sn, notice(value=exported)))["outcome"] == outcome


def test_a_foreign_export_value_is_converted_with_the_nodes_rates(sn):
    """The euro converts at the CFA franc's peg: 15,244.90 EUR is 9,999,999 XOF, within tolerance of 10,000,000."""
    lodge(sn, xof_declaration(value="10000000"))
    row = stored(sn, receive(sn, notice(value="15244.90", currency="EUR")))
    assert row["outcome"] == "conforme"
    assert row["result"]["exported_value"] == {"amount": "9999999", "currency": "XOF"}


def test_without_a_rate_for_the_export_currency_values_are_not_compared_and_the_officer_is_told(sn):
    lodge(sn, xof_declaration())
    row = stored(sn, receive(sn, notice(value="50", currency="GBP")))
    assert row["outcome"] == "conforme" and row["revenue_gap"] is None
    assert row["result"]["notes"] == ["matching.note.no_rate"]


def test_hs_code_origin_and_quantity_gaps_are_each_reported_and_ask_for_a_documentary_check(sn):
    declaration_id = lodge(sn, xof_declaration())
    row = stored(sn, receive(sn, notice(item={"hs_code": "8703241000", "origin_country": "JP", "net_mass": "1400"})))
    kinds = sorted(g["kind"] for g in row["result"]["gaps"])
    assert kinds == ["hs_code", "origin", "quantity"]
    quantity = next(g for g in row["result"]["gaps"] if g["kind"] == "quantity")
    assert quantity["exported"] == "1400" and quantity["declared"] == "1250" and quantity["difference_percent"] == "-10.7"
    assert lane_of(sn, declaration_id) in ("yellow", "red")
    with sn.engine.connect() as conn:
        signal = matching_service.mirror_signal(conn, declaration_id)
    assert signal is not None and signal.lane is Lane.YELLOW and signal.gap_kinds == {"hs_code", "origin", "quantity"}
    assert {r.code for r in signal.reasons} >= {"matching.reason.hs_code", "matching.reason.origin", "matching.reason.quantity"}


def test_the_revenue_gap_uses_the_exported_classification_and_origin(sn):
    """An export of rice (HS 100630) declared at import as a car part would owe rice's duties, not the declared ones."""
    lodge(sn, xof_declaration())
    row = stored(sn, receive(sn, notice(item={"hs_code": "1006300000", "origin_country": "TH"})))
    expected = sn_duties(sn, Decimal(10_000_000), hs="1006300000", origin="TH") - sn_duties(sn, Decimal(10_000_000))
    assert row["revenue_gap"] == expected != 0


def test_a_consignee_other_than_the_importer_is_a_gap(sn):
    declaration_id = lodge(sn, xof_declaration())
    row = stored(sn, receive(sn, notice(consignee={"id": "SN0000001A1", "name": "Autre SA"})))
    assert row["declaration_id"] == declaration_id
    assert row["result"]["gaps"] == [{"kind": "consignee", "exported": "SN0000001A1", "declared": "SN0098765B2"}]


def test_an_export_item_missing_from_the_import_is_a_gap_and_its_duties_are_at_stake(sn):
    lodge(sn, xof_declaration())
    doc = notice()
    doc["items"].append(
        {"sequence": 2, "hs_code": "100630", "description": "Rice", "origin_country": "TH", "net_mass": "1000", "statistical_value": {"amount": "1000000", "currency": "XOF"}}
    )
    doc["totals"] = {"goods_item_quantity": 2, "net_mass": "2250", "statistical_value": {"amount": "11000000", "currency": "XOF"}}
    row = stored(sn, receive(sn, doc))
    assert [g["kind"] for g in row["result"]["gaps"]] == ["items"]
    assert row["revenue_gap"] == sn_duties(sn, Decimal(1_000_000), hs="100630", origin="TH")


def test_an_export_with_no_import_by_the_deadline_is_non_retrouvee_and_the_exporter_is_told(sn_store):
    export_date = TODAY - timedelta(days=40)
    notice_id = receive(sn_store, notice(export_date=export_date.isoformat(), transport_document_reference="NOIMPORT1"))
    assert stored(sn_store, notice_id)["outcome"] == "pending"
    with write(sn_store.engine) as conn:
        assert matching_service.sweep(conn, sn_store.context, today=export_date + timedelta(days=30), policy=POLICY) == []  # not late yet
        assert matching_service.sweep(conn, sn_store.context, today=export_date + timedelta(days=31), policy=POLICY) == [notice_id]
    assert stored(sn_store, notice_id)["outcome"] == "non_retrouvee"
    [message] = queued(sn_store, "match-result")
    assert message["payload"]["outcome"] == "non_retrouvee" and "import_declaration_reference" not in message["payload"]
    with write(sn_store.engine) as conn:  # a second sweep reports nothing again
        assert matching_service.sweep(conn, sn_store.context, today=export_date + timedelta(days=60), policy=POLICY) == []


def test_an_import_lodged_after_the_notice_is_matched_then_even_after_non_retrouvee(sn_store):
    notice_id = receive(sn_store, notice(value="20000000"))
    with write(sn_store.engine) as conn:
        matching_service.sweep(conn, sn_store.context, today=TODAY + timedelta(days=60), policy=POLICY)
    assert stored(sn_store, notice_id)["outcome"] == "non_retrouvee"
    declaration_id = lodge(sn_store, xof_declaration(value="10000000"))  # lodging matches it
    assert stored(sn_store, notice_id)["outcome"] == "non_conforme"
    assert stored(sn_store, notice_id)["declaration_id"] == declaration_id
    assert lane_of(sn_store, declaration_id) == "red"
    assert [m["payload"]["outcome"] for m in queued(sn_store, "match-result")] == ["non_retrouvee", "non_conforme"]
    with write(sn_store.engine) as conn:  # matched once: lodging events do not match it again
        assert matching_service.match_declaration(conn, sn_store.context, declaration_id, policy=POLICY) is None


def test_a_declaration_without_a_matching_notice_gets_no_outcome(sn):
    declaration_id = lodge(sn, xof_declaration())
    with write(sn.engine) as conn:
        assert matching_service.match_declaration(conn, sn.context, declaration_id, policy=POLICY) is None


def test_the_lane_is_never_lowered_and_released_uncontrolled_goods_go_to_post_clearance_audit(sn):
    declaration_id = lodge(sn, xof_declaration())
    with write(sn.engine) as conn:
        conn.execute(declarations.update().where(declarations.c.id == declaration_id).values(lane="yellow"))
        assert service.raise_lane(conn, declaration_id, Lane.RED, [], actor="mirror-control", source="mirror_control") is Lane.RED
        assert service.raise_lane(conn, declaration_id, Lane.YELLOW, [], actor="mirror-control", source="mirror_control") is None
        assert service.raise_lane(conn, declaration_id, Lane.GREEN, [], actor="mirror-control", source="mirror_control") is None
    assert lane_of(sn, declaration_id) == "red"
    other = lodge(sn, xof_declaration(lrn="2026-DKR-M0002", transport_document_reference="GRIM0999999"))
    with write(sn.engine) as conn:
        conn.execute(declarations.update().where(declarations.c.id == other).values(lane="green"))
        conn.execute(declaration_events.insert().values(declaration_id=other, kind="released", at=NOW, actor="t", data={}))
        assert service.raise_lane(conn, other, Lane.RED, [], actor="mirror-control", source="mirror_control") is Lane.BLUE
        assert service.raise_lane(conn, other, Lane.RED, [], actor="mirror-control", source="mirror_control") is None
    assert lane_of(sn, other) == "blue"  # the goods are gone: a post-clearance audit is the control left


def test_a_corrected_notice_replaces_the_first_and_is_matched_again(sn):
    lodge(sn, xof_declaration())
    first = receive(sn, notice(value="20000000"))
    assert stored(sn, first)["outcome"] == "non_conforme"
    again = receive(sn, notice(value="10000000"))
    assert again == first and stored(sn, first)["outcome"] == "conforme"
    assert [m["payload"]["outcome"] for m in queued(sn, "match-result")] == ["non_conforme", "conforme"]


def test_a_notice_for_another_country_is_refused_and_nothing_is_stored(sn):
    with pytest.raises(ValidationFailed) as caught:
        receive(sn, notice(destination_country="GH"))
    assert caught.value.issues[0].code == "matching.wrong_destination"
    with sn.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(export_notices)).scalar_one() == 0


# --- the exporting side -------------------------------------------------------------------------


@pytest.fixture
def ci(store_url, tmp_path):
    """The Ivorian (exporting) node, on each store engine."""
    from tests.support import make_node

    n = make_node(store_url, tmp_path, country="CI")
    exchange_ready(n)
    yield n
    n.engine.dispose()


@pytest.fixture
def ci_node(sqlite_url, tmp_path):
    """The Ivorian node on SQLite."""
    from tests.support import make_node

    n = make_node(sqlite_url, tmp_path, country="CI")
    exchange_ready(n)
    yield n
    n.engine.dispose()


def test_the_exporting_node_sends_its_notice_once_and_records_the_result(ci):
    doc = ExportDeclarationNotice.model_validate(notice())
    with write(ci.engine) as conn:
        sent = matching_service.send_notice(conn, ci.context, doc)
    with write(ci.engine) as conn:
        assert matching_service.send_notice(conn, ci.context, doc) == matching_service.SentNotice(sent.id, sent.message_id, replayed=True)
    [message] = queued(ci, "export-declaration-notice")
    assert message["recipient"] == "SN-AVANCE" and message["message_id"] == sent.message_id
    assert ExportDeclarationNotice.model_validate(message["payload"]) == doc
    with pytest.raises(Conflict), write(ci.engine) as conn:
        matching_service.send_notice(conn, ci.context, ExportDeclarationNotice.model_validate(notice(value="1")))
    result = {
        "export_declaration_reference": "CI-EX-2026-000123",
        "exporting_country": "CI",
        "importing_country": "SN",
        "outcome": "non_conforme",
        "decided_at": "2026-06-01T10:00:00Z",
        "import_declaration_reference": "SN-DKR-PORT/2026/17",
        "gaps": [{"kind": "value", "export_item": 1, "import_item": 1, "exported": "20000000", "declared": "10000000", "unit": "XOF", "difference_percent": "-50.0"}],
        "value_gap_percent": "-50.0",
        "revenue_gap": {"amount": "4431400", "currency": "XOF"},
    }
    with pytest.raises(Forbidden), write(ci.engine) as conn:
        matching_service.on_match_result(conn, sender="GH-AVANCE", payload=result)
    with write(ci.engine) as conn:
        matching_service.on_match_result(conn, sender="SN-AVANCE", payload=result)
    row = stored(ci, sent.id)
    assert row["outcome"] == "non_conforme" and row["revenue_gap"] == Decimal(4431400) and row["currency"] == "XOF"


def test_a_node_sends_only_its_own_exports_to_a_known_partner(ci_node):
    with pytest.raises(ValidationFailed) as caught, write(ci_node.engine) as conn:
        matching_service.send_notice(conn, ci_node.context, ExportDeclarationNotice.model_validate(notice(exporting_country="GH")))
    assert caught.value.issues[0].code == "matching.not_our_export"
    with pytest.raises(ValidationFailed) as caught, write(ci_node.engine) as conn:
        matching_service.send_notice(conn, ci_node.context, ExportDeclarationNotice.model_validate(notice(destination_country="NG")))
    assert caught.value.issues[0].code == "movements.no_partner"
    assert queued(ci_node) == []


# --- the published specification -----------------------------------------------------------------


def test_the_published_schemas_are_those_of_the_payload_models():
    """Run ``python -m avance.movements.payloads`` after changing a payload model."""
    for message_type in PAYLOADS:
        path = SCHEMA_DIR / f"{message_type}.schema.json"
        assert path.read_text(encoding="utf-8") == schema_text(message_type), f"{path.name} is out of date"
        assert json.loads(path.read_text())["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_match_results_keep_their_outcome_consistent():
    base = {"export_declaration_reference": "X1", "exporting_country": "CI", "importing_country": "SN", "decided_at": "2026-06-01T10:00:00Z"}
    MatchResult.model_validate(base | {"outcome": "non_retrouvee"})
    for bad in (
        {"outcome": "conforme"},  # names no import declaration
        {"outcome": "non_conforme", "import_declaration_reference": "R1"},  # lists no gap
        {"outcome": "non_retrouvee", "import_declaration_reference": "R1"},
    ):
        with pytest.raises(ValueError):
            MatchResult.model_validate(base | bad)


def test_pairing_prefers_the_same_hs6_then_the_same_sequence():
    from types import SimpleNamespace as E

    imports = [matching_model.ImportItem(s, hs, "FR", Decimal(1), None, None, Decimal(1), Decimal(1), Decimal(0), True, False) for s, hs in ((1, "100630"), (2, "870323"))]
    exports = [E(sequence=1, hs_code="8703231000"), E(sequence=2, hs_code="1006300000"), E(sequence=3, hs_code="040221")]
    pairs, unpaired_exports, unpaired_imports = matching_model._pair(exports, imports)
    assert [(e.sequence, i.sequence) for e, i in pairs] == [(1, 2), (2, 1)]
    assert [e.sequence for e in unpaired_exports] == [3] and unpaired_imports == []


@pytest.mark.parametrize("exported, declared, expected", [("100", "95", "-5.0"), ("3", "2", "-33.3"), ("0", "0", "0.0"), ("200", "201", "0.5")])
def test_percent_differences_are_rounded_to_one_decimal(exported, declared, expected):
    assert matching_model.percent_difference(Decimal(exported), Decimal(declared)) == Decimal(expected)
    assert matching_model.percent_difference(Decimal(0), Decimal(5)) is None


# --- whatever a partner sends ---------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=mutated_message(notice()))
def test_a_malformed_notice_is_refused_whole(sqlite_node, doc):
    """A notice either matches (or waits) or is refused with its issues; a refused one leaves nothing."""
    if not getattr(sqlite_node, "_ready", False):
        exchange_ready(sqlite_node)
        sqlite_node._ready = True
    with sqlite_node.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(export_notices)).scalar_one()
    try:
        with write(sqlite_node.engine) as conn:
            matching_service.on_export_notice(conn, sqlite_node.context, sender="CI-AVANCE", message_id=None, payload=doc, policy=POLICY)
    except ValidationFailed as exc:
        assert exc.issues and all(i.pointer.startswith("/") or i.pointer == "" for i in exc.issues)
        with sqlite_node.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(export_notices)).scalar_one() == before
    else:
        ExportDeclarationNotice.model_validate(doc)  # what was accepted is a valid notice
