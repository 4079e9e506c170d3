"""The status an officer sees comes from the events, and the next step is allowed or refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from avance.declarations.lifecycle import (
    Event,
    EventKind,
    check_inspection,
    check_payment,
    derive,
    release_blockers,
    releases_automatically,
)
from avance.kit.errors import Conflict

T0 = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)


def events(lane: str, *kinds: EventKind) -> list[Event]:
    base = [Event(EventKind.LODGED, T0), Event(EventKind.ASSESSED, T0), Event(EventKind.LANE_ASSIGNED, T0, data={"lane": lane})]
    return base + [Event(kind, T0 + timedelta(hours=i + 1)) for i, kind in enumerate(kinds)]


def test_status_is_the_furthest_stage_reached_whatever_the_order():
    life = derive(events("green", EventKind.PAID, EventKind.ARRIVED))
    assert life.status is EventKind.PAID
    assert life.reached(EventKind.ARRIVED)
    assert derive(reversed(events("green", EventKind.ARRIVED))).status is EventKind.ARRIVED


def test_a_green_lane_is_released_once_arrived_and_paid():
    assert not releases_automatically(derive(events("green", EventKind.ARRIVED)), Decimal(100))
    assert releases_automatically(derive(events("green", EventKind.ARRIVED, EventKind.PAID)), Decimal(100))
    assert releases_automatically(derive(events("blue", EventKind.ARRIVED)), Decimal(0))  # nothing to pay


def test_a_red_lane_needs_arrival_before_the_examination_and_a_result_before_release():
    life = derive(events("red"))
    with pytest.raises(Conflict):
        check_inspection(life)
    arrived = derive(events("red", EventKind.ARRIVED))
    check_inspection(arrived)
    assert release_blockers(arrived, Decimal(10)) == ["release.not_inspected", "release.not_paid"]


def test_the_amount_paid_must_match_what_the_control_raised():
    found = events("yellow", EventKind.ARRIVED) + [Event(EventKind.INSPECTED, T0 + timedelta(hours=5), data={"fraud_found": True, "extra_duty": "250"})]
    life = derive(found)
    with pytest.raises(Conflict) as caught:
        check_payment(life, Decimal(1000), Decimal(1000))
    assert caught.value.params["due"] == Decimal(1250)
    check_payment(life, Decimal(1000), Decimal(1250))


def test_release_time_is_measured_from_events():
    life = derive(events("green", EventKind.ARRIVED, EventKind.PAID, EventKind.RELEASED))
    assert life.hours_between(EventKind.ARRIVED, EventKind.RELEASED) == 2.0
