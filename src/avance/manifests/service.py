"""Cargo reports (manifests): check, store, read; and the write-off of each bill of lading by
the declarations that clear it (one consignment, declared once).

What declarations declare against a transport document is kept here (``consignment_lines``),
with the declaration id as a plain number: manifests do not know declarations, the declarations
service calls ``plan_write_offs`` and ``record_write_offs`` in its lodging transaction, and
``give_back`` when a declaration is rejected. Every change to a document's lines first locks its
``consignments`` row (created by an upsert, so that two concurrent lodgings lock the same row).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from avance.store.paging import newest_first
from avance.auth.access import Action, require
from avance.auth.model import PARTY_ROLES, Principal
from avance.reference.containers import container_check_digit_ok
from avance.revenue.context import ReferenceContext, check_office
from avance.kit.errors import Conflict, Forbidden, Issue, NotFound, ValidationFailed
from avance.manifests import referrals
from avance.manifests.model import Balance, BillFacts, BillOfLading, CargoReport, Claim, ReferralKind, ReferralState, changes
from avance.reference import check_locode, is_country
from avance.manifests.tables import (
    bills_of_lading,
    cargo_referrals,
    consignment_discrepancies,
    consignment_lines,
    consignments,
    manifest_versions,
    manifests,
)


def check(ctx: ReferenceContext, m: CargoReport, today: date) -> list[Issue]:
    """Reference and business rules of a cargo report; empty when acceptable."""
    issues: list[Issue] = []
    office = check_office(ctx, m.office_code, m.transport_mode_code, issues)
    if check_locode(m.port_of_loading) is False:
        issues.append(Issue("/port_of_loading", "locode.unknown", {"code": m.port_of_loading}))
    if m.port_of_discharge[:2] != ctx.country:
        issues.append(Issue("/port_of_discharge", "manifest.port_not_national", {"code": m.port_of_discharge, "country": ctx.country}))
    elif check_locode(m.port_of_discharge) is False:
        issues.append(Issue("/port_of_discharge", "locode.unknown", {"code": m.port_of_discharge}))
    elif office is not None and office.locode and office.locode != m.port_of_discharge:
        issues.append(Issue("/office_code", "manifest.office_port", {"office": office.code, "code": m.port_of_discharge}))
    if m.carrier.country is not None and not is_country(m.carrier.country):
        issues.append(Issue("/carrier/country", "country.unknown", {"code": m.carrier.country}))
    if m.conveyance.nationality is not None and not is_country(m.conveyance.nationality):
        issues.append(Issue("/conveyance/nationality", "country.unknown", {"code": m.conveyance.nationality}))
    arrival = m.estimated_arrival.date()
    earliest, latest = today - timedelta(days=ctx.arrival_past_days), today + timedelta(days=ctx.arrival_future_days)
    if not earliest <= arrival <= latest:
        issues.append(Issue("/estimated_arrival", "arrival.implausible", {"earliest": earliest, "latest": latest}))
    seen: set[str] = set()
    for i, bill in enumerate(m.bills_of_lading):
        where = f"/bills_of_lading/{i}"
        if bill.transport_document_reference in seen:
            issues.append(Issue(f"{where}/transport_document_reference", "bill.duplicate", {"reference": bill.transport_document_reference}))
        seen.add(bill.transport_document_reference)
        for role in ("consignee", "consignor"):
            party = getattr(bill, role)
            if party is not None and party.country is not None and not is_country(party.country):
                issues.append(Issue(f"{where}/{role}/country", "country.unknown", {"code": party.country}))
        for j, container in enumerate(bill.containers):
            if not container_check_digit_ok(container.id):
                issues.append(Issue(f"{where}/containers/{j}/id", "container.check_digit", {"id": container.id}))
    return issues


def bills_of(conn: Connection, manifest_reference: str) -> dict[str, BillFacts] | None:
    """The transport documents of cargo report ``manifest_reference`` with what lodging needs to
    know of each (its consignee), or None when no such report was lodged."""
    manifest = conn.execute(select(manifests.c.id).where(manifests.c.reference == manifest_reference)).first()
    if manifest is None:
        return None
    rows = conn.execute(
        select(bills_of_lading.c.transport_document_reference, bills_of_lading.c.consignee_id, bills_of_lading.c.consignee_name).where(
            bills_of_lading.c.manifest_id == manifest.id
        )
    )
    return {r.transport_document_reference: BillFacts(r.consignee_id, r.consignee_name) for r in rows}


def expected_arrival(conn: Connection, transport_document_reference: str, manifest_reference: str | None = None) -> datetime | None:
    """When the conveyance carrying bill ``transport_document_reference`` is expected, from the
    lodged cargo report that lists it (``manifest_reference`` when given; else the latest report
    listing that bill); None when no lodged report lists it."""
    query = (
        select(manifests.c.estimated_arrival)
        .join(bills_of_lading, bills_of_lading.c.manifest_id == manifests.c.id)
        .where(bills_of_lading.c.transport_document_reference == transport_document_reference)
        .order_by(manifests.c.estimated_arrival.desc())
        .limit(1)
    )
    if manifest_reference:
        query = query.where(manifests.c.reference == manifest_reference)
    return conn.execute(query).scalar_one_or_none()


class ManifestLodging(tuple[int, bool]):
    """What lodging a cargo report did. It unpacks as ``(id, replayed)``, as lodging always
    answered (the importer and older callers read it so); ``version`` is the version the report
    is now at, and ``changes`` what that version changed (None for a first lodging or a resend:
    ``replayed`` then says nothing was stored); ``referrals`` the referrals the screen raised
    (as ``referrals.view`` shows them)."""

    version: int
    changes: dict[str, Any] | None
    referrals: list[dict[str, Any]]

    def __new__(
        cls, manifest_id: int, replayed: bool, version: int = 1, changes: dict[str, Any] | None = None, raised: list[dict[str, Any]] | None = None
    ) -> ManifestLodging:
        lodging = super().__new__(cls, (manifest_id, replayed))
        lodging.version, lodging.changes, lodging.referrals = version, changes, raised or []
        return lodging

    @property
    def id(self) -> int:
        return self[0]

    @property
    def replayed(self) -> bool:
        return self[1]


def _same_report(stored: Any, m: CargoReport) -> bool:
    """Whether the stored document is ``m`` (compared as documents: a report stored before a
    field was added to the model still compares equal)."""
    try:
        return CargoReport.model_validate(stored) == m
    except ValueError:
        return False


def _report_row(m: CargoReport) -> dict[str, Any]:
    """The indexed columns of a cargo report."""
    return {
        "carrier_id": m.carrier.id,
        "office_code": m.office_code,
        "transport_mode_code": m.transport_mode_code,
        "voyage_number": m.voyage_number,
        "conveyance_id": m.conveyance.identification,
        "port_of_loading": m.port_of_loading,
        "port_of_discharge": m.port_of_discharge,
        "estimated_arrival": m.estimated_arrival,
        "place_of_loading": m.place_of_loading,
        "loading_date": m.loading_date,
        "loaded": m.loaded,
        "document": orjson.Fragment(m.model_dump_json()),
    }


def _bill_row(b: BillOfLading) -> dict[str, Any]:
    return {
        "transport_document_reference": b.transport_document_reference,
        "consignee_id": b.consignee.id,
        "consignee_name": b.consignee.name,
        "description": b.description,
        "package_quantity": b.package_quantity,
        "gross_mass": b.gross_mass,
        "container_ids": [c.id for c in b.containers],
    }


def lodge(
    conn: Connection,
    ctx: ReferenceContext,
    m: CargoReport,
    principal: Principal,
    *,
    now: datetime | None = None,
    screen: referrals.Screen | None = None,
) -> ManifestLodging:
    """Store a cargo report with its bills of lading, or a new version of it.

    The same report sent again returns the latest version (nothing stored). The same reference
    from the same carrier with another report is an amendment, as carriers send them: a new
    version, with what it changed (bills added, removed, changed), and the bills follow it, so
    that their write-off balances do. The same reference from another carrier is a duplicate.

    ``screen`` (the selectivity profiles, given by the node) judges the bills of every version
    stored; the referrals it asks for are stored in this transaction (``referrals.raise_asked``).
    """
    require(principal, Action.LODGE_CARGO)
    if principal.role in PARTY_ROLES and m.carrier.id != principal.party_id:  # a carrier reports its own cargo
        raise Forbidden("forbidden.declarant_mismatch", declarant=m.carrier.id)
    now = now or datetime.now(timezone.utc)
    query = select(manifests.c.id, manifests.c.carrier_id, manifests.c.version, manifests.c.document).where(manifests.c.reference == m.reference)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two amendments of one report, one after the other
    earlier = conn.execute(query).first()
    if earlier is not None and earlier.carrier_id == m.carrier.id and _same_report(earlier.document, m):
        return ManifestLodging(int(earlier.id), True, int(earlier.version))  # a retry: the version stored stands
    issues = check(ctx, m, now.date())
    if earlier is not None and earlier.carrier_id != m.carrier.id:
        issues.append(Issue("/reference", "manifest.duplicate", {"reference": m.reference}))
    if issues:
        raise ValidationFailed(issues)
    if earlier is not None:
        lodging = _amend(conn, int(earlier.id), int(earlier.version), earlier.document, m, principal, now)
        return _screened(conn, lodging, m, screen, now)
    try:
        with conn.begin_nested():
            manifest_id = conn.execute(
                insert(manifests).values(reference=m.reference, lodged_by=principal.user_id, lodged_at=now, version=1, **_report_row(m))
            ).inserted_primary_key[0]
            conn.execute(insert(bills_of_lading), [{"manifest_id": manifest_id} | _bill_row(b) for b in m.bills_of_lading])
            conn.execute(
                insert(manifest_versions).values(
                    manifest_id=manifest_id, version=1, document=orjson.Fragment(m.model_dump_json()), changes=None, lodged_by=principal.user_id, lodged_at=now
                )
            )
    except IntegrityError:  # a concurrent first lodging of the same reference
        raise ValidationFailed([Issue("/reference", "manifest.duplicate", {"reference": m.reference})]) from None
    _write_off_earlier(conn, int(manifest_id), now)
    return _screened(conn, ManifestLodging(int(manifest_id), False, 1), m, screen, now)


def _screened(conn: Connection, lodging: ManifestLodging, m: CargoReport, screen: referrals.Screen | None, now: datetime) -> ManifestLodging:
    """The lodging with the referrals ``screen`` raised on the version just stored."""
    if screen is None:
        return lodging
    raised = referrals.raise_asked(conn, lodging.id, m.carrier.id, screen(conn, m, now=now), now=now)
    return ManifestLodging(lodging.id, lodging.replayed, lodging.version, lodging.changes, raised)


def _amend(conn: Connection, manifest_id: int, version: int, stored: Any, m: CargoReport, principal: Principal, now: datetime) -> ManifestLodging:
    """Store ``m`` as the next version of cargo report ``manifest_id`` and bring its bills to it:
    a bill removed no longer carries what was declared against it (those declarations wait for
    a report that lists the bill again), a bill changed keeps its declarations against its new
    figures (an excess is kept as a discrepancy, as for declarations lodged before their report),
    a bill added takes the declarations that named it before."""
    try:
        before = CargoReport.model_validate(stored)
        what = changes(before, m)
    except ValueError:  # a stored document the model no longer reads: compare the bills only
        before = None
        what = None
    bills = {
        r.transport_document_reference: r
        for r in conn.execute(select(bills_of_lading.c.id, bills_of_lading.c.transport_document_reference).where(bills_of_lading.c.manifest_id == manifest_id))
    }
    new_bills = {b.transport_document_reference: b for b in m.bills_of_lading}
    if what is None:
        what = {"report": {}, "bills_added": [r for r in new_bills if r not in bills], "bills_removed": [r for r in bills if r not in new_bills], "bills_changed": []}
    lock_documents(conn, set(bills) | set(new_bills))
    removed = [bills[r].id for r in bills if r not in new_bills]
    if removed:
        conn.execute(update(consignment_lines).where(consignment_lines.c.bill_id.in_(removed)).values(bill_id=None))
        conn.execute(delete(consignment_discrepancies).where(consignment_discrepancies.c.bill_id.in_(removed)))
        conn.execute(delete(bills_of_lading).where(bills_of_lading.c.id.in_(removed)))
    kept = [r for r in new_bills if r in bills]
    for reference in kept:
        conn.execute(update(bills_of_lading).where(bills_of_lading.c.id == bills[reference].id).values(**_bill_row(new_bills[reference])))
    added = [b for r, b in new_bills.items() if r not in bills]
    if added:
        conn.execute(insert(bills_of_lading), [{"manifest_id": manifest_id} | _bill_row(b) for b in added])
    version += 1
    conn.execute(update(manifests).where(manifests.c.id == manifest_id).values(version=version, amended_at=now, **_report_row(m)))
    conn.execute(
        insert(manifest_versions).values(
            manifest_id=manifest_id, version=version, document=orjson.Fragment(m.model_dump_json()), changes=what, lodged_by=principal.user_id, lodged_at=now
        )
    )
    changed = {c["transport_document_reference"] for c in what["bills_changed"]}
    _write_off_earlier(conn, manifest_id, now, only={b.transport_document_reference for b in added})
    _excess_after_change(conn, manifest_id, [bills[r].id for r in kept if r in changed], now)
    return ManifestLodging(manifest_id, False, version, what)


def _excess_after_change(conn: Connection, manifest_id: int, bill_ids: Sequence[int], at: datetime) -> None:
    """A bill an amendment changed: what its declarations already wrote off beyond its new
    packages or gross mass is kept as a discrepancy (the amendment itself is never refused)."""
    if not bill_ids:
        return
    written = _written_off(conn, bill_ids)
    rows = conn.execute(
        select(bills_of_lading.c.id, bills_of_lading.c.transport_document_reference, bills_of_lading.c.package_quantity, bills_of_lading.c.gross_mass).where(
            bills_of_lading.c.id.in_(bill_ids)
        )
    )
    for bill in rows:
        packages, mass = written.get(bill.id, (0, Decimal(0)))
        if packages > bill.package_quantity or mass > bill.gross_mass:
            declaration_ids = conn.execute(
                select(consignment_lines.c.declaration_id)
                .where(consignment_lines.c.bill_id == bill.id, consignment_lines.c.given_back_at.is_(None))
                .order_by(consignment_lines.c.id)
            ).scalars().all()
            _record_excess(conn, manifest_id, bill, packages, mass, list(declaration_ids), at)


def _record_excess(conn: Connection, manifest_id: int, bill: Any, packages: int, mass: Decimal, declaration_ids: list[int], at: datetime) -> None:
    """A bill whose declarations claim more packages or mass than it carries, kept for the write-off report."""
    conn.execute(
        insert(consignment_discrepancies).values(
            manifest_id=manifest_id,
            bill_id=bill.id,
            transport_document_reference=bill.transport_document_reference,
            packages_on_bill=bill.package_quantity,
            packages_declared=packages,
            gross_mass_on_bill=bill.gross_mass,
            gross_mass_declared=mass,
            declaration_ids=declaration_ids,
            recorded_at=at,
        )
    )


def _visible_report(principal: Principal) -> Any:
    """The cargo reports ``principal`` may read: a carrier (or a declarant) its own only."""
    if principal.role in PARTY_ROLES:
        return manifests.c.carrier_id == principal.party_id
    return true()


def get(conn: Connection, manifest_id: int, principal: Principal) -> dict[str, Any]:
    row = conn.execute(select(manifests).where(manifests.c.id == manifest_id, _visible_report(principal))).mappings().first()
    if row is None:
        raise NotFound("not_found.manifest", id=manifest_id)
    party = principal.role in PARTY_ROLES
    return {
        "id": row["id"],
        "reference": row["reference"],
        "version": row["version"],
        "carrier_id": row["carrier_id"],
        "office_code": row["office_code"],
        "estimated_arrival": row["estimated_arrival"].isoformat(),
        "loaded": row["loaded"],
        "place_of_loading": row["place_of_loading"],
        "loading_date": row["loading_date"].isoformat() if row["loading_date"] is not None else None,
        "lodged_at": row["lodged_at"].isoformat(),
        "amended_at": row["amended_at"].isoformat() if row["amended_at"] is not None else None,
        "manifest": row["document"],
        "discrepancies": None if party else [
            _discrepancy(d) | {"declarations": len(d["declaration_ids"])}
            for d in conn.execute(
                select(consignment_discrepancies).where(consignment_discrepancies.c.manifest_id == manifest_id).order_by(consignment_discrepancies.c.id)
            ).mappings()
        ],
    }


def versions(conn: Connection, manifest_id: int, principal: Principal) -> list[dict[str, Any]]:
    """The versions of a cargo report, first to latest, each with what it changed."""
    require(principal, Action.READ_DOCUMENTS)
    known = conn.execute(select(manifests.c.id).where(manifests.c.id == manifest_id, _visible_report(principal))).first()
    if known is None:
        raise NotFound("not_found.manifest", id=manifest_id)
    rows = conn.execute(
        select(manifest_versions.c.version, manifest_versions.c.changes, manifest_versions.c.lodged_at, manifest_versions.c.document)
        .where(manifest_versions.c.manifest_id == manifest_id)
        .order_by(manifest_versions.c.version)
    )
    return [
        {"version": r.version, "lodged_at": r.lodged_at.isoformat(), "bills_of_lading": len(r.document.get("bills_of_lading", [])), "changes": r.changes}
        for r in rows
    ]


def version_document(conn: Connection, manifest_id: int, version: int, principal: Principal) -> dict[str, Any]:
    """The cargo report as lodged in one of its versions."""
    require(principal, Action.READ_DOCUMENTS)
    row = conn.execute(
        select(manifest_versions.c.document)
        .join(manifests, manifests.c.id == manifest_versions.c.manifest_id)
        .where(manifest_versions.c.manifest_id == manifest_id, manifest_versions.c.version == version, _visible_report(principal))
    ).first()
    if row is None:
        raise NotFound("not_found.manifest_version", id=manifest_id, version=version)
    return dict(row.document)


# --- the write-off of bills of lading --------------------------------------------------------


def _figure(value: Decimal) -> str:
    """A mass as plain digits (1000, never 1E+3)."""
    return format(value.normalize(), "f")


def lock_documents(conn: Connection, references: Iterable[str]) -> None:
    """Lock the consignment rows of the transport documents ``references`` until the transaction
    ends, creating those that do not exist yet. Rows are locked in order, so that two lodgings
    never wait on each other in a circle; a lodging locks its documents before anything else it
    locks (its office's quota row), as a batch does. SQLite serialises writers already (BEGIN
    IMMEDIATE): there the upsert suffices."""
    ordered = sorted(set(references))
    if not ordered:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(consignments).on_conflict_do_nothing(index_elements=["transport_document_reference"]),
        [{"transport_document_reference": r} for r in ordered],
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(consignments.c.transport_document_reference)
            .where(consignments.c.transport_document_reference.in_(ordered))
            .order_by(consignments.c.transport_document_reference)
            .with_for_update()
        ).all()


@dataclass(frozen=True, slots=True)
class _Bill:
    id: int
    packages: int
    gross_mass: Decimal


@dataclass(frozen=True, slots=True)
class WriteOff:
    """A claim found acceptable: the bill it writes off, if its cargo report was lodged."""

    claim: Claim
    bill_id: int | None


def _written_off(conn: Connection, bill_ids: Iterable[int]) -> dict[int, tuple[int, Decimal]]:
    """Packages and gross mass written off each bill by declarations not rejected."""
    totals: dict[int, tuple[int, Decimal]] = {}
    ids = list(set(bill_ids))
    if not ids:
        return totals
    rows = conn.execute(
        select(consignment_lines.c.bill_id, consignment_lines.c.packages, consignment_lines.c.gross_mass).where(
            consignment_lines.c.bill_id.in_(ids), consignment_lines.c.given_back_at.is_(None)
        )
    )
    for bill_id, packages, mass in rows:  # summed here: SQLite keeps exact decimals as text
        done_packages, done_mass = totals.get(bill_id, (0, Decimal(0)))
        totals[bill_id] = (done_packages + packages, done_mass + mass)
    return totals


def _not_to_load(conn: Connection, references: Iterable[str]) -> set[str]:
    """The transport documents among ``references`` held by a *do not load* referral not lifted."""
    return set(
        conn.execute(
            select(cargo_referrals.c.transport_document_reference).where(
                cargo_referrals.c.transport_document_reference.in_(set(references)),
                cargo_referrals.c.kind == ReferralKind.DO_NOT_LOAD.value,
                cargo_referrals.c.state != ReferralState.LIFTED.value,
            )
        ).scalars()
    )


def plan_write_offs(conn: Connection, claims: Sequence[Claim | None]) -> list[WriteOff | Conflict | None]:
    """Lock the transport documents of ``claims`` and judge each claim, in order, against what
    is already declared and against the claims before it: the write-off to record once its
    declaration is stored, or the refusal (None for a declaration that cites no document).

    - The same goods declared again on the same document while an earlier declaration is open
      (not rejected; released ones count) are refused (``consignment.already_declared``), unless
      the new declaration says it is a part of a split consignment.
    - A transport document under a *do not load* referral not lifted yet is refused
      (``referral.do_not_load``).
    - A claim citing a lodged cargo report writes off its bill: what exceeds the packages or the
      gross mass left is refused (``consignment.exceeds_balance``, with the figures).

    Refusals are 409: the declaration is well formed, but the bill's state does not allow it
    (it may pass once an earlier declaration is rejected). They name the document only, never
    the earlier declaration, its declarant or its lane.
    """
    wanted = [c for c in claims if c is not None]
    lock_documents(conn, (c.transport_document_reference for c in wanted))
    if not wanted:
        return [None] * len(claims)
    references = {c.transport_document_reference for c in wanted}
    declared: dict[str, list[tuple[frozenset[str], frozenset[str]]]] = {r: [] for r in references}
    rows = conn.execute(
        select(consignment_lines.c.transport_document_reference, consignment_lines.c.hs_headings, consignment_lines.c.container_ids).where(
            consignment_lines.c.transport_document_reference.in_(references), consignment_lines.c.given_back_at.is_(None)
        )
    )
    for reference, headings, containers in rows:
        declared[reference].append((frozenset(headings), frozenset(containers)))
    held = _not_to_load(conn, references)
    bills: dict[tuple[str, str], _Bill] = {}
    cited = {(c.manifest_reference, c.transport_document_reference) for c in wanted if c.manifest_reference is not None}
    if cited:
        rows = conn.execute(
            select(manifests.c.reference, bills_of_lading.c.transport_document_reference, bills_of_lading.c.id, bills_of_lading.c.package_quantity, bills_of_lading.c.gross_mass)
            .join(manifests, manifests.c.id == bills_of_lading.c.manifest_id)
            .where(manifests.c.reference.in_({m for m, _ in cited}), bills_of_lading.c.transport_document_reference.in_(references))
        )
        bills = {(r.reference, r.transport_document_reference): _Bill(r.id, r.package_quantity, r.gross_mass) for r in rows}
    written = _written_off(conn, (b.id for b in bills.values()))
    outcomes: list[WriteOff | Conflict | None] = []
    for claim in claims:
        if claim is None:
            outcomes.append(None)
            continue
        reference = claim.transport_document_reference
        if reference in held:
            outcomes.append(Conflict("referral.do_not_load", bill=reference))
            continue
        if not claim.split and any(claim.same_goods(headings, containers) for headings, containers in declared[reference]):
            outcomes.append(Conflict("consignment.already_declared", bill=reference))
            continue
        bill = bills.get((claim.manifest_reference, reference)) if claim.manifest_reference is not None else None
        if bill is not None:
            packages, mass = written.get(bill.id, (0, Decimal(0)))
            if packages + claim.packages > bill.packages or mass + claim.gross_mass > bill.gross_mass:
                outcomes.append(
                    Conflict(
                        "consignment.exceeds_balance",
                        bill=reference,
                        packages_on_bill=bill.packages,
                        packages_written_off=packages,
                        packages_declared=claim.packages,
                        mass_on_bill=_figure(bill.gross_mass),
                        mass_written_off=_figure(mass),
                        mass_declared=_figure(claim.gross_mass),
                    )
                )
                continue
            written[bill.id] = (packages + claim.packages, mass + claim.gross_mass)
        declared[reference].append((claim.hs_headings, claim.container_ids))
        outcomes.append(WriteOff(claim, bill.id if bill is not None else None))
    return outcomes


def record_write_offs(conn: Connection, stored: Sequence[tuple[WriteOff, int, datetime]]) -> None:
    """Record what each stored declaration (``WriteOff``, declaration id, lodging time) declared
    against its document, in the transaction that planned it (its documents are still locked)."""
    if not stored:
        return
    conn.execute(
        insert(consignment_lines),
        [
            {
                "transport_document_reference": w.claim.transport_document_reference,
                "declaration_id": declaration_id,
                "bill_id": w.bill_id,
                "packages": w.claim.packages,
                "gross_mass": w.claim.gross_mass,
                "hs_headings": sorted(w.claim.hs_headings),
                "container_ids": sorted(w.claim.container_ids),
                "split": w.claim.split,
                "importer_id": w.claim.importer_id,
                "declared_at": at,
            }
            for w, declaration_id, at in stored
        ],
    )


def give_back(conn: Connection, declaration_id: int, at: datetime) -> None:
    """A rejected declaration no longer writes off its bill nor holds its goods declared."""
    references = conn.execute(
        select(consignment_lines.c.transport_document_reference).where(
            consignment_lines.c.declaration_id == declaration_id, consignment_lines.c.given_back_at.is_(None)
        )
    ).scalars().all()
    if not references:
        return
    lock_documents(conn, references)
    conn.execute(
        update(consignment_lines)
        .where(consignment_lines.c.declaration_id == declaration_id, consignment_lines.c.given_back_at.is_(None))
        .values(given_back_at=at)
    )


def _write_off_earlier(conn: Connection, manifest_id: int, at: datetime, *, only: set[str] | None = None) -> None:
    """A cargo report lodged after declarations of its bills: each bill is written off by the
    declarations that named it before it was reported (open ones only). What they declared
    beyond the bill's packages or gross mass is kept as a discrepancy for officers; the
    cargo report itself is never refused for it. ``only``: the references of the bills to look at
    (those an amendment added), else all the report's bills."""
    bills = conn.execute(
        select(bills_of_lading.c.id, bills_of_lading.c.transport_document_reference, bills_of_lading.c.package_quantity, bills_of_lading.c.gross_mass)
        .where(bills_of_lading.c.manifest_id == manifest_id)
        .order_by(bills_of_lading.c.transport_document_reference)
    ).all()
    if only is not None:  # an amendment: the bills it added
        bills = [b for b in bills if b.transport_document_reference in only]
    references = [b.transport_document_reference for b in bills]
    if not references:
        return
    lock_documents(conn, references)
    waiting: dict[str, list[tuple[int, int, int, Decimal]]] = {}
    rows = conn.execute(
        select(consignment_lines.c.id, consignment_lines.c.transport_document_reference, consignment_lines.c.declaration_id, consignment_lines.c.packages, consignment_lines.c.gross_mass)
        .where(
            consignment_lines.c.transport_document_reference.in_(references),
            consignment_lines.c.bill_id.is_(None),
            consignment_lines.c.given_back_at.is_(None),
        )
        .order_by(consignment_lines.c.id)
    )
    for line_id, reference, declaration_id, packages, mass in rows:
        waiting.setdefault(reference, []).append((line_id, declaration_id, packages, mass))
    for bill in bills:
        lines = waiting.get(bill.transport_document_reference)
        if not lines:
            continue
        conn.execute(update(consignment_lines).where(consignment_lines.c.id.in_([line[0] for line in lines])).values(bill_id=bill.id))
        packages = sum(line[2] for line in lines)
        mass = sum((line[3] for line in lines), Decimal(0))
        if packages > bill.package_quantity or mass > bill.gross_mass:
            _record_excess(conn, manifest_id, bill, packages, mass, [line[1] for line in lines], at)


