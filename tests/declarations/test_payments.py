"""What is due is paid before the goods leave: supplements found at control, partial payments,
receipts used once, and what a post-clearance audit finds owed by the importer. Over real HTTP."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from avance import migrations
from avance.auth.model import SYSTEM
from avance.bootstrap import init_node
from avance.declarations import service
from avance.declarations.assessment import Lane
from avance.declarations.tables import declaration_events, declarations
from avance.kit.errors import Conflict
from avance.store.engine import make_engine, write
from tests.support import declaration, lodge_document, run_avance

IMPORTER = "SN0098765B2"


def car(lrn: str) -> dict[str, Any]:
    """The used car of ``tests.support.declaration`` (yellow lane), under its own bill of lading."""
    return declaration(lrn=lrn, transport_document_reference=f"BL-{lrn}")


def rice(lrn: str) -> dict[str, Any]:
    """Bags of rice from Thailand: no rule selects them, so they go green unless drawn at random."""
    doc = declaration(lrn=lrn, transport_document_reference=f"BL-{lrn}", invoice_currency="USD", total_package_quantity=500)
    item = doc["goods_items"][0]
    item.update(hs_code="1006300000", description="Riz blanchi", origin_country="TH", net_mass="25000", gross_mass="25200")
    item["packages"] = [{"quantity": 500, "type_code": "BG"}]
    return doc


def green_lodging(api: Any, prefix: str) -> dict[str, Any]:
    """A declaration the risk engine sent to the green lane (trying LRNs past the random draw)."""
    with api.client("broker") as broker:
        for n in range(40):
            lodged = broker.post("/declarations", json=rice(f"{prefix}-{n}")).json()
            if lodged["lane"] == "green":
                return lodged
    raise AssertionError("no green lane in 40 lodgings")


def raise_lane(api: Any, declaration_id: int, lane: Lane) -> None:
    """What mirror control does when the partner's export data disagree."""
    with write(api.node.engine) as conn:
        assert service.raise_lane(conn, declaration_id, lane, [], actor="mirror-control", source="mirror_control") is lane


