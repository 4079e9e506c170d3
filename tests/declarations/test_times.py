"""Times that can be: arrival, control, payment and release happen at or before now (with the
node's clock-skew allowance), never before lodging (an arrival a little before it), and in an
order that keeps every stage duration positive."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.declarations.lifecycle import EventKind, TimeRules
from avance.declarations.model import GoodsDeclaration
from avance.declarations.tables import declaration_events
from avance.kit.errors import ValidationFailed
from avance.store.engine import write
from tests.declarations.test_payments import car, green_lodging, rice
from tests.support import run_avance

T = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)


def lodge_at(node, doc: dict, at: datetime = T) -> int:
    with write(node.engine) as conn:
        return service.lodge(conn, node.context, GoodsDeclaration.model_validate(doc), SYSTEM, registration_date=at.date(), now=at).id


def test_an_arrival_in_the_far_future_or_the_far_past_is_refused_in_the_callers_language(api):
    with api.client("broker") as broker:
        lodged = broker.post("/declarations", json=car("TIME-1")).json()
    url = lodged["location"]
    with api.client("officer", lang="en") as officer:
        future = officer.post(f"{url}/arrival", json={"arrived_at": "2030-01-01T00:00:00Z"})
        assert future.status_code == 422, future.text
        assert future.json()["errors"][0]["pointer"] == "/arrived_at"
        assert "2030-01-01" in future.json()["errors"][0]["detail"]
        past = officer.post(f"{url}/arrival", json={"arrived_at": "2020-01-01T00:00:00Z"})
        assert past.status_code == 422
        assert "2020-01-01" in past.json()["errors"][0]["detail"] and "30" in past.json()["errors"][0]["detail"]
    with api.client("officer", lang="fr") as officer:
        french = officer.post(f"{url}/arrival", json={"arrived_at": "2030-01-01T00:00:00Z"}).json()
        assert "2030-01-01" in french["errors"][0]["detail"] and french["errors"][0]["detail"] != future.json()["errors"][0]["detail"]
        earlier = (datetime.now(timezone.utc) - timedelta(days=5)).isoformat()
        accepted = officer.post(f"{url}/arrival", json={"arrived_at": earlier})  # lodged after arrival: allowed
        assert accepted.status_code == 200, accepted.text


def test_control_payment_and_release_never_come_before_lodging(node):
    declaration_id = lodge_at(node, car("TIME-2"))
    with write(node.engine) as conn:
        for record in (
            lambda: service.record_inspection(conn, declaration_id, SYSTEM, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None, now=T - timedelta(hours=1)),
            lambda: service.record_rejection(conn, declaration_id, SYSTEM, reason="x", now=T - timedelta(minutes=1)),
            lambda: service.record_arrival(conn, declaration_id, SYSTEM, arrived_at=T - timedelta(days=31), now=T + timedelta(hours=1)),
        ):
            with pytest.raises(ValidationFailed):
                record()
        service.record_arrival(conn, declaration_id, SYSTEM, arrived_at=T - timedelta(days=2), now=T + timedelta(hours=1))  # before lodging, within 30 days
        service.record_inspection(conn, declaration_id, SYSTEM, fraud_found=False, fraud_kinds=[], extra_duty=Decimal(0), findings=None, now=T + timedelta(hours=5))
        with pytest.raises(ValidationFailed) as caught:  # paid before the control it waits for
            service.record_payment(conn, declaration_id, SYSTEM, amount=Decimal("3807917"), receipt="TIME-Q1", now=T + timedelta(hours=4))
        assert caught.value.issues[0].code == "times.before_inspection"
        service.record_payment(conn, declaration_id, SYSTEM, amount=Decimal("3807917"), receipt="TIME-Q1", now=T + timedelta(hours=6))
        with pytest.raises(ValidationFailed) as caught:  # released before it was paid for
            service.record_release(conn, declaration_id, SYSTEM, now=T + timedelta(hours=5, minutes=30))
        assert caught.value.issues[0].code == "times.before_payment"
        life = service.record_release(conn, declaration_id, SYSTEM, now=T + timedelta(hours=7))
    assert life.hours_between(EventKind.ARRIVED, EventKind.RELEASED) == 55.0


def test_a_time_beyond_the_clock_skew_allowance_is_refused(node):
    declaration_id = lodge_at(node, car("TIME-3"))
    now = T + timedelta(days=1)
    with write(node.engine) as conn:
        with pytest.raises(ValidationFailed) as caught:
            service.record_arrival(conn, declaration_id, SYSTEM, arrived_at=now + timedelta(minutes=11), now=now, rules=TimeRules(clock_skew=timedelta(minutes=10)))
        assert caught.value.issues[0].code == "times.future"
        service.record_arrival(conn, declaration_id, SYSTEM, arrived_at=now + timedelta(minutes=9), now=now, rules=TimeRules(clock_skew=timedelta(minutes=10)))


def test_no_stage_duration_is_negative_when_an_arrival_is_reported_a_little_ahead(api):
    lodged = green_lodging(api, "AHEAD")
    with api.client("officer") as officer:
        officer.post(f"{lodged['location']}/payment", json={"amount": lodged["duty_total"], "receipt": "AHEAD-Q1"})
        ahead = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()  # the port's clock runs fast
        arrived = officer.post(f"{lodged['location']}/arrival", json={"arrived_at": ahead})
        assert arrived.status_code == 200, arrived.text
        assert arrived.json()["status"] == "released"
        detail = officer.get(lodged["location"]).json()
    assert detail["hours_arrival_to_release"] >= 0 and detail["hours_lodging_to_release"] >= 0
    times = {e["kind"]: datetime.fromisoformat(e["at"]) for e in detail["events"]}
    assert times["released"] >= times["arrived"]


def test_check_times_lists_stored_events_that_break_the_rules_without_rewriting_them(sqlite_node, tmp_path):
    node = sqlite_node
    bad = lodge_at(node, rice("CHECK-1"))
    good = lodge_at(node, rice("CHECK-2"))
    with write(node.engine) as conn:  # written by an earlier version, straight into the table
        conn.execute(insert(declaration_events), [
            {"declaration_id": bad, "kind": "arrived", "at": datetime(2030, 1, 1, tzinfo=timezone.utc), "actor": "old", "data": {}},
            {"declaration_id": bad, "kind": "released", "at": T - timedelta(days=1), "actor": "old", "data": {"automatic": True}},
        ])
        service.record_arrival(conn, good, SYSTEM, arrived_at=T + timedelta(hours=2), now=T + timedelta(hours=2))
        before = conn.execute(select(func.count()).select_from(declaration_events)).scalar_one()
    url = node.settings.database_url
    listed = run_avance(["declarations", "check-times", "--json"], tmp_path, AVANCE_DATABASE_URL=url)
    assert listed.returncode == 1, listed.stderr  # something to look at
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["declaration_id"] for r in rows} == {bad}
    assert {(r["kind"], r["code"]) for r in rows} >= {("arrived", "times.future"), ("released", "times.before_lodging")}
    table = run_avance(["declarations", "check-times"], tmp_path, AVANCE_DATABASE_URL=url)
    assert "2030-01-01" in table.stdout
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(declaration_events)).scalar_one() == before
