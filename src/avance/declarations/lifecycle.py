"""The life of a declaration, derived from its timestamped events (pure).

Every status change is an event; the status shown to users is computed from the events by
``derive``, and ``check_*`` say whether a new event is allowed now. Money is derived the same
way: what was assessed at lodging, the supplementary assessments (``supplement`` events: duty
found at control, by mirror control...), the payments (``paid`` events, in parts if need be).
A supplement assessed after release is a debt of the importer (post-clearance audit).

Times are checked here too (``time_issues``): nothing in the future beyond the node's clock-skew
allowance, nothing before lodging (an arrival at most ``arrival_past_days`` before it), and no
event before the event it depends on, so that no stage duration is ever negative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Protocol

from avance.declarations.assessment import Lane
from avance.kit import formatting
from avance.kit.errors import Conflict, Issue, ValidationFailed
from avance.kit.i18n import t


class EventKind(str, Enum):
    LODGED = "lodged"
    REJECTED = "rejected"
    ASSESSED = "assessed"
    LANE_ASSIGNED = "lane_assigned"
    ARRIVED = "arrived"
    INSPECTED = "inspected"
    SUPPLEMENT = "supplement"
    PAID = "paid"
    RELEASED = "released"


# Order of progress; the status is the furthest stage reached (rejected ends everything). A
# supplement is no stage; ``paid`` counts once nothing is outstanding.
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

CONTROLLED_LANES = ("red", "yellow")
"""Lanes whose goods wait for a control before payment and release."""


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime
    actor: str | None = None
    data: dict[str, Any] | None = None
    id: int | None = None


@dataclass(frozen=True)
class Supplement:
    """A supplementary assessment: more duty found due after lodging."""

    at: datetime
    amount: Decimal
    reason: str | None
    source: str
    actor: str | None
    debt: bool  # assessed after release: owed by the importer
    event_id: int | None = None


@dataclass(frozen=True)
class Payment:
    at: datetime
    amount: Decimal
    receipt: str | None
    actor: str | None
    event_id: int | None = None


@dataclass(frozen=True)
class Debt:
    """What a post-clearance finding left owed, and the payments set against it (oldest debt first)."""

    supplement: Supplement
    paid: Decimal
    payments: tuple[tuple[Payment, Decimal], ...]
    settled_at: datetime | None

    @property
    def outstanding(self) -> Decimal:
        return self.supplement.amount - self.paid


@dataclass(frozen=True)
class Lifecycle:
    status: EventKind
    at: dict[EventKind, datetime]  # first time of each kind
    lane: str | None
    fraud_found: bool | None
    last: dict[EventKind, datetime] = field(default_factory=dict)  # latest time of each kind
    currency: str | None = None
    assessed: Decimal = Decimal(0)  # duties and taxes assessed at lodging
    supplements: Decimal = Decimal(0)  # sum of the supplementary assessments
    paid: Decimal = Decimal(0)  # sum of the payments
    supplement_list: tuple[Supplement, ...] = ()
    payment_list: tuple[Payment, ...] = ()
    debts: tuple[Debt, ...] = ()

    @property
    def due(self) -> Decimal:
        """Everything assessed: at lodging and since."""
        return self.assessed + self.supplements

    @property
    def outstanding(self) -> Decimal:
        """What is still to be paid (never below 0 for data this code wrote)."""
        return self.due - self.paid

    def reached(self, kind: EventKind) -> bool:
        return kind in self.at

    def hours_between(self, start: EventKind, end: EventKind) -> float | None:
        if start in self.at and end in self.at:
            return round((self.at[end] - self.at[start]).total_seconds() / 3600, 2)
        return None


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else "0"))
    except ArithmeticError:
        return Decimal(0)


def _ordered(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.at, e.id if e.id is not None else 0))


def _debts(supplements: list[Supplement], payments: list[Payment], before_debts: Decimal) -> tuple[Debt, ...]:
    """Payments cover what was due before release first, then each debt, oldest first."""
    debts = [s for s in supplements if s.debt]
    if not debts:
        return ()
    owed = [s.amount for s in debts]
    set_against: list[list[tuple[Payment, Decimal]]] = [[] for _ in debts]
    settled: list[datetime | None] = [None] * len(debts)
    to_cover = before_debts
    for payment in payments:
        left = payment.amount
        used = min(left, max(to_cover, Decimal(0)))
        to_cover -= used
        left -= used
        for i, debt in enumerate(debts):
            if left <= 0:
                break
            if owed[i] <= 0 or debt.at > payment.at:
                continue
            part = min(left, owed[i])
            owed[i] -= part
            left -= part
            set_against[i].append((payment, part))
            if owed[i] == 0:
                settled[i] = payment.at
    return tuple(
        Debt(s, s.amount - owed[i], tuple(set_against[i]), settled[i]) for i, s in enumerate(debts)
    )


def derive(events: Iterable[Event]) -> Lifecycle:
    """The lifecycle of a declaration from its events (in any order)."""
    at: dict[EventKind, datetime] = {}
    last: dict[EventKind, datetime] = {}
    lane = None
    fraud_found = None
    extra = Decimal(0)
    currency = None
    assessed = Decimal(0)
    supplements: list[Supplement] = []
    payments: list[Payment] = []
    inspection: Event | None = None
    for event in _ordered(events):
        at.setdefault(event.kind, event.at)
        last[event.kind] = event.at
        data = event.data or {}
        if event.kind is EventKind.ASSESSED:
            assessed = _amount(data.get("duty_total"))
            currency = data.get("currency", currency)
        elif event.kind is EventKind.LANE_ASSIGNED:
            lane = data.get("lane", lane)
        elif event.kind is EventKind.INSPECTED:
            fraud_found = bool(data.get("fraud_found"))
            extra = _amount(data.get("extra_duty"))
            inspection = event
        elif event.kind is EventKind.SUPPLEMENT:
            supplements.append(
                Supplement(event.at, _amount(data.get("amount")), data.get("reason"), str(data.get("source", "")), event.actor, bool(data.get("debt")), event.id)
            )
        elif event.kind is EventKind.PAID:
            payments.append(Payment(event.at, _amount(data.get("amount")), data.get("receipt"), event.actor, event.id))
    if inspection is not None and extra > 0 and not any(s.source == "inspection" for s in supplements):
        # written before supplements were events: the inspection's extra duty is its supplement
        released = at.get(EventKind.RELEASED)
        supplements.append(Supplement(inspection.at, extra, None, "inspection", inspection.actor, released is not None and inspection.at >= released, inspection.id))
        supplements.sort(key=lambda s: s.at)
    total_supplements = sum((s.amount for s in supplements), Decimal(0))
    total_paid = sum((p.amount for p in payments), Decimal(0))
    if EventKind.REJECTED in at:
        status = EventKind.REJECTED
    elif not at:
        raise ValueError("a declaration has at least its lodging event")
    else:
        fully_paid = assessed + total_supplements <= total_paid
        stages = [k for k in at if k in _PROGRESS and (k is not EventKind.PAID or fully_paid)]
        status = max(stages, key=_PROGRESS.index)
    before_debts = assessed + sum((s.amount for s in supplements if not s.debt), Decimal(0))
    return Lifecycle(
        status=status,
        at=at,
        lane=lane,
        fraud_found=fraud_found,
        last=last,
        currency=currency,
        assessed=assessed,
        supplements=total_supplements,
        paid=total_paid,
        supplement_list=tuple(supplements),
        payment_list=tuple(payments),
        debts=_debts(supplements, payments, before_debts),
    )


def raised_lane(life: Lifecycle, current: Lane, wanted: Lane) -> Lane | None:
    """The lane a declaration in lane ``current`` goes to when another capability (mirror control)
    asks for ``wanted``; None when nothing changes. A lane is never lowered and a rejected
    declaration keeps its lane. Goods released without any control (green) go to the one control
    still possible, a post-clearance audit (blue); goods released after a control keep theirs."""
    if life.reached(EventKind.REJECTED):
        return None
    if life.reached(EventKind.RELEASED):
        if current is not Lane.GREEN or wanted.severity <= current.severity:
            return None
        wanted = Lane.BLUE
    return wanted if wanted.severity > current.severity else None


# --- money in messages -------------------------------------------------------------------------


def _shown(params: dict[str, Any], lang: str) -> dict[str, Any]:
    """``params`` with each ``Decimal`` written as an amount in ``params["currency"]``, in ``lang``."""
    currency = params.get("currency") or ""
    return {k: formatting.money(v, currency, lang) if isinstance(v, Decimal) else v for k, v in params.items()}


class MoneyConflict(Conflict):
    """A conflict whose ``Decimal`` parameters are amounts in ``currency``, shown in the reader's
    language (``5 000 000`` in French, ``5,000,000`` in English)."""

    def message(self, lang: str) -> str:
        return t(self.code, lang, **_shown(self.params, lang))


@dataclass(frozen=True)
class Blocker:
    """Something that stands between the goods and their release: a catalog key and its values."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        return t(self.key, lang, **_shown(self.params, lang))


