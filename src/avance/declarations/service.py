"""Declarations: lodge (one or many), read, list, and record what happens to the goods.

Functions take an open SQLAlchemy ``Connection`` inside a transaction (``avance.store.engine.write``), so
that a lodging and its events are stored together or not at all.
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator, Sequence

import orjson
from sqlalchemy import Connection, insert, select, tuple_, update
from sqlalchemy.exc import DataError, IntegrityError

from avance.store.engine import unstorable_text
from avance.store.paging import newest_first

from avance.auth.access import Action, require
from avance.auth.model import PARTY_ROLES, Principal, Role
from avance.declarations.lifecycle import (
    DEFAULT_TIME_RULES,
    Debt,
    Event,
    EventKind,
    Lifecycle,
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
from avance.declarations.model import GoodsDeclaration
from avance.declarations import duties, release_notes
from avance.manifests import service as manifests_service
from avance.declarations.extensions import Lodged
from avance.declarations.processing import MemoryLookups, NodeContext, ProcessedDeclaration, consignment_claim, process
from avance.manifests.model import BillFacts, Claim
from avance.declarations.assessment import Assessment, AssessmentInput, Lane, Reason
from avance.kit.errors import Conflict, Forbidden, Issue, NotFound, ValidationFailed
from avance.revenue.calculator import DutyBreakdown, decimal_text, rate_text
from avance.declarations.tables import debts, declaration_events, declarations, goods_items
from avance.store import audit


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class StoreLookups:
    """Lookups answered by the database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lrn_taken(self, declarant_id: str, lrn: str) -> bool:
        row = self.conn.execute(
            select(declarations.c.id).where(declarations.c.declarant_id == declarant_id, declarations.c.lrn == lrn)
        ).first()
        return row is not None

    def manifest_bills(self, manifest_reference: str) -> dict[str, BillFacts] | None:
        return manifests_service.bills_of(self.conn, manifest_reference)


def authorize_lodging(principal: Principal, d: GoodsDeclaration) -> None:
    """Who may lodge is the role table's (officers and analysts do not); a declarant lodges in its
    own name only."""
    require(principal, Action.LODGE)
    if principal.role is Role.DECLARANT and d.declarant.id != principal.party_id:
        raise Forbidden("forbidden.declarant_mismatch", declarant=d.declarant.id)


@lru_cache(maxsize=1024)
def _rate_text(rate: Decimal) -> str:
    return rate_text(rate)


def breakdown_record(b: DutyBreakdown) -> dict[str, Any]:
    """Stored form of a duty breakdown: both languages' line names, amounts as exact strings."""
    return {
        "currency": b.currency,
        "date": b.date.isoformat(),
        "customs_value": decimal_text(b.customs_value),
        "lines": [
            {
                "code": line.code,
                "name_fr": line.name_fr,
                "name_en": line.name_en,
                "base": decimal_text(line.base),
                "rate": None if line.rate is None else _rate_text(line.rate),
                "amount": decimal_text(line.amount),
            }
            for line in b.lines
        ],
        "total": decimal_text(b.total),
    }


