"""Officers register and follow transit movements and read mirror-control outcomes over HTTP, in
French or English; declarants see none of it; bad input is a problem+json and leaves nothing stored;
the command line answers the same questions."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from avance.auth.model import Principal, Role
from avance.movements.matching import service as matching_service
from avance.movements.transit import model as transit_model
from avance.movements.transit import service as transit_service
from avance.store.engine import write
from avance.exchange.tables import exchange_outbox
from avance.movements.tables import export_notices, transit_events, transit_movements
from tests.support import exchange_ready, mutated_message, notice, queued, xof_declaration
from tests.support import lodge_document as lodge

PROBLEM = "application/problem+json"


def sn_registration(lrn: str = "SN-TR-2026-0001", **overrides: Any) -> dict[str, Any]:
    """Cement from Dakar port to Bamako by road, entering Mali at Kayes (principal SN0055555T5 unless overridden)."""
    doc: dict[str, Any] = {
        "lrn": lrn,
        "departure_office": "SN-DKR-PORT",
        "itinerary": ["ML-KYS-ROAD"],
        "destination_office": "ML-BKO-ROAD",
        "principal": {"id": "SN0055555T5", "name": "Kidira Logistique", "country": "SN"},
        "guarantee": {"reference": "GRN-SN-2026-0007", "amount": {"amount": "12500000", "currency": "XOF"}},
        "transport_means": {"mode_code": 3, "identification": "DK-1234-AB", "nationality": "SN"},
        "seals": ["SN991001"],
        "items": [{"sequence": 1, "hs_code": "252329", "description": "Portland cement", "gross_mass": "40000"}],
        "time_limit": "2099-01-01T00:00:00Z",
    }
    doc.update(overrides)
    return doc


def inbound(mrn_country: str = "ML", *, lrn: str = "ML-TR-1", destination: str = "SN-DKR-PORT", hours: float = 48, registered_hours_ago: float = 1) -> dict[str, Any]:
    """A transit declaration from Mali's node, with Senegal at destination."""
    now = datetime.now(timezone.utc)
    return {
        "mrn": transit_model.make_mrn(mrn_country, now),
        "lrn": lrn,
        "departure_office": {"office_code": "ML-BKO-ROAD", "country": "ML"},
        "itinerary": [{"office_code": "SN-KDG-ROAD", "country": "SN"}],
        "destination_office": {"office_code": destination, "country": "SN"},
        "principal": {"id": "ML0011111P1", "name": "Bamako Fret SARL"},
        "guarantee": {"reference": "GRN-ML-88", "amount": {"amount": "5000000", "currency": "XOF"}},
        "transport_means": {"mode_code": 3, "identification": "BK-77-MA"},
        "items": [{"sequence": 1, "hs_code": "520100", "description": "Raw cotton", "gross_mass": "20000"}],
        "registered_at": (now - timedelta(hours=registered_hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_limit": (now - timedelta(hours=registered_hours_ago) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def receive_transit(node: Any, doc: dict[str, Any]) -> str:
    with write(node.engine) as conn:
        transit_service.on_transit_declaration(conn, node.context, sender="ML-AVANCE", message_id=None, payload=doc)
    return doc["mrn"]


@pytest.fixture(scope="module")
def live(shared_api):
    """One Senegalese node served over HTTP per store engine, shared by this module's tests (each
    test uses its own references), partnered with CI, GH and ML."""
    exchange_ready(shared_api.node)
    return shared_api


# --- who may do what ----------------------------------------------------------------------------


ROUTES = [("GET", "/transits"), ("GET", "/transits/guarantees"), ("GET", "/matching/results"), ("GET", "/matching/declarations/1"), ("POST", "/transits")]


def test_declarants_see_no_movement_and_no_mirror_control(live):
    with live.client("broker", lang="en") as http, live.client(None) as anonymous:
        for method, path in ROUTES:
            response = http.request(method, path, json=sn_registration() if method == "POST" else None)
            assert response.status_code == 403 and response.headers["content-type"].startswith(PROBLEM), path
            assert anonymous.request(method, path).status_code == 401


def test_analysts_read_but_only_officers_act(live):
    with live.client("analyst") as http:
        assert http.get("/transits").status_code == 200
        assert http.post("/transits", json=sn_registration(lrn="SN-TR-ANALYST")).status_code == 403
        assert http.post("/matching/export-notices", json=notice(exporting_country="SN", destination_country="CI")).status_code == 403


# --- transit over HTTP ----------------------------------------------------------------------------


def test_an_officer_registers_a_transit_and_a_retry_returns_the_same_movement(live):
    doc = sn_registration(principal={"id": "SN0044444T4", "name": "Transports du Sahel SA", "country": "SN"})
    with live.client("officer", lang="fr") as http:
        created = http.post("/transits", json=doc)
        assert created.status_code == 201, created.text
        mrn = created.json()["mrn"]
        assert created.headers["location"] == f"/transits/{mrn}" and created.json()["status_label"] == "enregistré"
        again = http.post("/transits", json=doc)
        assert again.status_code == 200 and again.json()["mrn"] == mrn
        other = http.post("/transits", json=doc | {"seals": ["SN000000"]})
        assert other.status_code == 409 and other.headers["content-type"].startswith(PROBLEM)
        assert other.json()["code"] == "transit.conflict.lrn_taken" and "SN-TR-2026-0001" in other.json()["detail"]
        shown = http.get(f"/transits/{mrn}").json()
        assert shown["role"] == "departure" and [e["kind"] for e in shown["events"]] == ["registered"]
        balances = http.get("/transits/guarantees", params={"principal": "SN0044444T4"}).json()["items"]
    assert balances == [
        {"principal_id": "SN0044444T4", "principal_name": "Transports du Sahel SA", "guarantee_reference": "GRN-SN-2026-0007", "currency": "XOF", "held": "12500000", "open_movements": 1}
    ]
    [message] = [m for m in queued(live.node, "transit-declaration") if m["movement"] == mrn]
    assert message["recipient"] == "ML-AVANCE" and message["payload"]["mrn"] == mrn


def test_illegal_steps_answer_409_problems_in_the_callers_language(live):
    with live.client("officer", lang="en") as http:
        mrn = http.post("/transits", json=sn_registration(lrn="SN-TR-ILLEGAL")).json()["mrn"]
        arrival = http.post(f"/transits/{mrn}/arrival", json={})  # this node is the departure, not the destination
        assert arrival.status_code == 409 and arrival.json()["code"] == "transit.conflict.not_destination"
        assert arrival.headers["content-type"].startswith(PROBLEM) and "destination" in arrival.json()["detail"]

        inbound_mrn = receive_transit(live.node, inbound(lrn="ML-TR-ILLEGAL"))
        assert http.post(f"/transits/{inbound_mrn}/discharge").json()["code"] == "transit.conflict.not_arrived"
        assert http.post(f"/transits/{inbound_mrn}/arrival", json={"seals_intact": True}).json()["status"] == "arrived"
        twice = http.post(f"/transits/{inbound_mrn}/arrival", json={})
        assert twice.status_code == 409 and twice.json()["code"] == "transit.conflict.already_arrived"
        assert http.post(f"/transits/{inbound_mrn}/discharge", json={"remarks": "RAS"}).json()["status"] == "discharged"
        assert http.post(f"/transits/{inbound_mrn}/discharge").status_code == 409
    assert [m["type"] for m in queued(live.node) if m["recipient"] == "ML-AVANCE" and m["movement"] == inbound_mrn] == ["arrival-notification", "discharge"]
    with live.client("officer", lang="fr") as http:
        french = http.post(f"/transits/{inbound_mrn}/arrival", json={})
    assert french.json()["detail"] == "L'arrivée est déjà enregistrée."


def test_unknown_or_malformed_references_are_404_and_422(live):
    with live.client("officer") as http:
        assert http.get(f"/transits/{transit_model.make_mrn('SN', datetime.now(timezone.utc))}").status_code == 404
        malformed = http.get("/transits/NOT-AN-MRN")
        assert malformed.status_code == 422 and malformed.json()["errors"][0]["parameter"] == "mrn"
        assert http.get("/matching/results/999").status_code == 404
        assert http.get("/matching/declarations/999").status_code == 404
        assert http.get("/transits", params={"status": "lost"}).status_code == 422


def test_overdue_movements_are_listed_with_their_flag(live):
    late = receive_transit(live.node, inbound(lrn="ML-TR-LATE", hours=2, registered_hours_ago=30))
    on_time = receive_transit(live.node, inbound(lrn="ML-TR-OK", hours=72))
    with live.client("analyst", lang="en") as http:
        listed = http.get("/transits", params={"status": "overdue"}).json()
        detail = http.get(f"/transits/{on_time}").json()
    overdue = {m["mrn"]: m for m in listed["items"]}
    assert late in overdue and on_time not in overdue and overdue[late]["overdue"] is True
    assert detail["overdue"] is False and detail["status_label"] == "registered"


# --- mirror control over HTTP ---------------------------------------------------------------------


def test_an_officer_sends_an_export_notice_once(live):
    doc = notice(reference="SN-EX-2026-77", exporting_country="SN", destination_country="CI", office_of_exit="SN-DKR-PORT")
    with live.client("officer") as http:
        first = http.post("/matching/export-notices", json=doc)
        assert first.status_code == 201, first.text
        assert http.post("/matching/export-notices", json=doc).status_code == 200
        listed = http.get("/matching/results", params={"direction": "sent"}).json()
    assert [(n["export_reference"], n["outcome"], n["partner"]) for n in listed["items"] if n["export_reference"] == "SN-EX-2026-77"] == [("SN-EX-2026-77", "pending", "CI-AVANCE")]
    assert [m["recipient"] for m in queued(live.node, "export-declaration-notice") if m["payload"]["export_declaration_reference"] == "SN-EX-2026-77"] == ["CI-AVANCE"]


def test_the_mirror_control_shows_on_the_declaration_with_its_reasons(live):
    declaration_id = lodge(live.node, xof_declaration(lrn="2026-DKR-MIRROR1", value="10000000", transport_document_reference="GRIM9000001"))
    doc = notice(reference="CI-EX-MIRROR1", value="20000000", transport_document_reference="GRIM9000001", ucr="UCR-MIRROR1")
    with write(live.node.engine) as conn:
        matching_service.on_export_notice(conn, live.node.context, sender="CI-AVANCE", message_id=None, payload=doc)
    with live.client("officer", lang="fr") as http:
        view = http.get(f"/matching/declarations/{declaration_id}").json()
        results = http.get("/matching/results", params={"outcome": "non_conforme"}).json()
        declaration = http.get(f"/declarations/{declaration_id}").json()
    assert view["outcome"] == "non_conforme" and view["outcome_label"] == "non conforme" and view["suggested_lane"] == "red"
    assert any("-50.0 %" in r["detail"] for r in view["reasons"])
    [match] = view["matches"]
    assert match["revenue_gap"] == "4431400" and match["gaps"][0]["label"] == "valeur"
    assert declaration_id in [r["declaration_id"] for r in results["items"]] and declaration["lane"] == "red"


def test_a_declaration_lodged_after_its_notice_is_matched_at_lodging(live):
    doc = notice(reference="CI-EX-LATER1", transport_document_reference="GRIM9000002", ucr="UCR-LATER1")
    with write(live.node.engine) as conn:
        matching_service.on_export_notice(conn, live.node.context, sender="CI-AVANCE", message_id=None, payload=doc)
    declaration_id = lodge(live.node, xof_declaration(lrn="2026-DKR-LATER1", transport_document_reference="GRIM9000002"))
    with live.client("officer", lang="en") as http:
        seen = http.get(f"/matching/declarations/{declaration_id}").json()
        again = http.post(f"/matching/declarations/{declaration_id}/match").json()  # asking again changes nothing
    assert seen["outcome"] == "conforme" and seen["matches"][0]["declaration_id"] == declaration_id
    assert again["outcome"] == "conforme" and len(again["matches"]) == 1


# --- whatever a client sends ----------------------------------------------------------------------


def _counts(node: Any) -> tuple[int, ...]:
    with node.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (transit_movements, transit_events, export_notices, exchange_outbox))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=mutated_message(sn_registration(lrn="SN-TR-PROP")))
def test_a_bad_transit_registration_is_a_422_and_stores_nothing(live, body):
    before = _counts(live.node)
    with live.client("officer", lang="en") as http:
        response = http.post("/transits", json=body)
    assert response.status_code in (200, 201, 409, 422), response.text
    after = _counts(live.node)
    if response.status_code == 201:
        assert after[0] == before[0] + 1
    else:
        assert after == before
        if response.status_code != 200:
            assert response.headers["content-type"].startswith(PROBLEM) and response.json()["detail"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=mutated_message(notice(reference="SN-EX-PROP", exporting_country="SN", destination_country="CI")))
def test_a_bad_export_notice_is_a_422_and_queues_nothing(live, body):
    before = _counts(live.node)
    with live.client("officer", lang="fr") as http:
        response = http.post("/matching/export-notices", json=body)
    assert response.status_code in (200, 201, 409, 422), response.text
    if response.status_code in (409, 422):
        assert _counts(live.node) == before and response.headers["content-type"].startswith(PROBLEM)


# --- the command line -----------------------------------------------------------------------------


def run_cli(args: list[str], node: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """``avance ...`` in-process against ``node``'s database."""
    from avance.__main__ import main
    from avance.kit.settings import get_settings

    monkeypatch.setenv("AVANCE_DATA_DIR", str(node.settings.data_dir))
    monkeypatch.setenv("AVANCE_DATABASE_URL", node.settings.resolved_database_url())
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "argv", ["avance", *args])
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        get_settings.cache_clear()
    return code, out.getvalue(), err.getvalue()


def test_the_command_line_lists_movements_guarantees_overdue_ones_and_match_results(sqlite_node, monkeypatch):
    exchange_ready(sqlite_node)
    late = receive_transit(sqlite_node, inbound(lrn="ML-TR-LATE", hours=2, registered_hours_ago=30))
    with write(sqlite_node.engine) as conn:
        transit_service.register(conn, sqlite_node.context, transit_model.TransitRegistration.model_validate(sn_registration()), Principal(None, "cli", Role.ADMIN))
        notice_id = matching_service.on_export_notice(conn, sqlite_node.context, sender="CI-AVANCE", message_id=None, payload=notice(export_date="2020-01-01"))

    code, out, _ = run_cli(["transit", "list", "--json"], sqlite_node, monkeypatch)
    assert code == 0 and {json.loads(line)["role"] for line in out.splitlines()} == {"departure", "destination"}
    code, out, _ = run_cli(["transit", "overdue", "--json"], sqlite_node, monkeypatch)
    assert [(json.loads(line)["mrn"], json.loads(line)["alert_raised_now"]) for line in out.splitlines()] == [(late, True)]
    code, out, _ = run_cli(["transit", "overdue", "--json"], sqlite_node, monkeypatch)
    assert json.loads(out)["alert_raised_now"] is False
    code, out, _ = run_cli(["transit", "show", late], sqlite_node, monkeypatch)
    assert code == 0 and "overdue" in out and "Alert" in out
    code, out, _ = run_cli(["transit", "guarantees", "--json"], sqlite_node, monkeypatch)
    assert json.loads(out) == {"principal_id": "SN0055555T5", "principal_name": "Kidira Logistique", "guarantee_reference": "GRN-SN-2026-0007", "currency": "XOF", "held": "12500000", "open_movements": 1}

    code, out, _ = run_cli(["matching", "sweep", "--as-of", "2020-01-15"], sqlite_node, monkeypatch)
    assert code == 0 and "0 export notice" in out
    code, out, _ = run_cli(["matching", "sweep"], sqlite_node, monkeypatch)
    assert code == 0 and "1 export notice" in out
    code, out, _ = run_cli(["matching", "list", "--outcome", "non_retrouvee", "--json"], sqlite_node, monkeypatch)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [notice_id]
    code, out, _ = run_cli(["matching", "show", str(notice_id)], sqlite_node, monkeypatch)
    assert code == 0 and "not found (non retrouvée)" in out


@pytest.mark.parametrize(
    "args",
    [
        ["transit", "show", "26XX0000000000000"],
        ["transit", "list", "--status", "lost"],
        ["matching", "show", "999"],
        ["matching", "show", "abc"],
        ["matching", "sweep", "--as-of", "2026-02-30"],
        ["matching", "sweep", "--days", "-3"],
    ],
)
def test_bad_command_line_input_is_one_line_and_exit_code_2(sqlite_node, monkeypatch, args):
    code, _, err = run_cli(args, sqlite_node, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
