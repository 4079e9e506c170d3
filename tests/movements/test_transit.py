"""SIGMAT-style transit between three administrations: Tema (Ghana) -> Noé (Côte d'Ivoire) -> Bamako (Mali).

The office of departure registers the movement with its guarantee and tells the en-route and
destination nodes; passage, arrival and discharge flow back; discharge releases the guarantee; a
movement that misses its time limit raises an alert. Here the messages are handed from node to node
by the test (as the inbox would apply them); test_movements_three_nodes.py runs the real exchange.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select

from avance.auth.model import Principal, Role
from avance.kit.settings import Settings
from avance.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from avance.movements.transit import model as transit_model
from avance.movements.transit import service as transit_service
from avance.movements.payloads import TransitDeclaration
from avance.bootstrap import Node
from avance.store.engine import make_engine, write
from avance.movements.tables import transit_alerts, transit_events, transit_movements
from tests.support import PARTNERS, exchange_ready, make_node, queued

OFFICER = Principal(user_id=None, name="officer", role=Role.OFFICER)
ANALYST = Principal(user_id=None, name="analyst", role=Role.ANALYST)


def registration(lrn: str = "GH-TR-2026-0001", hours: int = 72, **overrides: Any) -> dict[str, Any]:
    """Rice from Tema port to Bamako by road, through Côte d'Ivoire, under a GHS guarantee."""
    doc: dict[str, Any] = {
        "lrn": lrn,
        "departure_office": "GH-TEM-PORT",
        "itinerary": ["CI-NOE-ROAD"],
        "destination_office": "ML-BKO-ROAD",
        "principal": {"id": "GH0012345T1", "name": "Sahel Transit Ltd", "country": "GH"},
        "guarantee": {"reference": "GRN-GH-2026-0042", "amount": {"amount": "150000.00", "currency": "GHS"}},
        "transport_means": {"mode_code": 3, "identification": "GT-4521-26", "nationality": "GH"},
        "seals": ["GHS778812", "GHS778813"],
        "items": [
            {
                "sequence": 1,
                "hs_code": "100630",
                "description": "Milled rice in 25 kg bags",
                "origin_country": "TH",
                "gross_mass": "30150",
                "net_mass": "30000",
                "packages": {"quantity": 1200, "type_code": "BG"},
            }
        ],
        "time_limit": (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat(),
    }
    doc.update(overrides)
    return doc


class Nodes:
    """Three in-process nodes, and a hand-carried exchange between them."""

    def __init__(self, gh: Any, ci: Any, ml: Any) -> None:
        self.gh, self.ci, self.ml = gh, ci, ml
        self.delivered: set[str] = set()

    def deliver(self, source: Any, target: Any) -> list[str]:
        """Apply at ``target`` what ``source`` queued for it, in order (once each); the types applied."""
        sender = PARTNERS[source.context.country]
        recipient = PARTNERS[target.context.country]
        applied = []
        for row in queued(source):
            if row["recipient"] != recipient or row["message_id"] in self.delivered:
                continue
            with write(target.engine) as conn:
                ctx = target.context
                if row["type"] == "transit-declaration":
                    transit_service.on_transit_declaration(conn, ctx, sender=sender, message_id=row["message_id"], payload=row["payload"])
                else:
                    transit_service.on_notification(conn, ctx, row["type"], sender=sender, message_id=row["message_id"], payload=row["payload"])
            self.delivered.add(row["message_id"])
            applied.append(row["type"])
        return applied


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Path:
    """Three initialised, partnered nodes on SQLite, set up once and copied for each test."""
    root = tmp_path_factory.mktemp("transit-templates")
    for country in ("GH", "CI", "ML"):
        folder = root / country
        folder.mkdir()
        n = make_node(f"sqlite:///{(folder / 'avance.db').as_posix()}", folder, country=country)
        exchange_ready(n)
        n.engine.dispose()
    return root


@pytest.fixture
def nodes(templates, tmp_path) -> Iterator[Nodes]:
    made = []
    for country in ("GH", "CI", "ML"):
        folder = tmp_path / country
        shutil.copytree(templates / country, folder)
        url = f"sqlite:///{(folder / 'avance.db').as_posix()}"
        made.append(Node(Settings(data_dir=folder, database_url=url, country=country), make_engine(url)))
    yield Nodes(*made)
    for n in made:
        n.engine.dispose()


def register(node: Any, doc: dict[str, Any], principal: Principal = OFFICER) -> transit_service.Registration:
    with write(node.engine) as conn:
        return transit_service.register(conn, node.context, transit_model.TransitRegistration.model_validate(doc), principal)


def movement(node: Any, mrn: str) -> Any:
    with node.engine.connect() as conn:
        return transit_service.get(conn, mrn)[0]


def act(node: Any, what: str, mrn: str, body: dict[str, Any] | None = None, now: datetime | None = None) -> str:
    records = {"passage": transit_model.PassageRecord, "arrival": transit_model.ArrivalRecord, "discharge": transit_model.DischargeRecord}
    functions = {"passage": transit_service.record_passage, "arrival": transit_service.record_arrival, "discharge": transit_service.discharge}
    with write(node.engine) as conn:
        return functions[what](conn, node.context, mrn, records[what].model_validate(body or {}), OFFICER, now=now)


def counts(node: Any) -> tuple[int, int]:
    with node.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (transit_movements, transit_events))  # type: ignore[return-value]


