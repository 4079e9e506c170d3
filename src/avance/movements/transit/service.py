"""Transit over the store: registration at departure, passage, arrival, discharge, the messages
from partner nodes, overdue alerts and guarantee balances.

The office of departure registers a transit declaration with its guarantee and, in the same
transaction, queues a ``transit-declaration`` to the node of every country on the itinerary and of
the destination, before the goods move. Each en-route node confirms passage at its border office
(``passage-notification`` to departure and destination). The destination node confirms arrival
(``arrival-notification`` to departure), then discharges the movement (``discharge`` to
departure), which releases the guarantee at the office of departure. The departure and
destination nodes raise an alert for a movement overdue.

Every function works in the caller's transaction, so that what a node records and the messages
it queues are stored together. The rules are in ``avance.movements.transit.model``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from avance.store.paging import newest_first
from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.kit.errors import AvanceError, Conflict, Issue, NotFound, ValidationFailed
from avance.kit.validation import parse
from avance.movements.context import check_speaks_for, own_node_id, partner_for_country, send, settle_held, utcnow
from avance.movements.payloads import (
    ArrivalNotification,
    Discharge,
    Message,
    OfficeRef,
    PassageNotification,
    TransitDeclaration,
)
from avance.movements.tables import transit_alerts, transit_events, transit_movements, transit_pending_notifications
from avance.movements.transit.model import (
    OPEN,
    STATUS_OF_EVENT,
    ArrivalRecord,
    DischargeRecord,
    GuaranteeBalance,
    PassageRecord,
    TransitRegistration,
    check_arrival,
    check_discharge,
    check_passage,
    check_role,
    make_mrn,
    mrn_ok,
    officer_time,
    status_of,
)
from avance.revenue.context import ReferenceContext

log = logging.getLogger("avance.transit")


# --- helpers -------------------------------------------------------------------------------------


def _movement(conn: Connection, mrn: str, *, lock: bool = False) -> Any:
    query = select(transit_movements).where(transit_movements.c.mrn == mrn)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("transit.not_found", mrn=mrn)
    return row


def _events(conn: Connection, mrn: str) -> list[Any]:
    return list(conn.execute(select(transit_events).where(transit_events.c.mrn == mrn).order_by(transit_events.c.at, transit_events.c.id)).mappings())


def _refresh(conn: Connection, mrn: str) -> str | None:
    """Derive the movement's status from its events and store it; release the guarantee on discharge."""
    row = conn.execute(select(transit_movements.c.id, transit_movements.c.role, transit_movements.c.guarantee_released_at).where(transit_movements.c.mrn == mrn)).first()
    if row is None:
        return None
    events = _events(conn, mrn)
    status = status_of(e["kind"] for e in events)
    status_at = max((e["at"] for e in events if STATUS_OF_EVENT.get(e["kind"]) == status), default=None)
    values: dict[str, Any] = {"status": status}
    if status_at is not None:
        values["status_at"] = status_at
    if status == "discharged" and row.role == "departure" and row.guarantee_released_at is None:
        values["guarantee_released_at"] = status_at
    conn.execute(update(transit_movements).where(transit_movements.c.id == row.id).values(**values))
    return status


def _add_event(conn: Connection, *, mrn: str, kind: str, office: OfficeRef, at: datetime, now: datetime, source_node: str | None, message_id: str | None, actor: str | None, data: dict[str, Any]) -> bool:
    """Record an event; False when the same event (kind and office) was already known."""
    exists = conn.execute(
        select(transit_events.c.id).where(transit_events.c.mrn == mrn, transit_events.c.kind == kind, transit_events.c.office_code == office.office_code)
    ).first()
    if exists is not None:
        return False
    conn.execute(
        insert(transit_events).values(
            mrn=mrn,
            kind=kind,
            office_code=office.office_code,
            country=office.country,
            at=at,
            recorded_at=now,
            source_node=source_node,
            message_id=message_id,
            actor=actor,
            data=data,
        )
    )
    return True


def _office(ctx: ReferenceContext, code: str, pointer: str, issues: list[Issue]) -> OfficeRef | None:
    office = ctx.offices.get(code)
    if office is None:
        issues.append(Issue(pointer, "transit.office_unknown", {"code": code}))
        return None
    return OfficeRef(office_code=office.code, country=office.country)


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("mrn", "registered_at")}