class ReleaseBlocked(Conflict):
    """409 ``conflict.release_blocked``: what is missing, the amount still due among it."""

    def __init__(self, blockers: list[Blocker]) -> None:
        super().__init__("conflict.release_blocked", reasons=[b.key for b in blockers])
        self.blockers = blockers

    def message(self, lang: str) -> str:
        return t(self.code, lang, reasons=[b.message(lang) for b in self.blockers])


# --- what may happen next ----------------------------------------------------------------------


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


def check_supplement(life: Lifecycle, amount: Decimal) -> None:
    """A supplementary assessment: a positive amount on a declaration that was not rejected."""
    _not_closed(life)
    if not amount > 0:
        raise ValidationFailed([Issue("/amount", "payments.amount_positive", {})])


def check_payment(life: Lifecycle, amount: Decimal) -> None:
    """A payment, whole or in part, of what is still outstanding; never more."""
    _not_closed(life)
    if life.lane in CONTROLLED_LANES and not life.reached(EventKind.INSPECTED):
        raise Conflict("conflict.payment_before_control")
    if amount > life.outstanding:
        raise MoneyConflict(
            "payments.overpaid",
            amount=amount,
            due=life.due,
            paid=life.paid,
            outstanding=max(life.outstanding, Decimal(0)),
            currency=life.currency or "",
        )