# --- registration ---------------------------------------------------------------------------------


def test_departure_registers_the_movement_and_tells_the_en_route_and_destination_nodes_at_once(nodes):
    registered = register(nodes.gh, registration())
    assert transit_model.mrn_ok(registered.mrn) and registered.mrn.startswith(f"{datetime.now(timezone.utc).year % 100:02d}GH")
    row = movement(nodes.gh, registered.mrn)
    assert row["status"] == "registered" and row["role"] == "departure" and row["departure_node"] == "GH-AVANCE"
    messages = queued(nodes.gh, "transit-declaration")
    assert [m["recipient"] for m in messages] == ["CI-AVANCE", "ML-AVANCE"]
    assert all(m["movement"] == registered.mrn for m in messages)
    declaration = TransitDeclaration.model_validate(messages[0]["payload"])
    assert declaration.guarantee.amount.amount == Decimal("150000.00") and [o.office_code for o in declaration.itinerary] == ["CI-NOE-ROAD"]
    with nodes.gh.engine.connect() as conn:
        [balance] = transit_service.guarantee_balances(conn)
    assert (balance.guarantee_reference, balance.held, balance.currency, balance.open_movements) == ("GRN-GH-2026-0042", Decimal("150000"), "GHS", 1)


def test_the_same_registration_sent_again_returns_the_first_and_another_with_that_lrn_is_refused(nodes):
    doc = registration()
    first = register(nodes.gh, doc)
    again = register(nodes.gh, doc)
    assert again == transit_service.Registration(first.mrn, replayed=True)
    assert len(queued(nodes.gh)) == 2
    with pytest.raises(Conflict) as caught:
        register(nodes.gh, doc | {"seals": ["OTHER1"]})
    assert caught.value.code == "transit.conflict.lrn_taken"


def test_a_wrong_registration_is_refused_whole_with_every_problem(nodes):
    before = counts(nodes.gh)
    doc = registration(
        departure_office="CI-ABJ-PORT",
        itinerary=["GH-AFL-ROAD", "XX-NOWHERE"],
        destination_office="NG-SEM-ROAD",
        time_limit="2020-01-01T00:00:00Z",
    )
    with pytest.raises(ValidationFailed) as caught:
        register(nodes.gh, doc)
    assert sorted((i.pointer, i.code) for i in caught.value.issues) == [
        ("/departure_office", "transit.departure_not_ours"),
        ("/destination_office", "movements.no_partner"),
        ("/itinerary/0", "transit.passage_at_home"),
        ("/itinerary/1", "transit.office_unknown"),
        ("/time_limit", "transit.time_limit_past"),
    ]
    assert counts(nodes.gh) == before and queued(nodes.gh) == []


def test_only_officers_register_and_record(nodes):
    with pytest.raises(Forbidden):
        register(nodes.gh, registration(), principal=ANALYST)


# --- the movement across three countries ---------------------------------------------------------