# --- the office of departure ---------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    mrn: str
    replayed: bool  # the same registration was sent before: nothing new was stored or sent


def register(conn: Connection, ctx: ReferenceContext, request: TransitRegistration, principal: Principal, *, now: datetime | None = None) -> Registration:
    """Register a transit declaration at this node's office of departure and queue it, in the
    same transaction, to the node of every country on the itinerary and of the destination."""
    require(principal, Action.SEND_MOVEMENTS)
    now = now or utcnow()
    issues: list[Issue] = []
    departure = _office(ctx, request.departure_office, "/departure_office", issues)
    if departure is not None and departure.country != ctx.country:
        issues.append(Issue("/departure_office", "transit.departure_not_ours", {"code": departure.office_code, "country": ctx.country}))
    itinerary = []
    for i, code in enumerate(request.itinerary):
        office = _office(ctx, code, f"/itinerary/{i}", issues)
        if office is not None and office.country == ctx.country:
            issues.append(Issue(f"/itinerary/{i}", "transit.passage_at_home", {"code": code}))
        if office is not None:
            itinerary.append(office)
    if len(set(request.itinerary)) != len(request.itinerary):
        issues.append(Issue("/itinerary", "transit.itinerary_repeats", {}))
    destination = _office(ctx, request.destination_office, "/destination_office", issues)
    if destination is not None and destination.country == ctx.country:
        issues.append(Issue("/destination_office", "transit.destination_at_home", {"code": destination.office_code}))
    if request.time_limit <= now:
        issues.append(Issue("/time_limit", "transit.time_limit_past", {"at": request.time_limit.isoformat()}))
    partners: dict[str, str] = {}
    for pointer, office in [(f"/itinerary/{i}", o) for i, o in enumerate(itinerary)] + [("/destination_office", destination)]:
        if office is None or office.country == ctx.country or office.country in partners:
            continue
        partner = partner_for_country(conn, office.country)
        if partner is None:
            issues.append(Issue(pointer, "movements.no_partner", {"country": office.country}))
        else:
            partners[office.country] = partner
    if issues:
        raise ValidationFailed(issues)
    assert departure is not None and destination is not None

    existing = conn.execute(
        select(transit_movements.c.mrn, transit_movements.c.document).where(
            transit_movements.c.departure_country == ctx.country,
            transit_movements.c.principal_id == request.principal.id,
            transit_movements.c.lrn == request.lrn,
        )
    ).first()
    mrn = make_mrn(ctx.country, now)
    declaration = TransitDeclaration(
        mrn=mrn,
        lrn=request.lrn,
        departure_office=departure,
        itinerary=itinerary,
        destination_office=destination,
        principal=request.principal,
        guarantee=request.guarantee,
        transport_means=request.transport_means,
        seals=request.seals,
        items=request.items,
        registered_at=now,
        time_limit=request.time_limit,
    )
    payload = declaration.to_payload()
    if existing is not None:
        if _comparable(existing.document) == _comparable(payload):
            return Registration(existing.mrn, replayed=True)
        raise Conflict("transit.conflict.lrn_taken", lrn=request.lrn, principal=request.principal.id)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(transit_movements).values(
                    mrn=mrn,
                    role="departure",
                    lrn=request.lrn,
                    departure_node=own_node_id(conn),
                    departure_office=departure.office_code,
                    departure_country=departure.country,
                    destination_office=destination.office_code,
                    destination_country=destination.country,
                    itinerary=[o.to_payload() for o in itinerary],
                    principal_id=request.principal.id,
                    principal_name=request.principal.name,
                    guarantee_reference=request.guarantee.reference,
                    guarantee_amount=request.guarantee.amount.amount,
                    guarantee_currency=request.guarantee.amount.currency,
                    registered_at=now,
                    time_limit=request.time_limit,
                    status="registered",
                    status_at=now,
                    document=payload,
                    created_by=principal.user_id,
                )
            )
    except IntegrityError:  # a concurrent registration took the same LRN
        raise Conflict("transit.conflict.lrn_taken", lrn=request.lrn, principal=request.principal.id) from None
    _add_event(conn, mrn=mrn, kind="registered", office=departure, at=now, now=now, source_node=None, message_id=None, actor=principal.name, data={})
    for partner in partners.values():
        send(conn, to=partner, type="transit-declaration", payload=payload, movement=mrn)
    return Registration(mrn, replayed=False)


# --- en route and at destination -------------------------------------------------------------------