def balance(conn: Connection, manifest_reference: str, transport_document_reference: str) -> Balance | None:
    """The write-off balance of a bill on a lodged cargo report, or None when there is no such bill."""
    bill = conn.execute(
        select(bills_of_lading.c.id, bills_of_lading.c.package_quantity, bills_of_lading.c.gross_mass)
        .join(manifests, manifests.c.id == bills_of_lading.c.manifest_id)
        .where(manifests.c.reference == manifest_reference, bills_of_lading.c.transport_document_reference == transport_document_reference)
    ).first()
    if bill is None:
        return None
    packages, mass = _written_off(conn, [bill.id]).get(bill.id, (0, Decimal(0)))
    return Balance(bill.package_quantity, bill.gross_mass, packages, mass)


def _discrepancy(r: Any) -> dict[str, Any]:
    """What a discrepancy row says of its bill: reported by the carrier, declared, and when."""
    return {
        "transport_document_reference": r["transport_document_reference"],
        "packages_on_bill": r["packages_on_bill"],
        "packages_declared": r["packages_declared"],
        "gross_mass_on_bill": _figure(r["gross_mass_on_bill"]),
        "gross_mass_declared": _figure(r["gross_mass_declared"]),
        "recorded_at": r["recorded_at"].isoformat(),
    }


def discrepancies(conn: Connection, principal: Principal, *, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Bills whose declarations cleared more than the carrier reported, newest first (officers)."""
    require(principal, Action.READ_RISK)
    query = select(consignment_discrepancies, manifests.c.reference.label("manifest_reference")).join(
        manifests, manifests.c.id == consignment_discrepancies.c.manifest_id
    )
    rows, total = newest_first(conn, query, consignment_discrepancies, limit=limit, offset=offset)
    items = [
        {"manifest_id": r["manifest_id"], "manifest_reference": r["manifest_reference"]} | _discrepancy(r) | {"declaration_ids": list(r["declaration_ids"])}
        for r in rows
    ]
    return items, total