def test_a_transit_across_three_countries_releases_the_guarantee_at_departure(nodes):
    mrn = register(nodes.gh, registration()).mrn
    assert nodes.deliver(nodes.gh, nodes.ci) == ["transit-declaration"]
    assert nodes.deliver(nodes.gh, nodes.ml) == ["transit-declaration"]
    assert movement(nodes.ci, mrn)["role"] == "en_route" and movement(nodes.ml, mrn)["role"] == "destination"

    assert act(nodes.ci, "passage", mrn, {"office_code": "CI-NOE-ROAD"}) == "in_transit"
    assert sorted(m["recipient"] for m in queued(nodes.ci, "passage-notification")) == ["GH-AVANCE", "ML-AVANCE"]
    nodes.deliver(nodes.ci, nodes.gh)
    nodes.deliver(nodes.ci, nodes.ml)
    assert movement(nodes.gh, mrn)["status"] == "in_transit" and movement(nodes.ml, mrn)["status"] == "in_transit"

    assert act(nodes.ml, "arrival", mrn) == "arrived"
    assert nodes.deliver(nodes.ml, nodes.gh) == ["arrival-notification"]
    assert movement(nodes.gh, mrn)["status"] == "arrived"
    with nodes.gh.engine.connect() as conn:
        assert transit_service.guarantee_balances(conn)[0].held == Decimal("150000")  # held until discharge

    assert act(nodes.ml, "discharge", mrn, {"remarks": "Scellés intacts, 1200 sacs"}) == "discharged"
    assert nodes.deliver(nodes.ml, nodes.gh) == ["discharge"]
    with nodes.gh.engine.connect() as conn:
        row, events, alert = transit_service.get(conn, mrn)
    assert row["status"] == "discharged" and row["guarantee_released_at"] is not None and alert is None
    assert [(e["kind"], e["office_code"], e["source_node"]) for e in events] == [
        ("registered", "GH-TEM-PORT", None),
        ("passage", "CI-NOE-ROAD", "CI-AVANCE"),
        ("arrival", "ML-BKO-ROAD", "ML-AVANCE"),
        ("discharge", "ML-BKO-ROAD", "ML-AVANCE"),
    ]
    with nodes.gh.engine.connect() as conn:
        assert transit_service.guarantee_balances(conn) == []


def test_arrival_with_intact_seals_can_discharge_at_once(nodes):
    mrn = register(nodes.gh, registration()).mrn
    nodes.deliver(nodes.gh, nodes.ml)
    assert act(nodes.ml, "arrival", mrn, {"discharge": True}) == "discharged"
    assert nodes.deliver(nodes.ml, nodes.gh) == ["arrival-notification", "discharge"]
    assert movement(nodes.gh, mrn)["guarantee_released_at"] is not None
    with pytest.raises(ValidationFailed):  # broken seals: arrival first, discharge with reservations after
        act(nodes.ml, "arrival", register_and_deliver(nodes, "GH-TR-2026-0009"), {"discharge": True, "seals_intact": False})


def register_and_deliver(nodes: Nodes, lrn: str) -> str:
    mrn = register(nodes.gh, registration(lrn=lrn)).mrn
    nodes.deliver(nodes.gh, nodes.ci)
    nodes.deliver(nodes.gh, nodes.ml)
    return mrn


@pytest.mark.parametrize(
    "steps, expected",
    [
        ([("ml", "discharge", {})], "transit.conflict.not_arrived"),
        ([("ml", "arrival", {}), ("ml", "arrival", {})], "transit.conflict.already_arrived"),
        ([("ml", "arrival", {}), ("ml", "discharge", {}), ("ml", "discharge", {})], "transit.conflict.already_discharged"),
        ([("ci", "passage", {"office_code": "CI-NOE-ROAD"}), ("ci", "passage", {"office_code": "CI-NOE-ROAD"})], "transit.conflict.already_passed"),
        ([("ci", "arrival", {})], "transit.conflict.not_destination"),
        ([("ml", "passage", {"office_code": "ML-KYS-ROAD"})], None),  # not on the itinerary: 422, see below
    ],
)
def test_illegal_steps_are_conflicts_and_change_nothing(nodes, steps, expected):
    mrn = register_and_deliver(nodes, "GH-TR-2026-0002")
    *before, (who, what, body) = steps
    for w, action, b in before:
        act(getattr(nodes, w), action, mrn, b)
    node = getattr(nodes, who)
    snapshot = counts(node), len(queued(node))
    if expected is None:
        with pytest.raises(ValidationFailed) as caught:
            act(node, what, mrn, body)
        assert caught.value.issues[0].code == "transit.office_not_on_itinerary"
    else:
        with pytest.raises(Conflict) as caught:
            act(node, what, mrn, body)
        assert caught.value.code == expected and caught.value.status == 409
    assert (counts(node), len(queued(node))) == snapshot


def test_passage_at_the_destinations_border_office_then_arrival_and_never_passage_after_arrival(nodes):
    """An office of entry into the country of destination is an office of passage too."""
    mrn = register(nodes.gh, registration(lrn="GH-TR-2026-0003", itinerary=["CI-NOE-ROAD", "ML-KYS-ROAD"])).mrn
    nodes.deliver(nodes.gh, nodes.ml)
    assert act(nodes.ml, "passage", mrn, {"office_code": "ML-KYS-ROAD"}) == "in_transit"
    assert [m["recipient"] for m in queued(nodes.ml, "passage-notification")] == ["GH-AVANCE"]  # not to itself
    act(nodes.ml, "arrival", mrn)
    with pytest.raises(Conflict) as caught:
        act(nodes.ml, "passage", mrn, {"office_code": "ML-KYS-ROAD"})
    assert caught.value.code in ("transit.conflict.passage_after_arrival", "transit.conflict.already_passed")