def _notify(conn: Connection, row: Any, targets: Iterable[str], message_type: str, payload: dict[str, Any]) -> None:
    own = own_node_id(conn)
    for target in dict.fromkeys(targets):  # in order, once each
        if target and target != own:
            send(conn, to=target, type=message_type, payload=payload, movement=row["mrn"])


def record_passage(conn: Connection, ctx: ReferenceContext, mrn: str, request: PassageRecord, principal: Principal, *, now: datetime | None = None) -> str:
    """An officer at an office of passage of this node confirms the goods passed; returns the status."""
    require(principal, Action.SEND_MOVEMENTS)
    now = now or utcnow()
    row = _movement(conn, mrn, lock=True)
    check_role(row, "en_route", "destination")
    itinerary = [OfficeRef.model_validate(o) for o in row["itinerary"]]
    office = next((o for o in itinerary if o.office_code == request.office_code and o.country == ctx.country), None)
    if office is None:
        raise ValidationFailed([Issue("/office_code", "transit.office_not_on_itinerary", {"code": request.office_code, "mrn": mrn})])
    check_passage(row["status"])
    at = officer_time(request.passed_at, now, row["registered_at"], "/passed_at", ctx.clock_skew)
    notification = PassageNotification(mrn=mrn, office=office, passed_at=at, seals_intact=request.seals_intact, remarks=request.remarks)
    if not _add_event(conn, mrn=mrn, kind="passage", office=office, at=at, now=now, source_node=None, message_id=None, actor=principal.name, data=_data(notification)):
        raise Conflict("transit.conflict.already_passed", office=office.office_code)
    status = _refresh(conn, mrn)
    destination = partner_for_country(conn, row["destination_country"])
    _notify(conn, row, [row["departure_node"], destination or ""], "passage-notification", notification.to_payload())
    return status or row["status"]


def record_arrival(conn: Connection, ctx: ReferenceContext, mrn: str, request: ArrivalRecord, principal: Principal, *, now: datetime | None = None) -> str:
    """The goods were presented at this node's office of destination; optionally discharge at once."""
    require(principal, Action.SEND_MOVEMENTS)
    now = now or utcnow()
    if request.discharge and not request.seals_intact:
        raise ValidationFailed([Issue("/discharge", "transit.discharge_seals_broken", {})])
    row = _movement(conn, mrn, lock=True)
    check_role(row, "destination")
    code = request.office_code or row["destination_office"]
    known = ctx.offices.get(code)
    if known is None or known.country != ctx.country:
        raise ValidationFailed([Issue("/office_code", "transit.office_not_ours", {"code": code, "country": ctx.country})])
    check_arrival(row["status"])
    at = officer_time(request.arrived_at, now, row["registered_at"], "/arrived_at", ctx.clock_skew)
    office = OfficeRef(office_code=known.code, country=known.country)
    notification = ArrivalNotification(mrn=mrn, office=office, arrived_at=at, seals_intact=request.seals_intact, remarks=request.remarks)
    _add_event(conn, mrn=mrn, kind="arrival", office=office, at=at, now=now, source_node=None, message_id=None, actor=principal.name, data=_data(notification))
    status = _refresh(conn, mrn) or "arrived"
    _notify(conn, row, [row["departure_node"]], "arrival-notification", notification.to_payload())
    if request.discharge:
        return discharge(conn, ctx, mrn, DischargeRecord(remarks=None), principal, now=now)
    return status


def discharge(conn: Connection, ctx: ReferenceContext, mrn: str, request: DischargeRecord, principal: Principal, *, now: datetime | None = None) -> str:
    """Discharge (apurement) at the office of destination: the departure node releases the guarantee."""
    require(principal, Action.SEND_MOVEMENTS)
    now = now or utcnow()
    row = _movement(conn, mrn, lock=True)
    check_role(row, "destination")
    check_discharge(row["status"])
    arrival = next((e for e in _events(conn, mrn) if e["kind"] == "arrival"), None)
    office = OfficeRef(office_code=arrival["office_code"], country=arrival["country"]) if arrival else OfficeRef(office_code=row["destination_office"], country=ctx.country)
    message = Discharge(
        mrn=mrn,
        office=office,
        discharged_at=now,
        guarantee_reference=row["guarantee_reference"],
        released_amount={"amount": row["guarantee_amount"], "currency": row["guarantee_currency"]},
        remarks=request.remarks,
    )
    _add_event(conn, mrn=mrn, kind="discharge", office=office, at=now, now=now, source_node=None, message_id=None, actor=principal.name, data=_data(message))
    status = _refresh(conn, mrn) or "discharged"
    _notify(conn, row, [row["departure_node"]], "discharge", message.to_payload())
    return status


