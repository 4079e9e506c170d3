"""Officers act only at the offices they are attached to, through the API and the pages alike; on
a red-lane declaration, the officer who recorded the control result does not release the goods
(segregation of duties, on unless the node turns it off). Administrators act everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import httpx
import pytest

from avance.auth.model import Principal, Role
from avance.auth.service import create_user
from avance.auth.sessions import set_offices, set_password
from avance.declarations import cargo, duties, service
from avance.declarations.assessment import Lane
from avance.declarations.lifecycle import Event, EventKind, TimeRules
from avance.kit.errors import Forbidden
from avance.store.engine import write
from tests.support import LiveApi, declaration, manifest, serve

PASSWORD = "correct horse battery"
INSPECTION = {"fraud_found": False, "fraud_kinds": [], "extra_duty": "0", "findings": None}


@pytest.fixture
def live(sqlite_node) -> Iterator[LiveApi]:  # type: ignore[no-untyped-def]
    """The usual users (``officer`` and ``officer2`` at every office), and officers of one office
    each, or of none, with API tokens and passwords."""
    tokens = {}
    with write(sqlite_node.engine) as conn:
        for name, offices in (("dakar", ["SN-DKR-PORT"]), ("airport", ["SN-DSS-AIR"]), ("nowhere", [])):
            _, tokens[name] = create_user(conn, name=name, role=Role.OFFICER)
            set_password(conn, name, PASSWORD)
            set_offices(conn, name, offices)
    for site in serve(sqlite_node):
        site.tokens.update(tokens)
        yield site


def lodge(live: LiveApi, lrn: str, **overrides: Any) -> dict[str, Any]:
    with live.client("broker") as broker:
        answer = broker.post("/declarations", json=declaration(lrn=lrn, transport_document_reference=f"BL-{lrn}", **overrides))
    assert answer.status_code == 201, answer.text
    return answer.json()


def red(live: LiveApi, declaration_id: int) -> None:
    with write(live.node.engine) as conn:
        service.raise_lane(conn, declaration_id, Lane.RED, [], actor="mirror-control", source="mirror_control")


def test_an_officer_acts_only_on_the_declarations_of_its_offices(live: LiveApi) -> None:
    lodged = lodge(live, "OFF-1")  # at Dakar port
    url = f"/declarations/{lodged['id']}"
    with live.client("airport", lang="en") as airport:
        assert airport.get(url).status_code == 200, "reading is not acting: the office rule is about recording"
        for step, body in (("arrival", {}), ("inspection-result", INSPECTION), ("payment", {"amount": "1", "receipt": "Q-OFF-1"}), ("release", None), ("rejection", {"reason": "x"})):
            refused = airport.post(f"{url}/{step}", json=body)
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden.office", (step, refused.text)
        assert "SN-DKR-PORT" in refused.json()["detail"] and "SN-DSS-AIR" in refused.json()["detail"]
    with live.client("nowhere", lang="en") as nowhere:
        refused = nowhere.post(f"{url}/arrival", json={})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden.no_office" and "avance users offices" in refused.json()["detail"]
    with live.client("dakar") as dakar:
        assert dakar.get(url).json()["events"][-1]["kind"] == "lane_assigned", "nothing was recorded"
        assert dakar.post(f"{url}/arrival", json={}).status_code == 200
    airport_doc = lodge(live, "OFF-2")
    with live.client("admin") as admin:
        assert admin.post(f"/declarations/{airport_doc['id']}/arrival", json={}).status_code == 200, "an administrator, attached to no office, acts everywhere"


def test_the_pages_apply_the_same_office_rule(live: LiveApi) -> None:
    lodged = lodge(live, "OFF-3")
    page = f"/declarations/{lodged['id']}"
    with httpx.Client(base_url=live.url, headers={"Accept-Language": "en"}, timeout=30) as browser:
        assert browser.post("/signin", data={"username": "airport", "password": PASSWORD}).status_code == 303
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/account").text).group(1)  # type: ignore[union-attr]
        refused = browser.post(f"{page}/record-arrival", data={"csrf": token, "arrived_at": ""})
    assert refused.status_code == 403 and "you act only for your offices (SN-DSS-AIR)" in unescape(refused.text)
    with live.client("officer") as officer:
        assert "arrived" not in [e["kind"] for e in officer.get(page).json()["events"]]


def test_a_voyages_arrival_follows_the_office_rule(live: LiveApi) -> None:
    with live.client("carrier") as carrier:
        assert carrier.post("/manifests", json=manifest()).status_code in (200, 201)
    with live.client("broker") as broker:
        assert broker.post("/declarations", json=declaration(manifest_reference="MAN-2026-0001")).status_code == 201
    with live.node.engine.connect() as conn:
        manifest_id = cargo.cargo_reports(conn, Principal(None, "admin", Role.ADMIN), None)[0][0]["id"]
    airport = Principal(None, "airport", Role.OFFICER, offices=("SN-DSS-AIR",))
    dakar = Principal(None, "dakar", Role.OFFICER, offices=("SN-DKR-PORT",))
    with pytest.raises(Forbidden) as refused, write(live.node.engine) as conn:
        cargo.record_cargo_arrival(conn, manifest_id, airport)
    assert refused.value.code == "forbidden.office"
    with write(live.node.engine) as conn:
        assert len(cargo.record_cargo_arrival(conn, manifest_id, dakar).recorded) == 1


def test_who_recorded_a_red_lane_control_cannot_release_and_another_officer_can(live: LiveApi) -> None:
    lodged = lodge(live, "SOD-1")
    red(live, lodged["id"])
    url = f"/declarations/{lodged['id']}"
    with live.client("officer", lang="en") as officer:
        assert officer.post(f"{url}/arrival", json={}).status_code == 200
        assert officer.post(f"{url}/inspection-result", json=INSPECTION).status_code == 200
        assert officer.post(f"{url}/payment", json={"amount": lodged["duty_total"], "receipt": "Q-SOD-1"}).status_code == 200
        refused = officer.post(f"{url}/release")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden.segregation"
    assert "another officer must release it" in refused.json()["detail"]
    with live.client("officer2") as other:
        released = other.post(f"{url}/release")
    assert released.status_code == 200 and released.json()["status"] == "released"


def test_an_administrator_who_controlled_does_not_release_either_but_yellow_lanes_are_free(live: LiveApi) -> None:
    controlled = lodge(live, "SOD-2")
    red(live, controlled["id"])
    yellow = lodge(live, "SOD-3")
    with live.client("admin", lang="fr") as admin:
        for d in (controlled, yellow):
            url = f"/declarations/{d['id']}"
            assert admin.post(f"{url}/arrival", json={}).status_code == 200
            assert admin.post(f"{url}/inspection-result", json=INSPECTION).status_code == 200
            assert admin.post(f"{url}/payment", json={"amount": d["duty_total"], "receipt": f"Q-{d['id']}"}).status_code == 200
        refused = admin.post(f"/declarations/{controlled['id']}/release")
        assert refused.status_code == 403 and "séparation des tâches" in refused.json()["detail"]
        assert admin.post(f"/declarations/{yellow['id']}/release").json()["status"] == "released", "the rule is the red lane's"


def test_a_node_may_turn_segregation_of_duties_off(live: LiveApi) -> None:
    lodged = lodge(live, "SOD-4")
    red(live, lodged["id"])
    officer = Principal(None, "officer", Role.OFFICER, offices=("SN-DKR-PORT",))
    now = service.utcnow()
    with write(live.node.engine) as conn:
        service.record_arrival(conn, lodged["id"], officer, now=now)
        service.record_inspection(conn, lodged["id"], officer, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None, now=now)
        service.record_payment(conn, lodged["id"], officer, amount=Decimal(lodged["duty_total"]), receipt="Q-SOD-4", now=now)
    with pytest.raises(Forbidden), write(live.node.engine) as conn:
        service.record_release(conn, lodged["id"], officer, now=now + timedelta(seconds=1))
    with write(live.node.engine) as conn:
        life = service.record_release(conn, lodged["id"], officer, now=now + timedelta(seconds=1), rules=TimeRules(segregation_of_duties=False))
    assert life.status.value == "released"


def test_the_rules_themselves() -> None:
    class Context:
        clock_skew = timedelta(seconds=600)
        arrival_past_days = 30
        segregation_of_duties = False

    assert TimeRules.of(Context()).segregation_of_duties is False
    admin = Principal(None, "root", Role.ADMIN)
    duties.check_office(admin, "ANYWHERE")  # no office needed
    inspected = [Event(EventKind.INSPECTED, service.utcnow(), actor="root")]
    with pytest.raises(Forbidden):
        duties.check_release(admin, "red", inspected)
    duties.check_release(admin, "red", inspected, segregation=False)
    duties.check_release(admin, "yellow", inspected)
    duties.check_release(Principal(None, "other", Role.ADMIN), "red", inspected)