def _rows(p: ProcessedDeclaration, lodged_at: datetime, lodged_by: int | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    d = p.declaration
    a = p.assessment
    declaration_row = {
        "lrn": d.lrn,
        "declarant_id": d.declarant.id,
        "importer_id": d.importer.id,
        "importer_name": d.importer.name,
        "office_code": d.office_code,
        "procedure_code": d.procedure_code,
        "transport_mode_code": d.transport_mode_code,
        "estimated_arrival": d.estimated_arrival,
        "registration_date": p.registration_date,
        "lodged_at": lodged_at,
        "manifest_reference": d.manifest_reference,
        "transport_document_reference": d.transport_document_reference,
        "invoice_currency": d.invoice_currency,
        "invoice_amount": d.invoice_amount,
        "currency": p.currency,
        "customs_value": p.customs_value,
        "duty_total": p.duty_total,
        "duties": breakdown_record(p.duties),
        "lane": a.lane.value,
        "score": a.score,
        "reasons": [r.to_record() for r in a.reasons],
        "assessor": a.assessor,
        "status": EventKind.LANE_ASSIGNED.value,
        "document": orjson.Fragment(d.model_dump_json()),  # serialised once, by Pydantic
        "lodged_by": lodged_by,
    }
    item_rows = []
    for item, result in zip(d.goods_items, p.items):
        item_rows.append(
            {
                "sequence": item.sequence,
                "hs_code": item.hs_code,
                "description": item.description,
                "origin_country": item.origin_country,
                "procedure_code": item.procedure_code or d.procedure_code,
                "duty_regime": item.duty_regime,
                "net_mass": item.net_mass,
                "gross_mass": item.gross_mass,
                "supplementary_quantity": item.supplementary_quantity,
                "invoice_amount": item.invoice_amount,
                "customs_value": result.customs_value,
                "fob_value": result.fob_value,
                "duty_total": result.duties.total if result.duties_due else Decimal(0),
                "duties": breakdown_record(result.duties) | {"due": result.duties_due},
            }
        )
    return declaration_row, item_rows


def _lodging_events(p: ProcessedDeclaration, at: datetime, actor: str | None) -> list[dict[str, Any]]:
    a = p.assessment
    lane: dict[str, Any] = {"lane": a.lane.value, "score": str(a.score)}
    if a.draw is not None:  # the random draw behind the lane, for the auditor's check
        lane["draw"] = a.draw.to_record()
    return [
        {"kind": EventKind.LODGED.value, "at": at, "actor": actor, "data": {"lrn": p.declaration.lrn}},
        {"kind": EventKind.ASSESSED.value, "at": at, "actor": "system", "data": {"duty_total": str(p.duty_total), "currency": p.currency}},
        {"kind": EventKind.LANE_ASSIGNED.value, "at": at, "actor": a.assessor, "data": lane},
    ]


def _store(conn: Connection, batch: Sequence[ProcessedDeclaration], ats: Sequence[datetime], lodged_by: int | None, actor: str | None) -> list[int]:
    rows = [_rows(p, at, lodged_by) for p, at in zip(batch, ats)]
    result = conn.execute(
        insert(declarations).returning(declarations.c.id, sort_by_parameter_order=True), [r[0] for r in rows]
    )
    ids = [row[0] for row in result]
    item_rows = []
    event_rows = []
    for declaration_id, (_, items), p, at in zip(ids, rows, batch, ats):
        for item in items:
            item["declaration_id"] = declaration_id
            item_rows.append(item)
        for event in _lodging_events(p, at, actor):
            event["declaration_id"] = declaration_id
            event_rows.append(event)
    conn.execute(insert(goods_items), item_rows)
    conn.execute(insert(declaration_events), event_rows)
    return ids


def _record_lodged(conn: Connection, principal: Principal, lodged: list[Lodged]) -> None:
    """The audit trail's record of each lodging: who, the LRN, the declarant and the lane."""
    if lodged:
        after = ({"lrn": x.declaration.lrn, "declarant": x.declaration.declarant.id, "lane": x.assessment.lane, "at": x.at} for x in lodged)
        audit.append(conn, [audit.entry(principal, "declaration.lodged", "declaration", x.id, after=a) for x, a in zip(lodged, after)])


def _after_lodging(conn: Connection, ctx: NodeContext, lodged: list[Lodged]) -> None:
    """The steps other capabilities add to a lodging (profile hits, mirror control), in its transaction."""
    if lodged:
        for step in ctx.after_lodging:
            step(conn, ctx, lodged)


@dataclass(frozen=True)
class Lodging:
    id: int
    replayed: bool  # the very same document was lodged before: nothing new was stored


def same_document(stored: Any, d: GoodsDeclaration) -> bool:
    """Whether ``stored`` (a declaration's document as lodged) is the document ``d``.

    A document stored by an earlier release lacks the fields added since (``split_consignment``);
    read again with today's model, it gains their defaults, so that resending it stays a retry."""
    sent = orjson.loads(d.model_dump_json())
    if stored == sent:
        return True
    if not isinstance(stored, dict) or set(stored) >= set(sent):
        return False
    try:
        return orjson.loads(GoodsDeclaration.model_validate(stored).model_dump_json()) == sent
    except ValueError:  # a document earlier rules accepted and today's refuse: not the one sent
        return False


def _earlier_identical(conn: Connection, d: GoodsDeclaration) -> int | None:
    """The id of this declarant's declaration with this LRN, if its document is the same one."""
    row = conn.execute(
        select(declarations.c.id, declarations.c.document).where(declarations.c.declarant_id == d.declarant.id, declarations.c.lrn == d.lrn)
    ).first()
    if row is not None and same_document(row.document, d):
        return int(row.id)
    return None


def with_expected_arrival(conn: Connection, body: dict[str, Any]) -> dict[str, Any]:
    """A declaration read from a message without an estimated arrival (the WCO DM DEC profile has
    no element for it; an ASYCUDA extract may leave it out), completed with the arrival of the
    lodged cargo report that lists its bill of lading. Refused (422 ``arrival.unknown``) when no
    lodged cargo report lists the bill: the carrier's report must come first, or the document
    must say when the goods arrive. A document that has one is returned as it is."""
    if body.get("estimated_arrival"):
        return body
    bill = body.get("transport_document_reference")
    expected = manifests_service.expected_arrival(conn, bill, body.get("manifest_reference")) if isinstance(bill, str) and bill else None
    if expected is None:
        raise ValidationFailed([Issue("/estimated_arrival", "arrival.unknown", {"bill": bill or "-"})])
    return {**body, "estimated_arrival": expected.isoformat()}


def lodge(
    conn: Connection,
    ctx: NodeContext,
    d: GoodsDeclaration,
    principal: Principal,
    *,
    registration_date: date | None = None,
    now: datetime | None = None,
) -> Lodging:
    """Lodge one declaration: validate, assess, store it with its events.

    Sending the same document again (a retry after a dropped connection) is not an error: the
    declaration lodged the first time is returned. The same LRN with a different document is a
    duplicate. The same goods of a transport document declared again, or beyond its bill's
    write-off balance, are refused (409, ``manifests.service.plan_write_offs``).
    """
    authorize_lodging(principal, d)
    earlier = _earlier_identical(conn, d)
    if earlier is not None:
        return Lodging(earlier, replayed=True)
    now = now or utcnow()
    claim = consignment_claim(d)
    _lock_documents(conn, [claim])
    processed = process(ctx, d, registration_date or now.astimezone(timezone.utc).date(), StoreLookups(conn))
    (write_off,) = manifests_service.plan_write_offs(conn, [claim])  # after the rules (a reused LRN is a 422)
    if isinstance(write_off, Conflict):
        raise write_off
    try:
        with conn.begin_nested():
            lodging = Lodging(_store(conn, [processed], [now], principal.user_id, principal.name)[0], replayed=False)
    except IntegrityError:  # a concurrent lodging took the same LRN between check and insert
        raise ValidationFailed([Issue("/lrn", "lrn.duplicate", {"lrn": d.lrn, "declarant": d.declarant.id})]) from None
    if write_off is not None:
        manifests_service.record_write_offs(conn, [(write_off, lodging.id, now)])
    done = [Lodged(lodging.id, d, processed.assessment, now)]
    _after_lodging(conn, ctx, done)
    _record_lodged(conn, principal, done)
    return lodging


def _lock_documents(conn: Connection, claims: Sequence[Claim | None]) -> None:
    """Lock the transport documents a lodging claims before its assessment runs: an assessment
    in a write transaction holds its office's quota row, and every path takes the documents
    first (an import batch, checked outside its transaction, locks them when it stores), so two
    lodgings never wait on each other in a circle."""
    manifests_service.lock_documents(conn, [c.transport_document_reference for c in claims if c is not None])


@dataclass(frozen=True)
class BatchOutcome:
    """Per input, in order: the stored id, or the issues that rejected it; ``replayed`` marks the
    documents that were already stored exactly as sent (a re-run import: nothing new stored)."""

    ids: list[int | None]
    issues: list[list[Issue] | None]
    replayed: list[bool] = dataclasses.field(default_factory=list)


def prepare_batch(
    ctx: NodeContext,
    batch: Sequence[tuple[GoodsDeclaration, date]],
    principal: Principal,
    manifests: dict[str, dict[str, BillFacts]],
    *,
    selection: str = "stream",
) -> list[ProcessedDeclaration | list[Issue]]:
    """Validate, value, tax and assess many declarations (CPU only, no database).

    ``manifests`` holds the bills of the cargo reports the batch cites. A repeat of an LRN inside
    the batch is a duplicate; duplicates of stored declarations are found by ``store_batch``, and
    so are the write-offs of bills and the same consignment declared twice (they need the store).
    ``selection="batch"`` lets the assessor place the accepted declarations in lanes together
    (each office's budget applied to the batch) instead of one by one against a running quota.
    """
    deferred = _Deferred() if selection == "batch" and hasattr(ctx.assessor, "assess_batch") else None
    working = dataclasses.replace(ctx, assessor=deferred) if deferred is not None else ctx
    lookups = MemoryLookups(manifests=manifests)
    results: list[ProcessedDeclaration | list[Issue]] = []
    for d, registration_date in batch:
        try:
            authorize_lodging(principal, d)
            results.append(process(working, d, registration_date, lookups))
            lookups.lrns.add((d.declarant.id, d.lrn))
        except ValidationFailed as exc:
            results.append(exc.issues)
        except Forbidden as exc:
            results.append([Issue("/declarant/id", exc.code, exc.params)])
    if deferred is not None and deferred.subjects:
        decided = iter(ctx.assessor.assess_batch(deferred.subjects))  # type: ignore[attr-defined]
        results = [r if isinstance(r, list) else dataclasses.replace(r, assessment=next(decided)) for r in results]
    return results


class _Deferred:
    """Stands in for the assessor while a batch is processed: keeps each subject for one
    batch decision (processing calls the assessor last, once per accepted declaration)."""

    name = "deferred"

    def __init__(self) -> None:
        self.subjects: list[AssessmentInput] = []

    def assess(self, subject: AssessmentInput) -> Assessment:
        self.subjects.append(subject)
        return Assessment(lane=Lane.GREEN, score=Decimal(0), reasons=(), assessor=self.name)


def cited_manifests(conn: Connection, references: Iterable[str]) -> dict[str, dict[str, BillFacts]]:
    """The bills of lading of each lodged cargo report among ``references``, with their consignee."""
    lookups = StoreLookups(conn)
    found = {}
    for reference in set(references):
        bills = lookups.manifest_bills(reference)
        if bills is not None:
            found[reference] = bills
    return found


def _duplicate(d: GoodsDeclaration) -> list[Issue]:
    return [Issue("/lrn", "lrn.duplicate", {"lrn": d.lrn, "declarant": d.declarant.id})]


def store_batch(
    conn: Connection,
    ctx: NodeContext,
    prepared: Sequence[ProcessedDeclaration | list[Issue]],
    principal: Principal,
    lodged_at: Sequence[datetime],
) -> BatchOutcome:
    """Store the accepted declarations of a prepared batch in bulk, inside a write transaction.

    LRNs already stored are rejected as duplicates here, where the write lock (SQLite) or the
    unique constraint (PostgreSQL) makes the check hold against concurrent importers; the very
    document already stored (an import run again) is not a duplicate but ``replayed``, like a
    resent document in ``lodge``. The same goods of a transport document declared a second time,
    and what exceeds a bill's write-off balance, are rejected here too (``manifests.service.
    plan_write_offs``, under the bills' row locks), against the store and the batch's earlier
    declarations. The steps that follow a lodging run on the stored ones, in the same transaction.
    """
    ids: list[int | None] = [None] * len(prepared)
    issues: list[list[Issue] | None] = [p if isinstance(p, list) else None for p in prepared]
    replayed = [False] * len(prepared)
    candidates = [(i, p) for i, p in enumerate(prepared) if not isinstance(p, list)]
    keys = [(p.declaration.declarant.id, p.declaration.lrn) for _, p in candidates]
    taken: dict[tuple[str, str], tuple[int, Any]] = {}
    if keys:
        rows = conn.execute(
            select(declarations.c.declarant_id, declarations.c.lrn, declarations.c.id, declarations.c.document).where(
                tuple_(declarations.c.declarant_id, declarations.c.lrn).in_(keys)
            )
        )
        taken = {(r.declarant_id, r.lrn): (int(r.id), r.document) for r in rows}
    accepted = []
    for i, p in candidates:
        earlier = taken.get((p.declaration.declarant.id, p.declaration.lrn))
        if earlier is None:
            accepted.append((i, p))
        elif same_document(earlier[1], p.declaration):  # the same document again: already stored
            ids[i], replayed[i] = earlier[0], True
        else:
            issues[i] = _duplicate(p.declaration)
    write_offs = {}  # one consignment, declared once: judged here, in the transaction, against the store and the batch
    planned = manifests_service.plan_write_offs(conn, [consignment_claim(p.declaration) for _, p in accepted])  # locks the bills
    for (i, _), plan in zip(accepted, planned):
        if isinstance(plan, Conflict):
            issues[i] = [Issue("/transport_document_reference", plan.code, plan.params)]
        elif plan is not None:
            write_offs[i] = plan
    accepted = [(i, p) for i, p in accepted if issues[i] is None]
    if accepted:
        try:
            with conn.begin_nested():
                stored = _store(conn, [p for _, p in accepted], [lodged_at[i] for i, _ in accepted], principal.user_id, principal.name)
            for (i, _), declaration_id in zip(accepted, stored):
                ids[i] = declaration_id
        except (IntegrityError, DataError):  # an LRN taken meanwhile, or text the database refuses: one by one
            for i, p in accepted:
                try:
                    with conn.begin_nested():
                        ids[i] = _store(conn, [p], [lodged_at[i]], principal.user_id, principal.name)[0]
                except IntegrityError:
                    issues[i] = _duplicate(p.declaration)
                except DataError as exc:
                    if not unstorable_text(exc):
                        raise
                    issues[i] = [Issue("", "error.unstorable_text", {})]
    manifests_service.record_write_offs(conn, [(w, ids[i], lodged_at[i]) for i, w in write_offs.items() if ids[i] is not None])  # type: ignore[misc]
    lodged = [Lodged(ids[i], p.declaration, p.assessment, lodged_at[i]) for i, p in accepted if ids[i] is not None]
    _after_lodging(conn, ctx, lodged)  # type: ignore[arg-type]
    _record_lodged(conn, principal, lodged)  # type: ignore[arg-type]
    return BatchOutcome(ids, issues, replayed)


def lodge_batch(
    conn: Connection,
    ctx: NodeContext,
    batch: Sequence[tuple[GoodsDeclaration, date]],
    principal: Principal,
    *,
    now: datetime | None = None,
    lodged_at: Sequence[datetime] | None = None,
) -> BatchOutcome:
    """Lodge many declarations with one round of lookups and bulk inserts, in ``conn``'s transaction.

    ``lodged_at`` gives each declaration's lodging time when replaying history (default: now).
    """
    now = now or utcnow()
    times = list(lodged_at) if lodged_at is not None else [now] * len(batch)
    _lock_documents(conn, [consignment_claim(d) for d, _ in batch])
    manifests = cited_manifests(conn, (d.manifest_reference for d, _ in batch if d.manifest_reference))
    return store_batch(conn, ctx, prepare_batch(ctx, batch, principal, manifests), principal, times)


# --- reading -------------------------------------------------------------------------------


def _visible(principal: Principal):
    if principal.role in PARTY_ROLES:  # a declarant, or a carrier: its own documents only
        return declarations.c.declarant_id == principal.party_id
    return None


def _load_row(conn: Connection, declaration_id: int, principal: Principal) -> Any:
    query = select(declarations).where(declarations.c.id == declaration_id)
    visible = _visible(principal)
    if visible is not None:
        query = query.where(visible)
    row = conn.execute(query).mappings().first()
    if row is None:  # another declarant's declaration does not exist for this caller
        raise NotFound("not_found.declaration", id=declaration_id)
    return row


def _events(conn: Connection, declaration_id: int) -> list[Event]:
    rows = conn.execute(
        select(declaration_events).where(declaration_events.c.declaration_id == declaration_id).order_by(declaration_events.c.id)
    ).mappings()
    return [Event(EventKind(r["kind"]), r["at"], r["actor"], r["data"], r["id"]) for r in rows]


@dataclass(frozen=True)
class DeclarationRecord:
    row: Any
    items: list[Any]
    events: list[Event]
    lifecycle: Lifecycle


def get(conn: Connection, declaration_id: int, principal: Principal) -> DeclarationRecord:
    """One declaration with its items, events and derived lifecycle, if the caller may see it."""
    row = _load_row(conn, declaration_id, principal)
    items = list(
        conn.execute(select(goods_items).where(goods_items.c.declaration_id == declaration_id).order_by(goods_items.c.sequence)).mappings()
    )
    events = _events(conn, declaration_id)
    return DeclarationRecord(row, items, events, derive(events))


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    lane: str | None = None
    office_code: str | None = None
    importer_id: str | None = None
    declarant_id: str | None = None
    lrn: str | None = None
    registered_from: date | None = None
    registered_to: date | None = None


def search(conn: Connection, principal: Principal, filters: Filters, *, page: int, page_size: int) -> tuple[list[Any], int]:
    """Declarations the caller may see, newest first, one page at a time; also the total count."""
    conditions = []
    visible = _visible(principal)
    if visible is not None:
        conditions.append(visible)
    for column in ("status", "lane", "office_code", "importer_id", "declarant_id", "lrn"):
        value = getattr(filters, column)
        if value is not None:
            conditions.append(declarations.c[column] == value)
    if filters.registered_from is not None:
        conditions.append(declarations.c.registration_date >= filters.registered_from)
    if filters.registered_to is not None:
        conditions.append(declarations.c.registration_date <= filters.registered_to)
    return newest_first(
        conn,
        select(
            declarations.c.id,
            declarations.c.lrn,
            declarations.c.declarant_id,
            declarations.c.importer_id,
            declarations.c.importer_name,
            declarations.c.office_code,
            declarations.c.registration_date,
            declarations.c.estimated_arrival,
            declarations.c.status,
            declarations.c.lane,
            declarations.c.score,
            declarations.c.currency,
            declarations.c.customs_value,
            declarations.c.duty_total,
        ),
        declarations,
        conditions,
        limit=page_size,
        offset=(page - 1) * page_size,
    )


# --- what happens to the goods -------------------------------------------------------------


def _append(conn: Connection, declaration_id: int, kind: EventKind, at: datetime, actor: Principal | str | None, data: dict[str, Any], *, receipt: str | None = None) -> int:
    name = actor.name if isinstance(actor, Principal) else actor
    result = conn.execute(
        insert(declaration_events).values(declaration_id=declaration_id, kind=kind.value, at=at, actor=name, data=data, receipt=receipt)
    )
    audit.record(conn, actor or "system", f"declaration.{kind.value}", "declaration", declaration_id, after={"at": at, "data": data, "receipt": receipt})
    if kind is EventKind.RELEASED:  # the bon à enlever is numbered at release, in its transaction
        release_notes.issue(conn, declaration_id, at)
    return int(result.inserted_primary_key[0])


def _refresh_status(conn: Connection, declaration_id: int) -> Lifecycle:
    life = derive(_events(conn, declaration_id))
    conn.execute(update(declarations).where(declarations.c.id == declaration_id).values(status=life.status.value))
    return life


def _refresh_debts(conn: Connection, life: Lifecycle) -> None:
    """What was paid against each debt (derived from the events; kept in ``debts`` for filtering)."""
    for debt in life.debts:
        if debt.supplement.event_id is not None:
            conn.execute(update(debts).where(debts.c.event_id == debt.supplement.event_id).values(paid=debt.paid, settled_at=debt.settled_at))


def _hold(conn: Connection, declaration_id: int, *columns: Any) -> Any:
    """The declaration's row (``columns`` of it, else all) for a change, held until the transaction
    ends so that two changes cannot race (PostgreSQL; SQLite writers are serialised)."""
    query = select(*(columns or (declarations,))).where(declarations.c.id == declaration_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("not_found.declaration", id=declaration_id)
    return row


def _locked(conn: Connection, declaration_id: int, principal: Principal) -> DeclarationRecord:
    """Read the declaration for a change, holding its row so that two officers cannot race; an
    officer acts only on the declarations of its offices (``duties.check_office``)."""
    _hold(conn, declaration_id, declarations.c.id)
    record = get(conn, declaration_id, principal)
    duties.check_office(principal, record.row["office_code"])
    return record


def raise_lane(
    conn: Connection,
    declaration_id: int,
    lane: Lane,
    reasons: Iterable[Reason],
    *,
    actor: str,
    source: str,
    now: datetime | None = None,
) -> Lane | None:
    """Raise the lane of a lodged declaration that is not closed to ``lane``; never lower it.

    The one way another capability (mirror control, for one) changes a lane: ``reasons`` are added
    to the declaration's reasons and a ``lane_assigned`` event records ``source`` and the previous
    lane. Goods already paid for wait for the control the new lane requires, and for what it finds
    due (``assess_supplement``). Goods released without any control (green) go to the one control
    still possible, a post-clearance audit (blue): what it finds is a debt of the importer.
    Returns the new lane, or None when nothing changed (already as strict, rejected, or released
    after a control or already under audit).
    """
    row = _hold(conn, declaration_id, declarations.c.lane, declarations.c.reasons)
    life = derive(_events(conn, declaration_id))
    current = Lane(row["lane"])
    raised = raised_lane(life, current, lane)
    if raised is None:
        return None
    lane = raised
    now = now or utcnow()
    check_time(life, EventKind.LANE_ASSIGNED, now, now=now)
    records = [r.to_record() for r in reasons]
    conn.execute(update(declarations).where(declarations.c.id == declaration_id).values(lane=lane.value, reasons=list(row["reasons"]) + records))
    _append(
        conn,
        declaration_id,
        EventKind.LANE_ASSIGNED,
        now,
        actor,
        {"lane": lane.value, "previous": current.value, "source": source, "reasons": [r["code"] for r in records]},
    )
    return lane


def assess_supplement(
    conn: Connection,
    declaration_id: int,
    amount: Decimal,
    reason: str | None,
    *,
    actor: str | None,
    source: str,
    now: datetime | None = None,
    rules: TimeRules = DEFAULT_TIME_RULES,
) -> Lifecycle:
    """A supplementary assessment: ``amount`` (national currency) more is due, for ``reason``.

    The one way to raise what a declaration owes: the control's findings (``source="inspection"``),
    mirror control and any later capability call it. A ``supplement`` event records amount,
    currency, reason, source and actor; the goods are not released until it is paid. Assessed
    after release (a post-clearance audit on the blue lane), it is a debt of the importer: a row
    of ``debts`` (listed by ``search_debts``), paid through ``record_payment`` like the rest.
    """
    now = now or utcnow()
    row = _hold(conn, declaration_id)
    life = derive(_events(conn, declaration_id))
    check_supplement(life, amount)
    check_time(life, EventKind.SUPPLEMENT, now, now=now, rules=rules)
    debt = life.reached(EventKind.RELEASED)
    data = {"amount": decimal_text(amount), "currency": row["currency"], "reason": reason, "source": source, "debt": debt}
    event_id = _append(conn, declaration_id, EventKind.SUPPLEMENT, now, actor, data)
    if debt:
        conn.execute(
            insert(debts).values(
                declaration_id=declaration_id,
                event_id=event_id,
                importer_id=row["importer_id"],
                importer_name=row["importer_name"],
                office_code=row["office_code"],
                currency=row["currency"],
                amount=amount,
                paid=Decimal(0),
                reason=reason,
                source=source,
                assessed_by=actor,
                assessed_at=now,
            )
        )
    life = _refresh_status(conn, declaration_id)
    _refresh_debts(conn, life)
    return life


def _auto_release(conn: Connection, record_id: int, life: Lifecycle, now: datetime) -> Lifecycle:
    if releases_automatically(life):
        _append(conn, record_id, EventKind.RELEASED, release_time(life, now), "system", {"automatic": True, "lane": life.lane})
        life = _refresh_status(conn, record_id)
    return life


def record_arrival(
    conn: Connection,
    declaration_id: int,
    principal: Principal,
    *,
    arrived_at: datetime | None = None,
    now: datetime | None = None,
    rules: TimeRules = DEFAULT_TIME_RULES,
) -> Lifecycle:
    """The goods have arrived; green and blue lanes already paid for are released at once.

    ``arrived_at`` (default now) may lie up to ``rules.clock_skew`` ahead of now, and up to
    ``rules.arrival_past_days`` days before the lodging (declarations may be lodged after arrival).
    """
    require(principal, Action.RECORD_CONTROL)
    now = now or utcnow()
    record = _locked(conn, declaration_id, principal)
    check_arrival(record.lifecycle)
    at = arrived_at or now
    check_time(record.lifecycle, EventKind.ARRIVED, at, now=now, rules=rules, pointer="/arrived_at")
    _append(conn, declaration_id, EventKind.ARRIVED, at, principal, {})
    life = _refresh_status(conn, declaration_id)
    return _auto_release(conn, declaration_id, life, now)


def record_inspection(
    conn: Connection,
    declaration_id: int,
    principal: Principal,
    *,
    fraud_found: bool,
    fraud_kinds: Iterable[str],
    extra_duty: Decimal,
    findings: str | None,
    now: datetime | None = None,
    rules: TimeRules = DEFAULT_TIME_RULES,
) -> Lifecycle:
    """The control's findings: these are the labels the risk engine learns from. Extra duty found
    is a supplementary assessment (``assess_supplement``): a debt when the goods were released."""
    require(principal, Action.RECORD_CONTROL)
    now = now or utcnow()
    record = _locked(conn, declaration_id, principal)
    check_inspection(record.lifecycle)
    kinds = sorted(set(fraud_kinds))
    if fraud_found and not kinds:
        raise ValidationFailed([Issue("/fraud_kinds", "inspection.kinds_required", {})])
    if not fraud_found and (kinds or extra_duty > 0):
        raise ValidationFailed([Issue("/fraud_found", "inspection.inconsistent", {})])
    check_time(record.lifecycle, EventKind.INSPECTED, now, now=now, rules=rules)
    data = {"fraud_found": fraud_found, "fraud_kinds": kinds, "extra_duty": str(extra_duty), "findings": findings}
    _append(conn, declaration_id, EventKind.INSPECTED, now, principal, data)
    if extra_duty > 0:
        return assess_supplement(conn, declaration_id, extra_duty, findings or ", ".join(kinds), actor=principal.name, source="inspection", now=now, rules=rules)
    return _refresh_status(conn, declaration_id)


def _receipt_taken(conn: Connection, receipt: str) -> bool:
    return conn.execute(select(declaration_events.c.id).where(declaration_events.c.receipt == receipt)).first() is not None


def record_payment(
    conn: Connection,
    declaration_id: int,
    principal: Principal,
    *,
    amount: Decimal,
    receipt: str,
    now: datetime | None = None,
    rules: TimeRules = DEFAULT_TIME_RULES,
) -> Lifecycle:
    """A payment of duties and taxes, whole or in part, never more than what is still due (with
    the supplements); after release, against the importer's debts. ``receipt`` is used once per
    node. The payment that settles everything may release green/blue goods."""
    require(principal, Action.RECORD_CONTROL)
    now = now or utcnow()
    if not amount > 0:
        raise ValidationFailed([Issue("/amount", "payments.amount_positive", {})])
    record = _locked(conn, declaration_id, principal)
    check_payment(record.lifecycle, amount)
    check_time(record.lifecycle, EventKind.PAID, now, now=now, rules=rules)
    if _receipt_taken(conn, receipt):
        raise Conflict("payments.receipt_used", receipt=receipt)
    data = {"amount": decimal_text(amount), "currency": record.row["currency"], "receipt": receipt}
    try:
        with conn.begin_nested():
            _append(conn, declaration_id, EventKind.PAID, now, principal, data, receipt=receipt)
    except IntegrityError:  # a concurrent payment took the receipt between check and insert
        raise Conflict("payments.receipt_used", receipt=receipt) from None
    life = _refresh_status(conn, declaration_id)
    _refresh_debts(conn, life)
    return _auto_release(conn, declaration_id, life, now)


def record_release(
    conn: Connection, declaration_id: int, principal: Principal, *, now: datetime | None = None, rules: TimeRules = DEFAULT_TIME_RULES
) -> Lifecycle:
    """Release (bon à enlever) once arrived, controlled as the lane requires, and everything due
    paid; the refusal says what is missing, the amount still due among it."""
    require(principal, Action.RECORD_CONTROL)
    now = now or utcnow()
    record = _locked(conn, declaration_id, principal)
    blockers = release_blockers(record.lifecycle)
    if blockers:
        raise ReleaseBlocked(blockers)
    duties.check_release(principal, record.lifecycle.lane, record.events, segregation=rules.segregation_of_duties)
    check_time(record.lifecycle, EventKind.RELEASED, now, now=now, rules=rules)
    _append(conn, declaration_id, EventKind.RELEASED, now, principal, {"automatic": False})
    return _refresh_status(conn, declaration_id)


def record_rejection(
    conn: Connection, declaration_id: int, principal: Principal, *, reason: str, now: datetime | None = None, rules: TimeRules = DEFAULT_TIME_RULES
) -> Lifecycle:
    """An officer invalidates a lodged declaration (e.g. documents refused); nothing follows it."""
    require(principal, Action.RECORD_CONTROL)
    now = now or utcnow()
    record = _locked(conn, declaration_id, principal)
    check_rejection(record.lifecycle)
    check_time(record.lifecycle, EventKind.REJECTED, now, now=now, rules=rules)
    _append(conn, declaration_id, EventKind.REJECTED, now, principal, {"reason": reason})
    manifests_service.give_back(conn, declaration_id, now)  # its bill's write-off and consignment are free again
    return _refresh_status(conn, declaration_id)


# --- debts and stored times ----------------------------------------------------------------


@dataclass(frozen=True)
class DebtFilters:
    importer_id: str | None = None
    office_code: str | None = None
    status: str | None = None  # "open" or "settled"


def search_debts(conn: Connection, principal: Principal, filters: DebtFilters, *, page: int, page_size: int) -> tuple[list[tuple[Any, Debt | None]], int]:
    """What post-clearance audits found owed, newest first, one page at a time, with the total
    count; each row with its debt as derived from the declaration's events (payments set against
    it). Officers, analysts and administrators only."""
    require(principal, Action.READ_DEBTS)
    conditions = []
    if filters.importer_id is not None:
        conditions.append(debts.c.importer_id == filters.importer_id)
    if filters.office_code is not None:
        conditions.append(debts.c.office_code == filters.office_code)
    if filters.status == "open":
        conditions.append(debts.c.settled_at.is_(None))
    elif filters.status == "settled":
        conditions.append(debts.c.settled_at.is_not(None))
    query = select(debts, declarations.c.lrn).join(declarations, declarations.c.id == debts.c.declaration_id)
    rows, total = newest_first(conn, query, debts, conditions, limit=page_size, offset=(page - 1) * page_size)
    lives = {i: derive(_events(conn, i)) for i in {r["declaration_id"] for r in rows}}
    found = []
    for r in rows:
        debt = next((d for d in lives[r["declaration_id"]].debts if d.supplement.event_id == r["event_id"]), None)
        found.append((r, debt))
    return found, total


@dataclass(frozen=True)
class TimeProblem:
    declaration_id: int
    lrn: str
    event: Event
    issue: Issue


def stored_time_problems(conn: Connection, *, now: datetime | None = None, rules: TimeRules = DEFAULT_TIME_RULES) -> Iterator[TimeProblem]:
    """Stored events whose time cannot be (written before the time rules held), declaration by
    declaration. Read-only: nothing is rewritten. The events are streamed, not loaded at once."""
    now = now or utcnow()
    query = (
        select(declaration_events, declarations.c.lrn)
        .join(declarations, declarations.c.id == declaration_events.c.declaration_id)
        .order_by(declaration_events.c.declaration_id, declaration_events.c.id)
    )
    current: tuple[int, str] | None = None
    batch: list[Event] = []
    for r in conn.execution_options(yield_per=2000).execute(query).mappings():
        if current is None or r["declaration_id"] != current[0]:
            if current is not None:
                yield from (TimeProblem(current[0], current[1], event, issue) for event, issue in audit_times(batch, now=now, rules=rules))
            current, batch = (r["declaration_id"], r["lrn"]), []
        batch.append(Event(EventKind(r["kind"]), r["at"], r["actor"], r["data"], r["id"]))
    if current is not None:
        yield from (TimeProblem(current[0], current[1], event, issue) for event, issue in audit_times(batch, now=now, rules=rules))
