"""Each partner speaks for itself: a node accepts a message only from the administration the message
speaks for (the exporting country for an export notice, the importing country for a match result,
the departure country for a transit declaration, the office's country for passage, arrival and
discharge). Notifications for a movement this node does not know yet are held, not recorded, and
are applied when the movement arrives.

Three real nodes in this process (Tema, Ghana -> Noé, Côte d'Ivoire -> Bamako, Mali; and Dakar,
Senegal, for mirror control) that know each other's real keys: what one queues is signed and
handed to the other's inbox, and the answers are recorded as the sender records them.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from avance.exchange import outbox
from avance.exchange.tables import exchange_inbox, exchange_outbox
from avance.kit.errors import ValidationFailed
from avance.movements.matching import service as matching_service
from avance.movements.payloads import ExportDeclarationNotice
from avance.movements.tables import export_notices, transit_events
from avance.movements.transit import model as transit_model
from avance.movements.transit import service as transit_service
from avance.store.engine import write
from tests.movements.test_cli import avance
from tests.movements.test_transit import OFFICER, registration
from tests.support import hand_over, lodge_document, notice, queued, wired_nodes, xof_declaration

NOT_AUTHORITATIVE = "exchange.reject.not_authoritative"


def utc_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def gh_ci_ml(tmp_path):
    made = wired_nodes(tmp_path, ["GH", "CI", "ML"])
    yield made
    for n in made:
        n.engine.dispose()


@pytest.fixture
def sn_ci_gh(tmp_path):
    made = wired_nodes(tmp_path, ["SN", "CI", "GH"])
    yield made
    for n in made:
        n.engine.dispose()


def register(node: Any, lrn: str) -> str:
    with write(node.engine) as conn:
        return transit_service.register(conn, node.context, transit_model.TransitRegistration.model_validate(registration(lrn=lrn)), OFFICER).mrn


def movement(node: Any, mrn: str) -> Any:
    with node.engine.connect() as conn:
        return transit_service.get(conn, mrn)


def act(node: Any, what: str, mrn: str, body: dict[str, Any] | None = None, ctx: Any = None) -> str:
    records = {"passage": transit_model.PassageRecord, "arrival": transit_model.ArrivalRecord, "discharge": transit_model.DischargeRecord}
    functions = {"passage": transit_service.record_passage, "arrival": transit_service.record_arrival, "discharge": transit_service.discharge}
    with write(node.engine) as conn:
        return functions[what](conn, ctx or node.context, mrn, records[what].model_validate(body or {}), OFFICER)


def forge(node: Any, to: str, type: str, payload: dict[str, Any], movement: str) -> str:
    """``node`` queues a message it has no business sending (as a compromised or careless partner would)."""
    with write(node.engine) as conn:
        return outbox.enqueue(conn, to=to, type=type, payload=payload, movement=movement)


def inbox_state(node: Any, message_id: str) -> str:
    with node.engine.connect() as conn:
        return conn.execute(select(exchange_inbox.c.state).where(exchange_inbox.c.message_id == message_id)).scalar_one()


# --- transit --------------------------------------------------------------------------------------


def test_an_en_route_administration_cannot_discharge_a_movement_and_the_guarantee_stays_held(gh_ci_ml):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0101")
    hand_over(gh, ci)
    hand_over(gh, ml)
    discharge = {
        "mrn": mrn,
        "office": {"office_code": "ML-BKO-ROAD", "country": "ML"},
        "discharged_at": utc_text(),
        "guarantee_reference": "GRN-GH-2026-0042",
        "released_amount": {"amount": "150000.00", "currency": "GHS"},
    }
    forge(ci, "GH-AVANCE", "discharge", discharge, mrn)
    [answer] = hand_over(ci, gh)
    assert answer["status"] == "rejected" and answer["code"] == NOT_AUTHORITATIVE
    assert "CI-AVANCE" in answer["reason"]["en"] and "CI-AVANCE" in answer["reason"]["fr"]
    row, events, _ = movement(gh, mrn)
    assert row["status"] == "registered" and row["guarantee_released_at"] is None
    assert [e["kind"] for e in events] == ["registered"]
    with gh.engine.connect() as conn:
        balances = transit_service.guarantee_balances(conn)
    assert [b.guarantee_reference for b in balances] == ["GRN-GH-2026-0042"]  # still held


def test_a_transit_declaration_is_accepted_only_from_the_country_of_departure(gh_ci_ml):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0102")
    [declaration] = [m for m in queued(gh, "transit-declaration") if m["recipient"] == "ML-AVANCE"]
    forge(ci, "ML-AVANCE", "transit-declaration", declaration["payload"], mrn)
    [answer] = hand_over(ci, ml)
    assert answer["status"] == "rejected" and answer["code"] == NOT_AUTHORITATIVE
    with ml.engine.connect() as conn:
        assert conn.execute(select(transit_events.c.id)).first() is None
    hand_over(gh, ml)  # the genuine one is not blocked
    assert movement(ml, mrn)[0]["departure_node"] == "GH-AVANCE"


def test_a_passage_reported_by_another_country_than_the_offices_is_refused(gh_ci_ml):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0103")
    hand_over(gh, ml)
    passage = {"mrn": mrn, "office": {"office_code": "CI-NOE-ROAD", "country": "CI"}, "passed_at": utc_text(), "seals_intact": False}
    forge(ml, "GH-AVANCE", "passage-notification", passage, mrn)
    [answer] = hand_over(ml, gh)
    assert answer["code"] == NOT_AUTHORITATIVE
    assert movement(gh, mrn)[0]["status"] == "registered"


def test_a_notification_for_an_unknown_movement_is_held_does_not_block_the_genuine_one_and_is_applied_when_the_movement_arrives(gh_ci_ml):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0104")
    hand_over(gh, ci)  # Mali does not know the movement yet
    # a forged passage for Noé, by the administration of Ghana, before Mali knows the movement
    forged = {"mrn": mrn, "office": {"office_code": "CI-NOE-ROAD", "country": "CI"}, "passed_at": utc_text(), "seals_intact": False}
    forge(gh, "ML-AVANCE", "passage-notification", forged, f"X:{mrn}")  # in a stream of its own: the declaration stays behind
    # the genuine passage, by Côte d'Ivoire
    act(ci, "passage", mrn, {"office_code": "CI-NOE-ROAD"})
    [refused] = [a for a in hand_over(gh, ml, only="passage-notification")]
    assert refused["status"] == "rejected" and refused["code"] == NOT_AUTHORITATIVE
    [held] = [a for a in hand_over(ci, ml)]
    assert held["status"] == "buffered"
    with ml.engine.connect() as conn:
        assert conn.execute(select(transit_events.c.id)).first() is None  # held, not recorded as a fact
        pending = transit_service.pending_notifications(conn)
    assert [(p["mrn"], p["kind"], p["sender"], p["state"]) for p in pending] == [(mrn, "passage", "CI-AVANCE", "pending")]
    # the movement arrives: the held passage is applied and Côte d'Ivoire is told
    hand_over(gh, ml)
    row, events, _ = movement(ml, mrn)
    assert row["status"] == "in_transit"
    [passage] = [e for e in events if e["kind"] == "passage"]
    assert passage["source_node"] == "CI-AVANCE" and passage["data"]["seals_intact"] is True
    with ml.engine.connect() as conn:
        assert [p["state"] for p in transit_service.pending_notifications(conn, state=None)] == ["applied"]
        assert transit_service.pending_notifications(conn) == []
    [deferred] = [m for m in queued(ml, "deferred-ack") if m["recipient"] == "CI-AVANCE"]
    assert deferred["payload"]["status"] == "accepted"
    hand_over(ml, ci)
    with ci.engine.connect() as conn:
        outcome = conn.execute(select(exchange_outbox.c.state, exchange_outbox.c.outcome).where(exchange_outbox.c.message_id == deferred["payload"]["message_id"])).one()
    assert tuple(outcome) == ("delivered", "accepted")


def test_a_held_notification_that_the_movement_contradicts_is_refused_when_the_movement_arrives(gh_ci_ml):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0105")
    off_route = {"mrn": mrn, "office": {"office_code": "CI-ABJ-PORT", "country": "CI"}, "passed_at": utc_text(), "seals_intact": True}
    message_id = forge(ci, "ML-AVANCE", "passage-notification", off_route, mrn)
    assert [a["status"] for a in hand_over(ci, ml)] == ["buffered"]
    hand_over(gh, ml)
    row, events, _ = movement(ml, mrn)
    assert row["status"] == "registered" and [e["kind"] for e in events] == ["registered"]
    assert inbox_state(ml, message_id) == "rejected"
    with ml.engine.connect() as conn:
        [kept] = transit_service.pending_notifications(conn, state=None)
    assert kept["state"] == "rejected" and kept["code"] == "transit.office_not_on_itinerary"
    [deferred] = queued(ml, "deferred-ack")
    assert deferred["payload"]["status"] == "rejected" and deferred["payload"]["code"] == "transit.office_not_on_itinerary"


def test_an_officers_time_may_lie_ahead_by_the_nodes_clock_skew_allowance_only(gh_ci_ml):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0106")
    hand_over(gh, ci)
    strict = dataclasses.replace(ci.context, clock_skew=timedelta(seconds=30))
    ahead = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    with pytest.raises(ValidationFailed) as caught:
        act(ci, "passage", mrn, {"office_code": "CI-NOE-ROAD", "passed_at": ahead}, ctx=strict)
    assert caught.value.issues[0].code == "transit.in_future"
    assert act(ci, "passage", mrn, {"office_code": "CI-NOE-ROAD", "passed_at": ahead}) == "in_transit"  # 10 minutes by default


# --- mirror control -------------------------------------------------------------------------------


def test_an_export_notice_for_another_country_is_refused_and_no_match_result_goes_back(sn_ci_gh):
    sn, ci, gh = sn_ci_gh
    lodge_document(sn, xof_declaration())
    forge(gh, "SN-AVANCE", "export-declaration-notice", notice(), "EX:CI:CI-EX-2026-000123")  # an Ivorian export, told by Ghana
    [answer] = hand_over(gh, sn)
    assert answer["status"] == "rejected" and answer["code"] == NOT_AUTHORITATIVE
    assert queued(sn, "match-result") == []
    with sn.engine.connect() as conn:
        assert conn.execute(select(export_notices.c.id)).first() is None


def test_a_match_result_is_accepted_only_from_the_importing_country_the_notice_went_to(sn_ci_gh):
    sn, ci, gh = sn_ci_gh
    with write(ci.engine) as conn:
        sent = matching_service.send_notice(conn, ci.context, ExportDeclarationNotice.model_validate(notice()))
    result = {
        "export_declaration_reference": "CI-EX-2026-000123",
        "exporting_country": "CI",
        "importing_country": "GH",
        "outcome": "conforme",
        "decided_at": "2026-06-01T10:00:00Z",
        "import_declaration_reference": "GH-TEM-PORT/2026/1",
    }
    forge(sn, "CI-AVANCE", "match-result", result, "EX:CI:CI-EX-2026-000123")  # Senegal speaking for Ghana
    [answer] = hand_over(sn, ci)
    assert answer["status"] == "rejected" and answer["code"] == NOT_AUTHORITATIVE
    forge(gh, "CI-AVANCE", "match-result", result, "EX:CI:CI-EX-2026-000123")  # Ghana, which the notice did not go to
    [answer] = hand_over(gh, ci)
    assert answer["status"] == "rejected"
    with ci.engine.connect() as conn:
        assert matching_service.get_notice(conn, sent.id)["outcome"] == "pending"
    assert [a["status"] for a in hand_over(ci, sn)] == ["accepted"]  # the genuine notice, then the genuine result
    lodge_document(sn, xof_declaration())
    assert [a["status"] for a in hand_over(sn, ci)] == ["accepted"]
    with ci.engine.connect() as conn:
        assert matching_service.get_notice(conn, sent.id)["outcome"] == "conforme"


def test_officers_see_the_notifications_held_for_unknown_movements_on_the_command_line(gh_ci_ml, tmp_path, monkeypatch):
    gh, ci, ml = gh_ci_ml
    mrn = register(gh, "GH-TR-2026-0107")
    hand_over(gh, ci)
    act(ci, "passage", mrn, {"office_code": "CI-NOE-ROAD"})
    hand_over(ci, ml)
    ml.engine.dispose()
    code, out, _ = avance(tmp_path / "ML", monkeypatch, "transit", "pending", "--json")
    assert code == 0
    [line] = [json.loads(x) for x in out.splitlines()]
    assert (line["mrn"], line["kind"], line["sender"], line["state"]) == (mrn, "passage", "CI-AVANCE", "pending")
    code, out, _ = avance(tmp_path / "ML", monkeypatch, "transit", "pending", lang="fr")
    assert code == 0 and mrn in out and "retenue" in out
    hand_over(gh, ml)
    code, out, _ = avance(tmp_path / "ML", monkeypatch, "transit", "pending")
    assert code == 0 and "No notification held." in out