def release_blockers(life: Lifecycle) -> list[Blocker]:
    """What still stands between the goods and their release."""
    blockers = []
    if life.reached(EventKind.REJECTED):
        return [Blocker("conflict.rejected")]
    if life.reached(EventKind.RELEASED):
        return [Blocker("conflict.already_released")]
    if not life.reached(EventKind.ARRIVED):
        blockers.append(Blocker("release.not_arrived"))
    if life.lane in CONTROLLED_LANES and not life.reached(EventKind.INSPECTED):
        blockers.append(Blocker("release.not_inspected"))
    if life.outstanding > 0:
        blockers.append(Blocker("payments.release.outstanding", {"outstanding": life.outstanding, "currency": life.currency or ""}))
    return blockers


def releases_automatically(life: Lifecycle) -> bool:
    """Green and blue lanes go the moment they have landed and are paid for."""
    return life.lane in ("green", "blue") and not release_blockers(life)


# --- times that can be -------------------------------------------------------------------------


class Allowances(Protocol):
    """What a node allows (``avance.revenue.context.ReferenceContext`` has them all)."""

    clock_skew: timedelta
    arrival_past_days: int
    segregation_of_duties: bool


@dataclass(frozen=True)
class TimeRules:
    """The node's allowances for reported times: how far in the future a time may lie (clocks
    differ), and how many days before lodging the goods may have arrived; and whether the
    segregation of duties holds (``avance.declarations.duties``), on unless the node turns it off."""

    clock_skew: timedelta = timedelta(seconds=600)
    arrival_past_days: int = 30
    segregation_of_duties: bool = True

    @classmethod
    def of(cls, ctx: Allowances) -> TimeRules:
        return cls(clock_skew=ctx.clock_skew, arrival_past_days=ctx.arrival_past_days, segregation_of_duties=ctx.segregation_of_duties)


DEFAULT_TIME_RULES = TimeRules()


def time_text(at: datetime) -> str:
    """A time as the messages show it: ISO 8601 to the second, with its offset."""
    return at.isoformat(timespec="seconds")