def _data(message: Message) -> dict[str, Any]:
    return {k: v for k, v in message.to_payload().items() if k not in ("mrn", "office")}


# --- messages from partners --------------------------------------------------------------------------


def on_transit_declaration(conn: Connection, ctx: ReferenceContext, *, sender: str, message_id: str | None, payload: dict[str, Any], now: datetime | None = None) -> str:
    """A transit declaration arrived from the office of departure: this node is en route or at destination."""
    now = now or utcnow()
    declaration = parse(TransitDeclaration, payload)
    check_speaks_for(conn, sender=sender, country=declaration.departure_office.country, message_type="transit-declaration")
    if not mrn_ok(declaration.mrn):
        raise ValidationFailed([Issue("/mrn", "transit.mrn_check_digit", {"mrn": declaration.mrn})])
    if declaration.destination_office.country == ctx.country:
        role = "destination"
    elif any(o.country == ctx.country for o in declaration.itinerary):
        role = "en_route"
    else:
        raise ValidationFailed([Issue("/itinerary", "transit.not_concerned", {"country": ctx.country})])
    document = declaration.to_payload()
    existing = conn.execute(select(transit_movements.c.document).where(transit_movements.c.mrn == declaration.mrn)).first()
    if existing is not None:
        if existing.document == document:
            return role
        raise Conflict("transit.conflict.mrn_exists", mrn=declaration.mrn)
    conn.execute(
        insert(transit_movements).values(
            mrn=declaration.mrn,
            role=role,
            lrn=declaration.lrn,
            departure_node=sender,
            departure_office=declaration.departure_office.office_code,
            departure_country=declaration.departure_office.country,
            destination_office=declaration.destination_office.office_code,
            destination_country=declaration.destination_office.country,
            itinerary=[o.to_payload() for o in declaration.itinerary],
            principal_id=declaration.principal.id,
            principal_name=declaration.principal.name,
            guarantee_reference=declaration.guarantee.reference,
            guarantee_amount=declaration.guarantee.amount.amount,
            guarantee_currency=declaration.guarantee.amount.currency,
            registered_at=declaration.registered_at,
            time_limit=declaration.time_limit,
            status="registered",
            status_at=declaration.registered_at,
            document=document,
        )
    )
    _add_event(
        conn,
        mrn=declaration.mrn,
        kind="registered",
        office=declaration.departure_office,
        at=declaration.registered_at,
        now=now,
        source_node=sender,
        message_id=message_id,
        actor=None,
        data={},
    )
    _apply_pending(conn, declaration.mrn, now)  # notifications may have come first
    _refresh(conn, declaration.mrn)
    return role


_NOTIFICATIONS: dict[str, tuple[type[Message], str, str]] = {
    "passage-notification": (PassageNotification, "passage", "passed_at"),
    "arrival-notification": (ArrivalNotification, "arrival", "arrived_at"),
    "discharge": (Discharge, "discharge", "discharged_at"),
}


def on_notification(conn: Connection, ctx: ReferenceContext, message_type: str, *, sender: str, message_id: str | None, payload: dict[str, Any], now: datetime | None = None) -> str | None:
    """A passage, arrival or discharge notification arrived from a partner node.

    Accepted only from the administration of the office it reports (``check_speaks_for``). Returns
    the movement's status, or None when the movement is not known here yet: a notification may
    overtake the transit declaration. It is then HELD, not recorded as a fact
    (``transit_pending_notifications``), and applied, or refused, when the declaration arrives
    and shows whether it is consistent (``_apply_pending``).
    """
    now = now or utcnow()
    model, kind, _ = _NOTIFICATIONS[message_type]
    message: Any = parse(model, payload)
    mrn = message.mrn
    row = conn.execute(select(transit_movements).where(transit_movements.c.mrn == mrn)).mappings().first()
    if row is None and mrn[2:4] == ctx.country:
        raise NotFound("transit.not_found", mrn=mrn)  # this node would be the office of departure
    if message.office.country == ctx.country:
        raise ValidationFailed([Issue("/office/country", "transit.own_office", {"code": message.office.office_code})])
    check_speaks_for(conn, sender=sender, country=message.office.country, message_type=message_type)
    if row is None:
        conn.execute(
            insert(transit_pending_notifications).values(
                mrn=mrn,
                kind=kind,
                office_code=message.office.office_code,
                country=message.office.country,
                sender=sender,
                message_id=message_id,
                payload=message.to_payload(),
                received_at=now,
                state="pending",
            )
        )
        return None
    _check_consistent(row, kind, message)
    _record_notification(conn, mrn, kind, message, sender=sender, message_id=message_id, now=now)
    return _refresh(conn, mrn)


