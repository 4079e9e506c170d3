"""Pre-loading referrals (as the EU's ICS2 makes them): before the goods of a cargo report filed
before loading are on board, an analyst refers one of its bills of lading to the carrier: a
*request for information*, a *request for screening*, or *do not load*. The carrier (the party
that filed the report) sees its referrals and answers them; an analyst lifts them. A *do not
load* not lifted yet blocks the lodging of declarations for its bill
(``avance.manifests.service.plan_write_offs``).

Selectivity profiles refer bills too: ``avance.manifests.service.lodge`` takes a ``Screen`` (the
risk side's, which manifests do not know: the composition root hands it over) and stores what it
asks with ``raise_asked``, in the lodging's transaction, once per bill and author.

A referral's state is stored as open, answered or lifted; an open one past its deadline reads as
expired (``model.referral_state``). An expired *do not load* still blocks: only a lift frees the
bill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, and_, insert, select, update

from avance.auth.access import Action, require
from avance.auth.model import PARTY_ROLES, Principal
from avance.kit.errors import Conflict, Issue, NotFound, ValidationFailed
from avance.manifests.model import (
    DEFAULT_DEADLINE_HOURS,
    CargoReport,
    ReferralAnswer,
    ReferralKind,
    ReferralLift,
    ReferralRequest,
    ReferralState,
    blocks_lodging,
    referral_state,
)
from avance.manifests.tables import bills_of_lading, cargo_referrals, manifests
from avance.store.paging import newest_first


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def view(row: Any, now: datetime) -> dict[str, Any]:
    """A referral as its readers see it, with its state at ``now``."""
    state = referral_state(row["state"], row["deadline"], now)
    return {
        "id": row["id"],
        "manifest_id": row["manifest_id"],
        "manifest_reference": row["manifest_reference"],
        "transport_document_reference": row["transport_document_reference"],
        "carrier_id": row["carrier_id"],
        "kind": row["kind"],
        "state": state.value,
        "blocks_lodging": blocks_lodging(row["kind"], state),
        "reason": row["reason"],
        "deadline": row["deadline"].isoformat(),
        "referred_by": row["referred_by"],
        "referred_at": row["referred_at"].isoformat(),
        "answer": row["answer"],
        "answered_at": row["answered_at"].isoformat() if row["answered_at"] is not None else None,
        "lifted_at": row["lifted_at"].isoformat() if row["lifted_at"] is not None else None,
        "lift_note": row["lift_note"],
    }


_QUERY = select(cargo_referrals, manifests.c.reference.label("manifest_reference")).join(manifests, manifests.c.id == cargo_referrals.c.manifest_id)


def _visible(principal: Principal) -> ColumnElement[bool]:
    """A carrier reads the referrals of its own cargo reports only; customs staff read them all."""
    if principal.role in PARTY_ROLES:
        return cargo_referrals.c.carrier_id == principal.party_id
    return and_(True)


def refer(
    conn: Connection, manifest_id: int, transport_document_reference: str, request: ReferralRequest, principal: Principal, *, now: datetime | None = None
) -> dict[str, Any]:
    """Refer a bill of lading of a cargo report whose goods are not loaded yet."""
    require(principal, Action.REFER_CARGO)
    now = _now(now)
    report = conn.execute(select(manifests.c.id, manifests.c.reference, manifests.c.carrier_id, manifests.c.loaded).where(manifests.c.id == manifest_id)).first()
    if report is None:
        raise NotFound("not_found.manifest", id=manifest_id)
    bill = conn.execute(
        select(bills_of_lading.c.id).where(bills_of_lading.c.manifest_id == manifest_id, bills_of_lading.c.transport_document_reference == transport_document_reference)
    ).first()
    if bill is None:
        raise NotFound("not_found.bill_on_manifest", bill=transport_document_reference, reference=report.reference)
    if report.loaded:
        raise Conflict("referral.already_loaded", reference=report.reference)
    deadline = request.deadline.astimezone(timezone.utc) if request.deadline is not None else now + timedelta(hours=DEFAULT_DEADLINE_HOURS)
    if deadline <= now:
        raise ValidationFailed([Issue("/deadline", "referral.deadline_past", {})])
    pending = conn.execute(
        select(cargo_referrals.c.id, cargo_referrals.c.state, cargo_referrals.c.deadline).where(
            cargo_referrals.c.manifest_id == manifest_id,
            cargo_referrals.c.transport_document_reference == transport_document_reference,
            cargo_referrals.c.kind == request.kind.value,
            cargo_referrals.c.state != ReferralState.LIFTED.value,
        )
    ).first()
    if pending is not None:
        raise Conflict("referral.already_referred", bill=transport_document_reference, id=pending.id)
    referral_id = conn.execute(
        insert(cargo_referrals).values(
            manifest_id=manifest_id,
            transport_document_reference=transport_document_reference,
            carrier_id=report.carrier_id,
            kind=request.kind.value,
            state=ReferralState.OPEN.value,
            reason=request.reason,
            deadline=deadline,
            referred_by=principal.name,
            referred_at=now,
        )
    ).inserted_primary_key[0]
    return get(conn, int(referral_id), principal, now=now)


@dataclass(frozen=True, slots=True)
class ReferralAsk:
    """A referral a screen asks for one bill of the cargo report being lodged."""

    transport_document_reference: str
    kind: ReferralKind
    reason: str  # what the carrier reads
    deadline: datetime
    author: str  # who refers (70 characters at most): for a selectivity profile, its id and version


class Screen(Protocol):
    """Whatever judges a cargo report's bills at lodging and asks referrals for some (the
    selectivity profiles: ``avance.risk.profiles.service.CargoScreen``). It runs in the lodging's
    transaction, on every first lodging and amendment (not on a resend), and only reads."""

    def __call__(self, conn: Connection, report: CargoReport, *, now: datetime) -> Sequence[ReferralAsk]: ...


def raise_asked(conn: Connection, manifest_id: int, carrier_id: str, asks: Sequence[ReferralAsk], *, now: datetime) -> list[dict[str, Any]]:
    """Store the referrals a screen asked for bills of cargo report ``manifest_id``; the ones stored.

    Once per bill and author: an author (a profile version) that referred a bill before, in any
    state, does not refer it again (a resend, or an amendment, of the report). A bill with an
    open (or answered) referral of the same kind gets no second one, as an analyst's would not."""
    if not asks:
        return []
    authored: set[tuple[str, str]] = set()
    pending: set[tuple[str, str]] = set()
    rows = conn.execute(
        select(cargo_referrals.c.transport_document_reference, cargo_referrals.c.kind, cargo_referrals.c.state, cargo_referrals.c.referred_by).where(
            cargo_referrals.c.manifest_id == manifest_id
        )
    )
    for reference, kind, state, author in rows:
        authored.add((reference, author))
        if state != ReferralState.LIFTED.value:
            pending.add((reference, kind))
    stored: list[int] = []
    for ask in asks:
        reference, kind, author = ask.transport_document_reference, ask.kind.value, ask.author[:70]
        if (reference, author) in authored or (reference, kind) in pending:
            continue
        referral_id = conn.execute(
            insert(cargo_referrals).values(
                manifest_id=manifest_id,
                transport_document_reference=reference,
                carrier_id=carrier_id,
                kind=kind,
                state=ReferralState.OPEN.value,
                reason=ask.reason,
                deadline=ask.deadline.astimezone(timezone.utc),
                referred_by=author,
                referred_at=now,
            )
        ).inserted_primary_key[0]
        stored.append(int(referral_id))
        authored.add((reference, author))
        pending.add((reference, kind))
    if not stored:
        return []
    raised = conn.execute(_QUERY.where(cargo_referrals.c.id.in_(stored)).order_by(cargo_referrals.c.id)).mappings()
    return [view(row, now) for row in raised]