def _depends_on(life: Lifecycle, kind: EventKind) -> list[tuple[EventKind, str]]:
    """The recorded events a new event of ``kind`` may not come before, with the message of each."""
    released = [(EventKind.RELEASED, "times.before_release")] if life.reached(EventKind.RELEASED) else []
    if kind is EventKind.INSPECTED:
        arrival = [(EventKind.ARRIVED, "times.before_arrival")] if life.lane == "red" else []
        return arrival + released
    if kind is EventKind.PAID:
        control = [(EventKind.INSPECTED, "times.before_inspection")] if life.lane in CONTROLLED_LANES else []
        return control + released
    if kind is EventKind.SUPPLEMENT:
        return released
    if kind is EventKind.RELEASED:
        return [
            (EventKind.ARRIVED, "times.before_arrival"),
            (EventKind.INSPECTED, "times.before_inspection"),
            (EventKind.SUPPLEMENT, "times.before_supplement"),
            (EventKind.PAID, "times.before_payment"),
        ]
    if kind is EventKind.REJECTED:
        return [(k, "times.before_last_event") for k in life.last]
    return []


def time_issues(life: Lifecycle, kind: EventKind, at: datetime, *, now: datetime, rules: TimeRules = DEFAULT_TIME_RULES, pointer: str = "") -> list[Issue]:
    """Why an event of ``kind`` at ``at`` cannot be, given what is recorded (empty when it can)."""
    issues = []
    if at > now + rules.clock_skew:
        issues.append(Issue(pointer, "times.future", {"at": time_text(at), "now": time_text(now)}))
    lodged = life.at.get(EventKind.LODGED)
    if lodged is not None:
        if kind is EventKind.ARRIVED:
            if at.date() < lodged.date() - timedelta(days=rules.arrival_past_days):
                issues.append(Issue(pointer, "times.arrival_too_early", {"at": time_text(at), "lodged": time_text(lodged), "days": rules.arrival_past_days}))
        elif at < lodged:
            issues.append(Issue(pointer, "times.before_lodging", {"at": time_text(at), "lodged": time_text(lodged)}))
    for earlier_kind, key in _depends_on(life, kind):
        earlier = life.last.get(earlier_kind)
        if earlier is not None and at < earlier:
            issues.append(Issue(pointer, key, {"at": time_text(at), "earlier": time_text(earlier)}))
            if kind is EventKind.REJECTED:
                break
    return issues


def check_time(life: Lifecycle, kind: EventKind, at: datetime, *, now: datetime, rules: TimeRules = DEFAULT_TIME_RULES, pointer: str = "") -> None:
    """Refuse (422) an event whose time cannot be."""
    issues = time_issues(life, kind, at, now=now, rules=rules, pointer=pointer)
    if issues:
        raise ValidationFailed(issues)


def release_time(life: Lifecycle, now: datetime) -> datetime:
    """When an automatic release happens: now, or the latest event it waited for if that is
    later (a time reported a little ahead, within the clock-skew allowance; the lodging, when
    the goods had arrived before it)."""
    waited = [life.last[k] for k in (EventKind.LODGED, EventKind.ARRIVED, EventKind.INSPECTED, EventKind.SUPPLEMENT, EventKind.PAID) if k in life.last]
    return max([now, *waited])


_AT_LODGING = (EventKind.LODGED, EventKind.ASSESSED)


def audit_times(events: Iterable[Event], *, now: datetime, rules: TimeRules = DEFAULT_TIME_RULES) -> list[tuple[Event, Issue]]:
    """Stored events (in the order they were written) whose time or place breaks the rules above;
    for data written before those rules held. Nothing is changed."""
    found: list[tuple[Event, Issue]] = []
    seen: list[Event] = []
    for event in events:
        if seen and event.kind not in _AT_LODGING:
            life = derive(seen)
            if life.reached(EventKind.REJECTED):
                found.append((event, Issue("", "times.after_rejection", {"at": time_text(event.at)})))
            found.extend((event, issue) for issue in time_issues(life, event.kind, event.at, now=now, rules=rules))
        seen.append(event)
    return found
