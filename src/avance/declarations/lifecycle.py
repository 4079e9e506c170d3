"""The life of a declaration, derived from its timestamped events (pure).

Every status change is an event; the status shown to users is computed from the events by
``derive``, and ``check_*`` say whether a new event is allowed now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable

from avance.kit.errors import Conflict


class EventKind(str, Enum):
    LODGED = "lodged"
    REJECTED = "rejected"
    ASSESSED = "assessed"
    LANE_ASSIGNED = "lane_assigned"
    ARRIVED = "arrived"
    INSPECTED = "inspected"
    PAID = "paid"
    RELEASED = "released"


# Order of progress; the status is the furthest stage reached (rejected ends everything).
_PROGRESS = [
    EventKind.LODGED,
    EventKind.ASSESSED,
    EventKind.LANE_ASSIGNED,
    EventKind.ARRIVED,
    EventKind.INSPECTED,
    EventKind.PAID,
    EventKind.RELEASED,
]

FRAUD_KINDS = ("undervaluation", "misclassification", "false_origin", "quantity", "prohibited", "other")


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime
    actor: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Lifecycle:
    status: EventKind
    at: dict[EventKind, datetime]
    lane: str | None
    fraud_found: bool | None
    extra_duty: Decimal

    def reached(self, kind: EventKind) -> bool:
        return kind in self.at

    def hours_between(self, start: EventKind, end: EventKind) -> float | None:
        if start in self.at and end in self.at:
            return round((self.at[end] - self.at[start]).total_seconds() / 3600, 2)
        return None


def derive(events: Iterable[Event]) -> Lifecycle:
    """The lifecycle of a declaration from its events (in any order)."""
    at: dict[EventKind, datetime] = {}
    lane = None
    fraud_found = None
    extra = Decimal(0)
    for event in sorted(events, key=lambda e: e.at):
        at.setdefault(event.kind, event.at)
        data = event.data or {}
        if event.kind is EventKind.LANE_ASSIGNED:
            lane = data.get("lane", lane)
        if event.kind is EventKind.INSPECTED:
            fraud_found = bool(data.get("fraud_found"))
            extra = Decimal(str(data.get("extra_duty", "0")))
    if EventKind.REJECTED in at:
        status = EventKind.REJECTED
    elif not at:
        raise ValueError("a declaration has at least its lodging event")
    else:
        status = max(at, key=_PROGRESS.index)
    return Lifecycle(status=status, at=at, lane=lane, fraud_found=fraud_found, extra_duty=extra)


def is_closed(life: Lifecycle) -> bool:
    """Released or rejected: nothing about the lodging (its lane, its assessment) changes any more."""
    return life.reached(EventKind.RELEASED) or life.reached(EventKind.REJECTED)


def _not_closed(life: Lifecycle) -> None:
    if life.reached(EventKind.REJECTED):
        raise Conflict("conflict.rejected")


def check_rejection(life: Lifecycle) -> None:
    _not_closed(life)
    if life.reached(EventKind.RELEASED):
        raise Conflict("conflict.already_released")


def check_arrival(life: Lifecycle) -> None:
    _not_closed(life)
    if life.reached(EventKind.ARRIVED):
        raise Conflict("conflict.already", event=EventKind.ARRIVED.value)


def check_inspection(life: Lifecycle) -> None:
    _not_closed(life)
    if life.reached(EventKind.INSPECTED):
        raise Conflict("conflict.already", event=EventKind.INSPECTED.value)
    if life.lane == "red" and not life.reached(EventKind.ARRIVED):
        raise Conflict("conflict.inspection_before_arrival")
    if life.reached(EventKind.RELEASED) and life.lane != "blue":
        raise Conflict("conflict.after_release")


def amount_due(life: Lifecycle, duty_total: Decimal) -> Decimal:
    """Duties and taxes assessed plus what an inspection raised."""
    return duty_total + life.extra_duty


def check_payment(life: Lifecycle, duty_total: Decimal, amount: Decimal) -> None:
    _not_closed(life)
    if life.reached(EventKind.PAID):
        raise Conflict("conflict.already", event=EventKind.PAID.value)
    if life.lane in ("red", "yellow") and not life.reached(EventKind.INSPECTED):
        raise Conflict("conflict.payment_before_control")
    due = amount_due(life, duty_total)
    if amount != due:
        raise Conflict("conflict.payment_amount", due=due, paid=amount)


def release_blockers(life: Lifecycle, duty_total: Decimal) -> list[str]:
    """Catalog keys of what still stands between the goods and their release."""
    blockers = []
    if life.reached(EventKind.REJECTED):
        return ["conflict.rejected"]
    if life.reached(EventKind.RELEASED):
        return ["conflict.already_released"]
    if not life.reached(EventKind.ARRIVED):
        blockers.append("release.not_arrived")
    if life.lane in ("red", "yellow") and not life.reached(EventKind.INSPECTED):
        blockers.append("release.not_inspected")
    if amount_due(life, duty_total) > 0 and not life.reached(EventKind.PAID):
        blockers.append("release.not_paid")
    return blockers


def releases_automatically(life: Lifecycle, duty_total: Decimal) -> bool:
    """Green and blue lanes go the moment they have landed and are paid for."""
    return life.lane in ("green", "blue") and not release_blockers(life, duty_total)