def test_times_in_the_future_or_before_registration_are_refused(nodes):
    mrn = register_and_deliver(nodes, "GH-TR-2026-0004")
    with pytest.raises(ValidationFailed) as caught:
        act(nodes.ci, "passage", mrn, {"office_code": "CI-NOE-ROAD", "passed_at": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()})
    assert caught.value.issues[0].code == "transit.in_future"
    with pytest.raises(ValidationFailed) as caught:
        act(nodes.ml, "arrival", mrn, {"arrived_at": "2020-01-01T00:00:00Z"})
    assert caught.value.issues[0].code == "transit.before_registration"


# --- notifications in any order -----------------------------------------------------------------


def test_notifications_may_overtake_each_other_and_the_status_never_goes_back(nodes):
    mrn = register_and_deliver(nodes, "GH-TR-2026-0005")
    act(nodes.ci, "passage", mrn, {"office_code": "CI-NOE-ROAD"})
    act(nodes.ml, "arrival", mrn)
    nodes.deliver(nodes.ml, nodes.gh)  # arrival reaches departure before passage
    assert movement(nodes.gh, mrn)["status"] == "arrived"
    nodes.deliver(nodes.ci, nodes.gh)
    assert movement(nodes.gh, mrn)["status"] == "arrived"
    with nodes.gh.engine.connect() as conn:
        assert [e["kind"] for e in transit_service.get(conn, mrn)[1]] == ["registered", "passage", "arrival"]


def test_a_passage_notified_before_the_declaration_arrives_is_kept_and_counted(nodes):
    mrn = register(nodes.gh, registration(lrn="GH-TR-2026-0006")).mrn
    nodes.deliver(nodes.gh, nodes.ci)
    act(nodes.ci, "passage", mrn, {"office_code": "CI-NOE-ROAD"})
    assert nodes.deliver(nodes.ci, nodes.ml) == ["passage-notification"]  # Mali does not know the movement yet
    assert nodes.deliver(nodes.gh, nodes.ml) == ["transit-declaration"]
    assert movement(nodes.ml, mrn)["status"] == "in_transit"


def test_partners_cannot_report_for_unknown_movements_of_this_node_or_for_its_own_offices(nodes):
    mrn = register_and_deliver(nodes, "GH-TR-2026-0007")
    notification = {"mrn": mrn, "office": {"office_code": "GH-AFL-ROAD", "country": "GH"}, "passed_at": "2026-01-01T00:00:00Z", "seals_intact": True}
    with pytest.raises(ValidationFailed), write(nodes.gh.engine) as conn:
        transit_service.on_notification(conn, nodes.gh.context, "passage-notification", sender="CI-AVANCE", message_id=None, payload=notification)
    unknown = transit_model.make_mrn("GH", datetime.now(timezone.utc))
    with pytest.raises(NotFound), write(nodes.gh.engine) as conn:
        transit_service.on_notification(conn, nodes.gh.context, "arrival-notification", sender="ML-AVANCE", message_id=None, payload={
            "mrn": unknown, "office": {"office_code": "ML-BKO-ROAD", "country": "ML"}, "arrived_at": "2026-01-01T00:00:00Z", "seals_intact": True
        })
    wrong = {"mrn": mrn, "office": {"office_code": "ML-BKO-ROAD", "country": "ML"}, "discharged_at": "2026-01-01T00:00:00Z", "guarantee_reference": "OTHER", "released_amount": {"amount": "1", "currency": "GHS"}}
    with pytest.raises(ValidationFailed) as caught, write(nodes.gh.engine) as conn:
        transit_service.on_notification(conn, nodes.gh.context, "discharge", sender="ML-AVANCE", message_id=None, payload=wrong)
    assert caught.value.issues[0].code == "transit.guarantee_mismatch"