def test_duty_found_at_control_after_payment_is_paid_before_the_green_goods_leave(api):
    lodged = green_lodging(api, "SUPP")
    url = lodged["location"]
    with api.client("officer", lang="en") as officer:
        paid = officer.post(f"{url}/payment", json={"amount": lodged["duty_total"], "receipt": "SUPP-Q1"})
        assert paid.status_code == 200, paid.text
        found = officer.post(
            f"{url}/inspection-result",
            json={"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "5000000", "findings": "Facture minorée"},
        )
        assert found.status_code == 200, found.text
        assert found.json()["amount_outstanding"] == "5000000"
        arrived = officer.post(f"{url}/arrival", json={})
        assert arrived.status_code == 200, arrived.text
        assert arrived.json()["status"] == "inspected"  # not released: the supplement is unpaid
        blocked = officer.post(f"{url}/release")
        assert blocked.status_code == 409
        assert blocked.json()["code"] == "conflict.release_blocked"
        assert "5,000,000" in blocked.json()["detail"] and "XOF" in blocked.json()["detail"]
        detail = officer.get(url).json()
        assert (detail["amount_due"], detail["amount_paid"], detail["amount_outstanding"]) == (
            str(Decimal(lodged["duty_total"]) + 5000000),
            lodged["duty_total"],
            "5000000",
        )
        supplement = [e for e in detail["events"] if e["kind"] == "supplement"]
        assert supplement[0]["data"]["amount"] == "5000000" and supplement[0]["data"]["source"] == "inspection"
        assert supplement[0]["actor"] == "officer"
        settled = officer.post(f"{url}/payment", json={"amount": "5000000", "receipt": "SUPP-Q2"})
        assert settled.status_code == 200, settled.text
        assert settled.json()["status"] == "released"  # green: released the moment all is paid
        assert settled.json()["amount_outstanding"] == "0"
    with api.client("officer", lang="fr") as officer:
        other = green_lodging(api, "SUPP-FR")
        officer.post(f"{other['location']}/payment", json={"amount": other["duty_total"], "receipt": "SUPP-FR-Q1"})
        officer.post(f"{other['location']}/inspection-result", json={"fraud_found": True, "fraud_kinds": ["quantity"], "extra_duty": "1250000"})
        officer.post(f"{other['location']}/arrival", json={})
        refused = officer.post(f"{other['location']}/release").json()
        assert "1\u202f250\u202f000" in refused["detail"] and "XOF" in refused["detail"]


def test_a_lane_raised_after_payment_holds_the_goods_until_control_and_supplement(api):
    lodged = green_lodging(api, "RAISE")
    url = lodged["location"]
    with api.client("officer", lang="en") as officer:
        assert officer.post(f"{url}/payment", json={"amount": lodged["duty_total"], "receipt": "RAISE-Q1"}).status_code == 200
        raise_lane(api, lodged["id"], Lane.RED)
        assert officer.post(f"{url}/arrival", json={}).json()["status"] == "paid"  # red: not released before control
        found = officer.post(f"{url}/inspection-result", json={"fraud_found": True, "fraud_kinds": ["misclassification"], "extra_duty": "1000000"})
        assert found.status_code == 200, found.text
        refused = officer.post(f"{url}/release")
        assert refused.status_code == 409 and "1,000,000" in refused.json()["detail"]
        paid = officer.post(f"{url}/payment", json={"amount": "1000000", "receipt": "RAISE-Q2"})
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"  # red lane: an officer releases
    with api.client("officer2", lang="en") as other:  # not the one who controlled it
        released = other.post(f"{url}/release")
        assert released.status_code == 200 and released.json()["status"] == "released"


def test_a_post_clearance_finding_is_a_debt_listed_for_officers_and_payable(api, tmp_path):
    lodged = green_lodging(api, "AUDIT")
    url = lodged["location"]
    raise_lane(api, lodged["id"], Lane.BLUE)
    with api.client("officer", lang="en") as officer:
        officer.post(f"{url}/payment", json={"amount": lodged["duty_total"], "receipt": "AUDIT-Q1"})
        assert officer.post(f"{url}/arrival", json={}).json()["status"] == "released"
        assert officer.get("/debts").json()["total"] == 0
        audit = officer.post(f"{url}/inspection-result", json={"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "750000", "findings": "Audit a posteriori"})
        assert audit.status_code == 200, audit.text
        assert audit.json()["status"] == "released"
        listed = officer.get("/debts", params={"importer_id": IMPORTER}).json()
        assert listed["total"] == 1 and listed["page"] == 1
        debt = listed["items"][0]
        assert debt["declaration_id"] == lodged["id"] and debt["importer_id"] == IMPORTER and debt["office_code"] == "SN-DKR-PORT"
        assert (debt["amount"], debt["paid"], debt["outstanding"], debt["currency"], debt["status"]) == ("750000", "0", "750000", "XOF", "open")
        assert debt["assessed_by"] == "officer" and debt["source"] == "inspection" and debt["assessed_at"]
        assert officer.get("/debts", params={"importer_id": "SN0000000X0"}).json()["total"] == 0
        assert officer.get("/debts", params={"status": "settled"}).json()["total"] == 0
        assert officer.get("/debts", params={"office_code": "SN-DKR-PORT", "status": "open"}).json()["total"] == 1

        shown = run_avance(["debts", "--json", "--importer", IMPORTER], tmp_path, AVANCE_DATABASE_URL=api.node.settings.database_url)
        assert shown.returncode == 0, shown.stderr
        rows = [json.loads(line) for line in shown.stdout.splitlines()]
        assert [(r["declaration_id"], r["outstanding"]) for r in rows] == [(lodged["id"], "750000")]
        table = run_avance(["debts"], tmp_path, AVANCE_DATABASE_URL=api.node.settings.database_url)
        assert table.returncode == 0, table.stderr
        assert "750,000" in table.stdout and IMPORTER in table.stdout

        part = officer.post(f"{url}/payment", json={"amount": "500000", "receipt": "AUDIT-Q2"})
        assert part.status_code == 200, part.text
        debt = officer.get("/debts").json()["items"][0]
        assert (debt["paid"], debt["outstanding"], debt["status"]) == ("500000", "250000", "open")
        assert [p["receipt"] for p in debt["payments"]] == ["AUDIT-Q2"]
        assert officer.post(f"{url}/payment", json={"amount": "250000", "receipt": "AUDIT-Q3"}).status_code == 200
        settled = officer.get("/debts", params={"status": "settled"}).json()["items"]
        assert [(d["outstanding"], d["status"]) for d in settled] == [("0", "settled")] and settled[0]["settled_at"]
        assert officer.post(f"{url}/payment", json={"amount": "1", "receipt": "AUDIT-Q4"}).status_code == 409
    with api.client("analyst") as analyst:
        assert analyst.get("/debts").status_code == 200
    with api.client("broker") as broker:
        assert broker.get("/debts").status_code == 403


def test_partial_payments_are_summed_and_an_overpayment_is_refused(api):
    with api.client("broker") as broker:
        lodged = broker.post("/declarations", json=car("PART-1")).json()
    url = lodged["location"]
    due = Decimal(lodged["duty_total"])
    with api.client("officer", lang="en") as officer:
        officer.post(f"{url}/arrival", json={})
        officer.post(f"{url}/inspection-result", json={"fraud_found": False})
        first = officer.post(f"{url}/payment", json={"amount": "1000000", "receipt": "PART-Q1"})
        assert first.status_code == 200, first.text
        assert (first.json()["amount_paid"], first.json()["amount_outstanding"]) == ("1000000", str(due - 1000000))
        assert first.json()["status"] != "paid"  # paid in part only
        too_much = officer.post(f"{url}/payment", json={"amount": str(due), "receipt": "PART-Q2"})
        assert too_much.status_code == 409
        assert too_much.json()["code"] == "payments.overpaid"
        assert f"{due:,}" in too_much.json()["detail"] and f"{due - 1000000:,}" in too_much.json()["detail"]
        rest = officer.post(f"{url}/payment", json={"amount": str(due - 1000000), "receipt": "PART-Q2"})
        assert rest.status_code == 200, rest.text
        assert (rest.json()["status"], rest.json()["amount_outstanding"]) == ("paid", "0")
        nothing = officer.post(f"{url}/payment", json={"amount": "0", "receipt": "PART-Q3"})
        assert nothing.status_code == 422
        assert officer.post(f"{url}/release").json()["status"] == "released"
        payments = [e["data"] for e in officer.get(url).json()["events"] if e["kind"] == "paid"]
    assert [(p["amount"], p["receipt"]) for p in payments] == [("1000000", "PART-Q1"), (str(due - 1000000), "PART-Q2")]


def test_a_receipt_number_is_used_once_per_node_even_by_concurrent_requests(api):
    with api.client("broker") as broker:
        first = broker.post("/declarations", json=car("RCPT-1")).json()
        others = [broker.post("/declarations", json=car(f"RCPT-{n}")).json() for n in range(2, 8)]
    with api.client("officer", lang="en") as officer:
        for lodged in [first, *others]:
            officer.post(f"{lodged['location']}/arrival", json={})
            officer.post(f"{lodged['location']}/inspection-result", json={"fraud_found": False})
        assert officer.post(f"{first['location']}/payment", json={"amount": "1000", "receipt": "RCPT-Q1"}).status_code == 200
        reused = officer.post(f"{others[0]['location']}/payment", json={"amount": "1000", "receipt": "RCPT-Q1"})
        assert reused.status_code == 409
        assert reused.json()["code"] == "payments.receipt_used" and "RCPT-Q1" in reused.json()["detail"]

    def pay(lodged: dict[str, Any]) -> int:
        with api.client("officer") as officer:
            return officer.post(f"{lodged['location']}/payment", json={"amount": "1000", "receipt": "RCPT-RACE"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(pay, others))
    assert sorted(codes) == [200] + [409] * (len(others) - 1)


def test_the_supplement_function_is_the_one_way_to_raise_what_is_due(node):
    """Mirror control (or any capability) raises what is due through ``assess_supplement``."""
    declaration_id = lodge_document(node, car("ONEWAY-1"))
    with write(node.engine) as conn:
        life = service.assess_supplement(conn, declaration_id, Decimal("42000"), "Écart de valeur (contrôle miroir)", actor="mirror-control", source="mirror_control")
        assert life.supplements == Decimal("42000")
        assert life.outstanding == life.due == Decimal("3807917") + Decimal("42000")
        record = service.get(conn, declaration_id, SYSTEM)
    event = record.events[-1]
    assert (event.kind.value, event.actor, event.data["source"], event.data["reason"]) == ("supplement", "mirror-control", "mirror_control", "Écart de valeur (contrôle miroir)")


def test_an_audit_finding_recorded_after_release_by_an_earlier_version_becomes_a_payable_debt(store_url, tmp_path):
    """Upgrading a node: what an earlier version recorded is listed and can be collected."""
    engine = make_engine(store_url)
    migrations.upgrade(engine, "0005")
    at = datetime(2026, 5, 4, 9, tzinfo=timezone.utc)
    with engine.begin() as conn:  # only the columns revision 0005 had
        conn.execute(declarations.insert().values(**LEGACY_DECLARATION, estimated_arrival=at, lodged_at=at))
        conn.execute(declaration_events.insert(), [
            {"declaration_id": 1, "kind": "lodged", "at": at, "actor": "broker", "data": {"lrn": "OLD-1"}},
            {"declaration_id": 1, "kind": "assessed", "at": at, "actor": "system", "data": {"duty_total": "1000", "currency": "XOF"}},
            {"declaration_id": 1, "kind": "lane_assigned", "at": at, "actor": "rules", "data": {"lane": "blue"}},
            {"declaration_id": 1, "kind": "paid", "at": at + timedelta(hours=1), "actor": "officer", "data": {"amount": "1000", "currency": "XOF", "receipt": "OLD-Q1"}},
            {"declaration_id": 1, "kind": "arrived", "at": at + timedelta(hours=2), "actor": "officer", "data": {}},
            {"declaration_id": 1, "kind": "released", "at": at + timedelta(hours=2), "actor": "system", "data": {"automatic": True}},
            {"declaration_id": 1, "kind": "inspected", "at": at + timedelta(days=20), "actor": "auditor", "data": {"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "400", "findings": None}},
        ])
    init_node(engine, "SN")
    with write(engine) as conn:
        found, total = service.search_debts(conn, SYSTEM, service.DebtFilters(importer_id=IMPORTER), page=1, page_size=10)
        assert total == 1 and (found[0][0]["amount"], found[0][0]["assessed_by"], found[0][1].outstanding) == (Decimal(400), "auditor", Decimal(400))
        with pytest.raises(Conflict):  # the receipt of the old payment is taken
            service.record_payment(conn, 1, SYSTEM, amount=Decimal(400), receipt="OLD-Q1")
    with write(engine) as conn:
        service.record_payment(conn, 1, SYSTEM, amount=Decimal(400), receipt="OLD-Q2")
        found, _ = service.search_debts(conn, SYSTEM, service.DebtFilters(status="settled"), page=1, page_size=10)
    assert [row["declaration_id"] for row, _ in found] == [1]
    engine.dispose()


LEGACY_DECLARATION = {
    "id": 1, "lrn": "OLD-1", "declarant_id": "SN0012345A7", "importer_id": IMPORTER, "importer_name": "Auto Import Dakar SA",
    "office_code": "SN-DKR-PORT", "procedure_code": "4000", "transport_mode_code": 1, "registration_date": date(2026, 5, 4),
    "invoice_currency": "XOF", "invoice_amount": Decimal(5000), "currency": "XOF", "customs_value": Decimal(5000), "duty_total": Decimal(1000),
    "duties": {"currency": "XOF", "lines": [], "total": "1000"}, "lane": "blue", "score": Decimal(0), "reasons": [], "assessor": "rules:old",
    "status": "released", "document": {},
}