def get(conn: Connection, referral_id: int, principal: Principal, *, now: datetime | None = None) -> dict[str, Any]:
    """One referral; a carrier's own only (another's is not found)."""
    require(principal, Action.READ_DOCUMENTS)
    row = conn.execute(_QUERY.where(cargo_referrals.c.id == referral_id, _visible(principal))).mappings().first()
    if row is None:
        raise NotFound("not_found.referral", id=referral_id)
    return view(row, _now(now))


def search(
    conn: Connection,
    principal: Principal,
    *,
    state: ReferralState | None = None,
    kind: ReferralKind | None = None,
    manifest_id: int | None = None,
    transport_document_reference: str | None = None,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Referrals, newest first: a carrier's own, or all for customs staff, by state, kind, report or bill."""
    require(principal, Action.READ_DOCUMENTS)
    now = _now(now)
    conditions: list[ColumnElement[bool]] = [_visible(principal)]
    if state is ReferralState.EXPIRED:
        conditions += [cargo_referrals.c.state == ReferralState.OPEN.value, cargo_referrals.c.deadline < now]
    elif state is ReferralState.OPEN:
        conditions += [cargo_referrals.c.state == ReferralState.OPEN.value, cargo_referrals.c.deadline >= now]
    elif state is not None:
        conditions.append(cargo_referrals.c.state == state.value)
    if kind is not None:
        conditions.append(cargo_referrals.c.kind == kind.value)
    if manifest_id is not None:
        conditions.append(cargo_referrals.c.manifest_id == manifest_id)
    if transport_document_reference is not None:
        conditions.append(cargo_referrals.c.transport_document_reference == transport_document_reference)
    rows, total = newest_first(conn, _QUERY, cargo_referrals, conditions, limit=limit, offset=offset)
    return [view(r, now) for r in rows], total


def _held(conn: Connection, referral_id: int, principal: Principal) -> Any:
    """The referral's row, locked for a change (PostgreSQL; SQLite serialises writers), if ``principal`` may see it."""
    query = select(cargo_referrals).where(cargo_referrals.c.id == referral_id, _visible(principal))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("not_found.referral", id=referral_id)
    return row


def answer(conn: Connection, referral_id: int, reply: ReferralAnswer, principal: Principal, *, now: datetime | None = None) -> dict[str, Any]:
    """The carrier answers an open referral of its cargo: the information asked, or the result
    of the screening. A *do not load* is not answered: customs lifts it."""
    require(principal, Action.ANSWER_REFERRALS)
    now = _now(now)
    row = _held(conn, referral_id, principal)
    state = referral_state(row["state"], row["deadline"], now)
    if row["kind"] == ReferralKind.DO_NOT_LOAD.value:
        raise Conflict("referral.not_answerable", id=referral_id)
    if state is not ReferralState.OPEN:
        raise Conflict("referral.not_open", id=referral_id, state=[f"referral.state.{state.value}"])  # a list of keys: translated
    issues = []
    if row["kind"] == ReferralKind.REQUEST_FOR_INFORMATION.value and reply.information is None:
        issues.append(Issue("/information", "referral.information_required", {}))
    if row["kind"] == ReferralKind.REQUEST_FOR_SCREENING.value and reply.screening_result is None:
        issues.append(Issue("/screening_result", "referral.screening_required", {}))
    if issues:
        raise ValidationFailed(issues)
    conn.execute(
        update(cargo_referrals)
        .where(cargo_referrals.c.id == referral_id)
        .values(state=ReferralState.ANSWERED.value, answer=reply.model_dump(mode="json", exclude_none=True), answered_by=principal.name, answered_at=now)
    )
    return get(conn, referral_id, principal, now=now)


def lift(conn: Connection, referral_id: int, note: ReferralLift, principal: Principal, *, now: datetime | None = None) -> dict[str, Any]:
    """An analyst closes a referral, answered or not: nothing more is asked of the carrier, and
    a *do not load* no longer blocks its bill."""
    require(principal, Action.REFER_CARGO)
    now = _now(now)
    row = _held(conn, referral_id, principal)
    if row["state"] == ReferralState.LIFTED.value:
        raise Conflict("referral.not_open", id=referral_id, state=[f"referral.state.{ReferralState.LIFTED.value}"])
    conn.execute(
        update(cargo_referrals)
        .where(cargo_referrals.c.id == referral_id)
        .values(state=ReferralState.LIFTED.value, lifted_by=principal.name, lifted_at=now, lift_note=note.note)
    )
    return get(conn, referral_id, principal, now=now)