def _check_consistent(row: Any, kind: str, message: Any) -> None:
    """A partner's notification agrees with the movement: a passage at an office of its itinerary,
    arrival and discharge in its destination country, discharge of its guarantee."""
    mrn = row["mrn"]
    if kind == "passage" and message.office.office_code not in {o["office_code"] for o in row["itinerary"]}:
        raise ValidationFailed([Issue("/office/office_code", "transit.office_not_on_itinerary", {"code": message.office.office_code, "mrn": mrn})])
    if kind in ("arrival", "discharge") and message.office.country != row["destination_country"]:
        raise ValidationFailed([Issue("/office/country", "transit.not_destination", {"country": message.office.country, "mrn": mrn})])
    if kind == "discharge" and message.guarantee_reference != row["guarantee_reference"]:
        raise ValidationFailed([Issue("/guarantee_reference", "transit.guarantee_mismatch", {"reference": message.guarantee_reference})])


def _record_notification(conn: Connection, mrn: str, kind: str, message: Any, *, sender: str, message_id: str | None, now: datetime) -> None:
    at_field = {"passage": "passed_at", "arrival": "arrived_at", "discharge": "discharged_at"}[kind]
    _add_event(
        conn,
        mrn=mrn,
        kind=kind,
        office=message.office,
        at=getattr(message, at_field),
        now=now,
        source_node=sender,
        message_id=message_id,
        actor=None,
        data=_data(message),
    )


def _apply_pending(conn: Connection, mrn: str, now: datetime) -> None:
    """The movement ``mrn`` is now known: each notification held for it, in the order received, is
    applied if the movement agrees with it, refused otherwise; its sender gets a deferred-ack."""
    held = conn.execute(
        select(transit_pending_notifications)
        .where(transit_pending_notifications.c.mrn == mrn, transit_pending_notifications.c.state == "pending")
        .order_by(transit_pending_notifications.c.id)
    ).mappings().all()
    if not held:
        return
    row = conn.execute(select(transit_movements).where(transit_movements.c.mrn == mrn)).mappings().one()
    types = {kind: message_type for message_type, (_, kind, _) in _NOTIFICATIONS.items()}
    for pending in held:
        model = _NOTIFICATIONS[types[pending["kind"]]][0]
        message: Any = model.model_validate(pending["payload"])
        code: str | None = None
        reason: dict[str, str] | None = None
        try:
            _check_consistent(row, pending["kind"], message)
        except AvanceError as exc:
            code, reason = _why(exc)
        else:
            _record_notification(conn, mrn, pending["kind"], message, sender=pending["sender"], message_id=pending["message_id"], now=now)
        conn.execute(
            update(transit_pending_notifications)
            .where(transit_pending_notifications.c.id == pending["id"])
            .values(state="applied" if code is None else "rejected", settled_at=now, code=code)
        )
        settle_held(conn, sender=pending["sender"], message_id=pending["message_id"], code=code, reason=reason)


def _why(exc: AvanceError) -> tuple[str, dict[str, str]]:
    """The catalog key and words of a refusal: a validation's first issue, or the error itself."""
    if isinstance(exc, ValidationFailed) and exc.issues:
        issue = exc.issues[0]
        return issue.code, {"fr": f"{issue.pointer}: {issue.message('fr')}", "en": f"{issue.pointer}: {issue.message('en')}"}
    return exc.code, {"fr": exc.message("fr"), "en": exc.message("en")}


def pending_notifications(conn: Connection, *, state: str | None = "pending", mrn: str | None = None) -> list[dict[str, Any]]:
    """Notifications received for movements this node does not know (``state`` pending), or once
    held and since applied or refused (``state`` None: all), oldest first."""
    query = select(transit_pending_notifications).order_by(transit_pending_notifications.c.id)
    if state is not None:
        query = query.where(transit_pending_notifications.c.state == state)
    if mrn is not None:
        query = query.where(transit_pending_notifications.c.mrn == mrn)
    return [dict(r) for r in conn.execute(query).mappings()]


