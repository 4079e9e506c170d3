"""Cargo reports (manifests): check, store, read."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from avance.auth.access import Action, require
from avance.auth.model import Principal, Role
from avance.reference.containers import container_check_digit_ok
from avance.revenue.context import ReferenceContext, check_office
from avance.kit.errors import Forbidden, Issue, NotFound, ValidationFailed
from avance.manifests.model import CargoReport
from avance.reference import check_locode, is_country
from avance.manifests.tables import bills_of_lading, manifests


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


def bills_of(conn: Connection, manifest_reference: str) -> frozenset[str] | None:
    """The transport documents of cargo report ``manifest_reference``, or None when none was lodged."""
    manifest = conn.execute(select(manifests.c.id).where(manifests.c.reference == manifest_reference)).first()
    if manifest is None:
        return None
    rows = conn.execute(select(bills_of_lading.c.transport_document_reference).where(bills_of_lading.c.manifest_id == manifest.id))
    return frozenset(r[0] for r in rows)


def lodge(conn: Connection, ctx: ReferenceContext, m: CargoReport, principal: Principal, *, now: datetime | None = None) -> tuple[int, bool]:
    """Store a cargo report with its bills of lading; return its id and whether it was a retry.

    The same report sent again returns the first lodging; the same reference with another
    report is a duplicate.
    """
    require(principal, Action.LODGE)
    if principal.role is Role.DECLARANT and m.carrier.id != principal.party_id:  # a carrier reports its own cargo
        raise Forbidden("forbidden.declarant_mismatch", declarant=m.carrier.id)
    now = now or datetime.now(timezone.utc)
    earlier = conn.execute(select(manifests.c.id, manifests.c.document).where(manifests.c.reference == m.reference)).first()
    if earlier is not None and earlier.document == orjson.loads(m.model_dump_json()):
        return int(earlier.id), True  # a retry of the same cargo report: the first lodging stands
    issues = check(ctx, m, now.date())
    if earlier is not None:
        issues.append(Issue("/reference", "manifest.duplicate", {"reference": m.reference}))
    if issues:
        raise ValidationFailed(issues)
    try:
        with conn.begin_nested():
            manifest_id = conn.execute(
                insert(manifests).values(
                    reference=m.reference,
                    carrier_id=m.carrier.id,
                    office_code=m.office_code,
                    transport_mode_code=m.transport_mode_code,
                    voyage_number=m.voyage_number,
                    conveyance_id=m.conveyance.identification,
                    port_of_loading=m.port_of_loading,
                    port_of_discharge=m.port_of_discharge,
                    estimated_arrival=m.estimated_arrival,
                    document=orjson.Fragment(m.model_dump_json()),
                    lodged_by=principal.user_id,
                    lodged_at=now,
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(bills_of_lading),
                [
                    {
                        "manifest_id": manifest_id,
                        "transport_document_reference": b.transport_document_reference,
                        "consignee_id": b.consignee.id,
                        "consignee_name": b.consignee.name,
                        "description": b.description,
                        "package_quantity": b.package_quantity,
                        "gross_mass": b.gross_mass,
                        "container_ids": [c.id for c in b.containers],
                    }
                    for b in m.bills_of_lading
                ],
            )
    except IntegrityError:
        raise ValidationFailed([Issue("/reference", "manifest.duplicate", {"reference": m.reference})]) from None
    return int(manifest_id), False


def get(conn: Connection, manifest_id: int, principal: Principal) -> dict[str, Any]:
    query = select(manifests).where(manifests.c.id == manifest_id)
    if principal.role is Role.DECLARANT:
        query = query.where(manifests.c.carrier_id == principal.party_id)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("not_found.manifest", id=manifest_id)
    return {
        "id": row["id"],
        "reference": row["reference"],
        "carrier_id": row["carrier_id"],
        "office_code": row["office_code"],
        "estimated_arrival": row["estimated_arrival"].isoformat(),
        "lodged_at": row["lodged_at"].isoformat(),
        "manifest": row["document"],
    }
