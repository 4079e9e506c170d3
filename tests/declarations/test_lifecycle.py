"""The status and the money an officer sees come from the events, and the next step is allowed
or refused; whatever the service accepts, nothing leaves while money is due and no stage
duration is negative."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.declarations.lifecycle import (
    CONTROLLED_LANES,
    Event,
    EventKind,
    ReleaseBlocked,
    TimeRules,
    audit_times,
    check_arrival,
    check_inspection,
    check_payment,
    check_rejection,
    check_supplement,
    check_time,
    derive,
    raised_lane,
    release_blockers,
    release_time,
    releases_automatically,
)
from avance.declarations.assessment import Lane
from avance.kit.errors import Conflict, ValidationFailed

T0 = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)
LANES = [lane.value for lane in Lane]


def lodging(lane: str, duty: str = "0") -> list[Event]:
    return [
        Event(EventKind.LODGED, T0),
        Event(EventKind.ASSESSED, T0, data={"duty_total": duty, "currency": "XOF"}),
        Event(EventKind.LANE_ASSIGNED, T0, data={"lane": lane}),
    ]


def events(lane: str, *kinds: EventKind, duty: str = "0") -> list[Event]:
    return lodging(lane, duty) + [Event(kind, T0 + timedelta(hours=i + 1)) for i, kind in enumerate(kinds)]


def paid(amount: str, hours: float, receipt: str = "Q") -> Event:
    return Event(EventKind.PAID, T0 + timedelta(hours=hours), data={"amount": amount, "currency": "XOF", "receipt": receipt})


def test_status_is_the_furthest_stage_reached_whatever_the_order():
    life = derive(events("green", EventKind.PAID, EventKind.ARRIVED))
    assert life.status is EventKind.PAID
    assert life.reached(EventKind.ARRIVED)
    assert derive(reversed(events("green", EventKind.ARRIVED))).status is EventKind.ARRIVED


def test_a_green_lane_is_released_once_arrived_and_paid():
    assert not releases_automatically(derive(events("green", EventKind.ARRIVED, duty="100")))
    assert releases_automatically(derive(lodging("green", "100") + [Event(EventKind.ARRIVED, T0 + timedelta(hours=1)), paid("100", 2)]))
    assert releases_automatically(derive(events("blue", EventKind.ARRIVED)))  # nothing to pay


def test_a_red_lane_needs_arrival_before_the_examination_and_a_result_before_release():
    life = derive(events("red", duty="10"))
    with pytest.raises(Conflict):
        check_inspection(life)
    arrived = derive(events("red", EventKind.ARRIVED, duty="10"))
    check_inspection(arrived)
    assert [b.key for b in release_blockers(arrived)] == ["release.not_inspected", "payments.release.outstanding"]


def test_what_is_due_is_the_assessment_plus_the_supplements_and_payments_in_parts_are_summed():
    found = lodging("yellow", "1000") + [
        Event(EventKind.ARRIVED, T0 + timedelta(hours=1)),
        Event(EventKind.INSPECTED, T0 + timedelta(hours=5), data={"fraud_found": True, "extra_duty": "250"}),
        Event(EventKind.SUPPLEMENT, T0 + timedelta(hours=5), data={"amount": "250", "source": "inspection", "debt": False}),
        paid("600", 6, "Q1"),
    ]
    life = derive(found)
    assert (life.assessed, life.supplements, life.due, life.paid, life.outstanding) == (Decimal(1000), Decimal(250), Decimal(1250), Decimal(600), Decimal(650))
    assert life.status is EventKind.INSPECTED  # paid in part only
    with pytest.raises(Conflict) as caught:
        check_payment(life, Decimal(651))
    assert caught.value.code == "payments.overpaid" and caught.value.params["outstanding"] == Decimal(650)
    check_payment(life, Decimal(650))
    assert derive(found + [paid("650", 7, "Q2")]).status is EventKind.PAID


def test_an_inspection_stored_before_supplements_were_events_still_counts_its_extra_duty():
    legacy = events("yellow", EventKind.ARRIVED, duty="1000") + [Event(EventKind.INSPECTED, T0 + timedelta(hours=5), data={"fraud_found": True, "extra_duty": "250"})]
    assert derive(legacy).due == Decimal(1250)


def test_the_release_refusal_says_how_much_is_still_due_in_the_readers_language():
    life = derive(lodging("green", "5000000") + [Event(EventKind.ARRIVED, T0 + timedelta(hours=1))])
    refusal = ReleaseBlocked(release_blockers(life))
    assert "5\u202f000\u202f000" in refusal.message("fr") and "5,000,000 XOF" in refusal.message("en")


def test_a_supplement_after_release_is_a_debt_paid_oldest_first():
    released = events("blue", EventKind.ARRIVED, EventKind.RELEASED)
    audit = [
        Event(EventKind.SUPPLEMENT, T0 + timedelta(hours=10), data={"amount": "300", "source": "inspection", "debt": True}, id=10),
        Event(EventKind.SUPPLEMENT, T0 + timedelta(hours=11), data={"amount": "200", "source": "mirror_control", "debt": True}, id=11),
        paid("400", 12, "Q1"),
    ]
    life = derive(released + audit)
    first, second = life.debts
    assert (first.paid, first.outstanding, first.settled_at) == (Decimal(300), Decimal(0), T0 + timedelta(hours=12))
    assert (second.paid, second.outstanding, second.settled_at) == (Decimal(100), Decimal(100), None)
    assert life.status is EventKind.RELEASED


def test_times_that_cannot_be_are_refused():
    life = derive(events("red", EventKind.ARRIVED))
    now = T0 + timedelta(days=1)
    with pytest.raises(ValidationFailed) as caught:
        check_time(life, EventKind.INSPECTED, T0 + timedelta(minutes=30), now=now)  # before the arrival it needs
    assert caught.value.issues[0].code == "times.before_arrival"
    with pytest.raises(ValidationFailed):
        check_time(life, EventKind.PAID, now + timedelta(minutes=11), now=now, rules=TimeRules(clock_skew=timedelta(minutes=10)))
    check_time(life, EventKind.PAID, now + timedelta(minutes=9), now=now, rules=TimeRules(clock_skew=timedelta(minutes=10)))


def test_release_time_is_measured_from_events():
    life = derive(events("green", EventKind.ARRIVED, EventKind.PAID, EventKind.RELEASED))
    assert life.hours_between(EventKind.ARRIVED, EventKind.RELEASED) == 2.0


# --- properties: whatever the service accepts --------------------------------------------------


@dataclass
class Desk:
    """The lifecycle checks the service makes, in the order it makes them, over events in memory."""

    events: list[Event]
    rules: TimeRules = field(default_factory=lambda: TimeRules(clock_skew=timedelta(minutes=10), arrival_past_days=30))
    receipts: int = 0

    @property
    def life(self):
        return derive(self.events)

    def _add(self, kind: EventKind, at: datetime, data: dict | None = None) -> None:
        self.events.append(Event(kind, at, "officer", data or {}, id=len(self.events) + 1))

    def _auto_release(self, now: datetime) -> None:
        life = self.life
        if releases_automatically(life):
            self._add(EventKind.RELEASED, release_time(life, now), {"automatic": True})

    def arrive(self, at: datetime, now: datetime) -> None:
        check_arrival(self.life)
        check_time(self.life, EventKind.ARRIVED, at, now=now, rules=self.rules)
        self._add(EventKind.ARRIVED, at)
        self._auto_release(now)

    def supplement(self, amount: Decimal, now: datetime) -> None:
        life = self.life
        check_supplement(life, amount)
        check_time(life, EventKind.SUPPLEMENT, now, now=now, rules=self.rules)
        self._add(EventKind.SUPPLEMENT, now, {"amount": str(amount), "source": "test", "debt": life.reached(EventKind.RELEASED)})

    def inspect(self, extra: Decimal, now: datetime) -> None:
        check_inspection(self.life)
        check_time(self.life, EventKind.INSPECTED, now, now=now, rules=self.rules)
        self._add(EventKind.INSPECTED, now, {"fraud_found": extra > 0, "extra_duty": str(extra)})
        if extra > 0:
            self.supplement(extra, now)

    def pay(self, amount: Decimal, now: datetime) -> None:
        if not amount > 0:
            return
        check_payment(self.life, amount)
        check_time(self.life, EventKind.PAID, now, now=now, rules=self.rules)
        self.receipts += 1
        self._add(EventKind.PAID, now, {"amount": str(amount), "receipt": f"Q{self.receipts}"})
        self._auto_release(now)

    def release(self, now: datetime) -> None:
        if release_blockers(self.life):
            raise Conflict("conflict.release_blocked")
        check_time(self.life, EventKind.RELEASED, now, now=now, rules=self.rules)
        self._add(EventKind.RELEASED, now)

    def raise_lane(self, lane: str, now: datetime) -> None:
        life = self.life
        raised = raised_lane(life, Lane(life.lane), Lane(lane))
        if raised is not None:
            check_time(life, EventKind.LANE_ASSIGNED, now, now=now, rules=self.rules)
            self._add(EventKind.LANE_ASSIGNED, now, {"lane": raised.value})

    def reject(self, now: datetime) -> None:
        check_rejection(self.life)
        check_time(self.life, EventKind.REJECTED, now, now=now, rules=self.rules)
        self._add(EventKind.REJECTED, now)


hours = st.integers(min_value=-24 * 40, max_value=24 * 20)
amounts = st.sampled_from(["0", "1", "250", "999", "1000", "1500", "5000000"]).map(Decimal)
actions = st.one_of(
    st.tuples(st.just("arrive"), hours, st.integers(-30, 120)),  # arrival time, minutes the clock is behind it
    st.tuples(st.just("inspect"), hours, amounts),
    st.tuples(st.just("pay"), hours, amounts),
    st.tuples(st.just("release"), hours),
    st.tuples(st.just("supplement"), hours, amounts),
    st.tuples(st.just("raise_lane"), hours, st.sampled_from(LANES)),
    st.tuples(st.just("reject"), hours),
)


def play(lane: str, duty: Decimal, steps: list[tuple]) -> Desk:
    desk = Desk(lodging(lane, str(duty)))
    for step in steps:
        name, offset = step[0], step[1]
        now = T0 + timedelta(hours=offset)
        try:
            if name == "arrive":
                desk.arrive(now, now - timedelta(minutes=step[2]))
            elif name in ("inspect", "pay", "supplement"):
                getattr(desk, name)(step[2], now)
            elif name == "raise_lane":
                desk.raise_lane(step[2], now)
            else:
                getattr(desk, name)(now)
        except (Conflict, ValidationFailed):
            continue  # refused: nothing recorded
    return desk


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LANES), st.sampled_from(["0", "1000", "3807917"]).map(Decimal), st.lists(actions, max_size=14))
def test_nothing_is_released_while_money_is_due_whatever_the_order_and_times(lane, duty, steps):
    desk = play(lane, duty, steps)
    for i, event in enumerate(desk.events):
        if event.kind is EventKind.RELEASED:
            before = derive(desk.events[:i])
            assert before.outstanding <= 0, "released with money due"
            assert before.reached(EventKind.ARRIVED)
            assert before.lane not in CONTROLLED_LANES or before.reached(EventKind.INSPECTED)
    life = desk.life
    assert life.outstanding >= 0, "paid more than due"
    assert all(d.outstanding >= 0 for d in life.debts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LANES), st.sampled_from(["0", "1000"]).map(Decimal), st.lists(actions, max_size=14))
def test_no_stage_duration_is_negative_whatever_the_order_and_times(lane, duty, steps):
    desk = play(lane, duty, steps)
    life = desk.life
    for end in (EventKind.INSPECTED, EventKind.PAID, EventKind.RELEASED, EventKind.REJECTED):
        assert (life.hours_between(EventKind.LODGED, end) or 0) >= 0
    assert (life.hours_between(EventKind.ARRIVED, EventKind.RELEASED) or 0) >= 0
    if life.reached(EventKind.RELEASED) and life.reached(EventKind.INSPECTED) and life.at[EventKind.INSPECTED] <= life.at[EventKind.RELEASED]:
        assert life.hours_between(EventKind.INSPECTED, EventKind.RELEASED) >= 0
    if lane == "red" and life.reached(EventKind.INSPECTED):  # examined on the red lane from the start
        assert life.hours_between(EventKind.ARRIVED, EventKind.INSPECTED) >= 0
    latest_now = T0 + timedelta(days=40)
    assert audit_times(desk.events, now=latest_now, rules=desk.rules) == []  # the stored-times check agrees