def test_a_transit_declaration_for_a_country_not_concerned_is_refused(nodes):
    register(nodes.gh, registration(lrn="GH-TR-2026-0008", itinerary=[]))
    [to_ml] = queued(nodes.gh, "transit-declaration")
    with pytest.raises(ValidationFailed) as caught, write(nodes.ci.engine) as conn:
        transit_service.on_transit_declaration(conn, nodes.ci.context, sender="GH-AVANCE", message_id=None, payload=to_ml["payload"])
    assert caught.value.issues[0].code == "transit.not_concerned"
    bad = dict(to_ml["payload"], mrn=to_ml["payload"]["mrn"][:17] + str((int(to_ml["payload"]["mrn"][17]) + 1) % 10))
    with pytest.raises(ValidationFailed) as caught, write(nodes.ml.engine) as conn:
        transit_service.on_transit_declaration(conn, nodes.ml.context, sender="GH-AVANCE", message_id=None, payload=bad)
    assert caught.value.issues[0].code == "transit.mrn_check_digit"


# --- overdue movements and guarantees --------------------------------------------------------------


def test_an_overdue_movement_raises_one_alert_at_departure_and_destination(nodes, caplog):
    mrn = register_and_deliver(nodes, "GH-TR-2026-0010")
    late = movement(nodes.gh, mrn)["time_limit"] + timedelta(hours=5)
    for node in (nodes.gh, nodes.ml, nodes.ci):
        with write(node.engine) as conn:
            assert transit_service.raise_overdue_alerts(conn) == []  # the time limit has not passed yet
        with caplog.at_level(logging.WARNING, logger="avance.transit"), write(node.engine) as conn:
            raised = transit_service.raise_overdue_alerts(conn, now=late)
        assert raised == ([] if node is nodes.ci else [mrn])  # the en-route node does not follow arrival
    assert sum(mrn in r.getMessage() and "overdue" in r.getMessage() for r in caplog.records) == 2
    with write(nodes.gh.engine) as conn:
        assert transit_service.raise_overdue_alerts(conn, now=late + timedelta(hours=1)) == []  # once
        rows, total = transit_service.search(conn, status="overdue", now=late)
        assert [r["mrn"] for r in rows] == [mrn] and total == 1
        assert conn.execute(select(func.count()).select_from(transit_alerts)).scalar_one() == 1
        assert transit_service.search(conn, status="overdue")[1] == 0  # not late yet, really


def test_an_arrived_movement_is_not_overdue(nodes):
    mrn = register_and_deliver(nodes, "GH-TR-2026-0011")
    act(nodes.ml, "arrival", mrn)
    late = movement(nodes.ml, mrn)["time_limit"] + timedelta(days=1)
    with write(nodes.ml.engine) as conn:
        assert transit_service.raise_overdue_alerts(conn, now=late) == []


def test_guarantee_balances_add_up_open_movements_per_guarantee_and_principal(nodes):
    register(nodes.gh, registration(lrn="A1"))
    register(nodes.gh, registration(lrn="A2", guarantee={"reference": "GRN-GH-2026-0042", "amount": {"amount": "0.10", "currency": "GHS"}}))
    register(nodes.gh, registration(lrn="B1", principal={"id": "GH0099999Z9", "name": "Volta Logistics"}, guarantee={"reference": "GRN-7", "amount": {"amount": "1000000", "currency": "XOF"}}))
    with nodes.gh.engine.connect() as conn:
        balances = transit_service.guarantee_balances(conn)
        only = transit_service.guarantee_balances(conn, principal_id="GH0099999Z9")
    assert [(b.principal_id, b.guarantee_reference, b.held, b.currency, b.open_movements) for b in balances] == [
        ("GH0012345T1", "GRN-GH-2026-0042", Decimal("150000.10"), "GHS", 2),
        ("GH0099999Z9", "GRN-7", Decimal("1000000"), "XOF", 1),
    ]
    assert [b.principal_id for b in only] == ["GH0099999Z9"]


# --- pure rules ------------------------------------------------------------------------------------


def test_mrns_carry_a_check_digit():
    mrn = transit_model.make_mrn("GH", datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert len(mrn) == 18 and mrn[:4] == "26GH" and transit_model.mrn_ok(mrn)
    assert not transit_model.mrn_ok(mrn[:17] + str((int(mrn[17]) + 1) % 10))
    assert transit_model.mrn_check_digit("CSQU305438") == "3"  # the ISO 6346 weighting, checked on a real container number


def test_the_status_is_the_furthest_step_known():
    assert transit_model.status_of([]) == "registered"
    assert transit_model.status_of(["registered", "arrival", "passage"]) == "arrived"
    assert transit_model.status_of(["discharge"]) == "discharged"
    now = datetime.now(timezone.utc)
    assert transit_model.is_overdue("in_transit", now - timedelta(seconds=1), now)
    assert not transit_model.is_overdue("arrived", now - timedelta(days=9), now)