# --- overdue movements and guarantees ---------------------------------------------------------------


def _overdue_condition(now: datetime) -> Any:
    return and_(
        transit_movements.c.role.in_(("departure", "destination")),
        transit_movements.c.status.in_(OPEN),
        transit_movements.c.time_limit < now,
    )


def overdue(conn: Connection, *, now: datetime | None = None) -> list[Any]:
    """Movements this node follows (departure or destination) whose time limit passed without arrival."""
    now = now or utcnow()
    return list(conn.execute(select(transit_movements).where(_overdue_condition(now)).order_by(transit_movements.c.time_limit)).mappings())


def raise_overdue_alerts(conn: Connection, *, now: datetime | None = None) -> list[str]:
    """Record an alert (once) and log a warning for every newly overdue movement; their MRNs."""
    now = now or utcnow()
    raised = []
    for row in overdue(conn, now=now):
        known = conn.execute(select(transit_alerts.c.id).where(transit_alerts.c.mrn == row["mrn"], transit_alerts.c.kind == "overdue")).first()
        if known is not None:
            continue
        late = now - row["time_limit"]
        conn.execute(
            insert(transit_alerts).values(
                mrn=row["mrn"],
                kind="overdue",
                raised_at=now,
                data={"time_limit": row["time_limit"].isoformat(), "status": row["status"], "role": row["role"], "hours_late": round(late.total_seconds() / 3600, 1)},
            )
        )
        log.warning(
            "transit %s overdue: time limit %s passed without arrival at %s (status %s, principal %s, guarantee %s %s %s)",
            row["mrn"],
            row["time_limit"].isoformat(),
            row["destination_office"],
            row["status"],
            row["principal_id"],
            row["guarantee_reference"],
            row["guarantee_amount"],
            row["guarantee_currency"],
        )
        raised.append(row["mrn"])
    return raised


def guarantee_balances(conn: Connection, *, principal_id: str | None = None) -> list[GuaranteeBalance]:
    """Amount held per guarantee for the movements this node registered and that are not discharged yet."""
    query = select(
        transit_movements.c.principal_id,
        transit_movements.c.principal_name,
        transit_movements.c.guarantee_reference,
        transit_movements.c.guarantee_currency,
        transit_movements.c.guarantee_amount,
    ).where(transit_movements.c.role == "departure", transit_movements.c.status != "discharged")
    if principal_id is not None:
        query = query.where(transit_movements.c.principal_id == principal_id)
    totals: dict[tuple[str, str, str], list[Any]] = {}
    for r in conn.execute(query.order_by(transit_movements.c.id)):
        key = (r.principal_id, r.guarantee_reference, r.guarantee_currency)
        entry = totals.setdefault(key, [r.principal_name, Decimal(0), 0])
        entry[1] += r.guarantee_amount  # exact Decimal sums: SQLite keeps these amounts as text
        entry[2] += 1
    return [
        GuaranteeBalance(principal, name, reference, currency, held, count)
        for (principal, reference, currency), (name, held, count) in sorted(totals.items())
    ]


# --- reading ------------------------------------------------------------------------------------


def search(conn: Connection, *, status: str | None = None, role: str | None = None, principal_id: str | None = None, page: int = 1, page_size: int = 50, now: datetime | None = None) -> tuple[list[Any], int]:
    """Movements, newest first; ``status`` may also be ``overdue``."""
    now = now or utcnow()
    conditions = []
    if status == "overdue":
        conditions.append(_overdue_condition(now))
    elif status is not None:
        conditions.append(transit_movements.c.status == status)
    if role is not None:
        conditions.append(transit_movements.c.role == role)
    if principal_id is not None:
        conditions.append(transit_movements.c.principal_id == principal_id)
    return newest_first(conn, select(transit_movements), transit_movements, conditions, limit=page_size, offset=(page - 1) * page_size)


def get(conn: Connection, mrn: str) -> tuple[Any, list[Any], Any]:
    """A movement, its events and its overdue alert (if any)."""
    row = _movement(conn, mrn)
    alert = conn.execute(select(transit_alerts).where(transit_alerts.c.mrn == mrn)).mappings().first()
    return row, _events(conn, mrn), alert
