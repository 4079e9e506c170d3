"""The write-off report of cargo reports (apurement du manifeste): for each bill of lading of the
latest version of each cargo report, what its declarations wrote off against what the carrier
reported, and what is wrong with it:

- ``not_declared``: no declaration some days after arrival;
- ``over_declared``: declarations cleared more packages or more gross mass than the bill carries
  (declarations lodged before their report, or a report amended downwards);
- ``under_declared``: some days after arrival, part of the bill's packages or mass is still not
  declared;
- ``consignee_mismatch``: a declaration's importer is not the bill's named consignee (the bill
  not made out to order or to a bank).

How many days after arrival a bill must be declared is a node setting per office
(``manifests.write_off_days.<office>``), else the node's (``manifests.write_off_days``), else
``model.DEFAULT_WRITE_OFF_DAYS``. It reports, it never refuses a lodging. ``raise_alerts`` records
each finding once as an alert (``write_off_alerts``) and logs a warning: the node's worker runs it
periodically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select

from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.kit.errors import Issue, ValidationFailed
from avance.manifests.model import DEFAULT_WRITE_OFF_DAYS, BillPosition, FindingKind, findings
from avance.manifests.tables import bills_of_lading, consignment_lines, manifests, write_off_alerts
from avance.revenue.context import ReferenceContext
from avance.store import node_settings

log = logging.getLogger(__name__)

DAYS_KEY = "manifests.write_off_days"
"""Node setting: days after arrival before a bill not fully declared is reported; ``DAYS_KEY.<office>`` for one office."""

MAX_DAYS = 365


def write_off_days(conn: Connection) -> tuple[int, dict[str, int]]:
    """The node's number of days (or the default) and each office's own."""
    rows = conn.execute(
        select(node_settings.node_settings.c.key, node_settings.node_settings.c.value).where(
            or_(node_settings.node_settings.c.key == DAYS_KEY, node_settings.node_settings.c.key.like(f"{DAYS_KEY}.%"))
        )
    )
    default, offices = DEFAULT_WRITE_OFF_DAYS, {}
    for key, value in rows:
        if key == DAYS_KEY:
            default = int(value)
        else:
            offices[key[len(DAYS_KEY) + 1 :]] = int(value)
    return default, offices


def set_write_off_days(conn: Connection, ctx: ReferenceContext, days: int, office: str | None = None) -> None:
    """Set the number of days for ``office`` (one of the node's), or for the node when None."""
    issues = []
    if not 0 <= days <= MAX_DAYS:
        issues.append(Issue("/days", "write_off.days_range", {"days": days, "max": MAX_DAYS}))
    if office is not None:
        known = ctx.offices.get(office)
        if known is None or known.country != ctx.country:
            issues.append(Issue("/office_code", "office.unknown", {"code": office, "country": ctx.country}))
    if issues:
        raise ValidationFailed(issues)
    node_settings.put(conn, DAYS_KEY if office is None else f"{DAYS_KEY}.{office}", str(days))


def _positions(conn: Connection, *, office: str | None, manifest_reference: str | None, arrived_from: datetime | None, arrived_to: datetime | None) -> list[BillPosition]:
    """Each bill of the latest versions of the cargo reports asked for, with what open
    declarations wrote off against it: those that cite it, and those that name its transport
    document without citing a report."""
    conditions = []
    if office is not None:
        conditions.append(manifests.c.office_code == office)
    if manifest_reference is not None:
        conditions.append(manifests.c.reference == manifest_reference)
    if arrived_from is not None:
        conditions.append(manifests.c.estimated_arrival >= arrived_from)
    if arrived_to is not None:
        conditions.append(manifests.c.estimated_arrival < arrived_to)
    where = and_(True, *conditions)
    bills = conn.execute(
        select(
            bills_of_lading.c.id,
            bills_of_lading.c.transport_document_reference,
            bills_of_lading.c.consignee_id,
            bills_of_lading.c.consignee_name,
            bills_of_lading.c.package_quantity,
            bills_of_lading.c.gross_mass,
            manifests.c.id.label("manifest_id"),
            manifests.c.reference,
            manifests.c.office_code,
            manifests.c.estimated_arrival,
        )
        .join(manifests, manifests.c.id == bills_of_lading.c.manifest_id)
        .where(where)
        .order_by(manifests.c.estimated_arrival, manifests.c.reference, bills_of_lading.c.transport_document_reference)
    ).all()
    chosen = select(bills_of_lading.c.id).join(manifests, manifests.c.id == bills_of_lading.c.manifest_id).where(where)
    chosen_references = select(bills_of_lading.c.transport_document_reference).join(manifests, manifests.c.id == bills_of_lading.c.manifest_id).where(where)
    lines = conn.execute(
        select(consignment_lines.c.bill_id, consignment_lines.c.transport_document_reference, consignment_lines.c.packages, consignment_lines.c.gross_mass, consignment_lines.c.importer_id).where(
            consignment_lines.c.given_back_at.is_(None),
            or_(
                consignment_lines.c.bill_id.in_(chosen),
                and_(consignment_lines.c.bill_id.is_(None), consignment_lines.c.transport_document_reference.in_(chosen_references)),
            ),
        )
    )
    by_bill: dict[int, list[Any]] = {}
    waiting: dict[str, list[Any]] = {}
    for line in lines:
        if line.bill_id is not None:
            by_bill.setdefault(line.bill_id, []).append(line)
        else:
            waiting.setdefault(line.transport_document_reference, []).append(line)
    positions = []
    for b in bills:
        mine = by_bill.get(b.id, []) + waiting.get(b.transport_document_reference, [])
        positions.append(
            BillPosition(
                manifest_id=b.manifest_id,
                manifest_reference=b.reference,
                office_code=b.office_code,
                estimated_arrival=b.estimated_arrival,
                transport_document_reference=b.transport_document_reference,
                consignee_id=b.consignee_id,
                consignee_name=b.consignee_name,
                packages_on_bill=b.package_quantity,
                gross_mass_on_bill=b.gross_mass,
                packages_declared=sum(line.packages for line in mine),
                gross_mass_declared=sum((line.gross_mass for line in mine), Decimal(0)),  # summed here: SQLite keeps exact decimals as text
                declarations=len(mine),
                importer_ids=frozenset(line.importer_id for line in mine if line.importer_id is not None),
            )
        )
    return positions


def _figure(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _finding(bill: BillPosition, kind: FindingKind, days: int) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "manifest_id": bill.manifest_id,
        "manifest_reference": bill.manifest_reference,
        "office_code": bill.office_code,
        "transport_document_reference": bill.transport_document_reference,
        "estimated_arrival": bill.estimated_arrival.isoformat(),
        "due_by": (bill.estimated_arrival + timedelta(days=days)).isoformat(),
        "consignee_id": bill.consignee_id,
        "packages_on_bill": bill.packages_on_bill,
        "packages_declared": bill.packages_declared,
        "gross_mass_on_bill": _figure(bill.gross_mass_on_bill),
        "gross_mass_declared": _figure(bill.gross_mass_declared),
        "declarations": bill.declarations,
        "importer_ids": sorted(bill.importer_ids) if kind is FindingKind.CONSIGNEE_MISMATCH else [],
    }


def compute(
    conn: Connection,
    *,
    now: datetime | None = None,
    office: str | None = None,
    manifest_reference: str | None = None,
    kinds: Iterable[FindingKind] | None = None,
    arrived_from: datetime | None = None,
    arrived_to: datetime | None = None,
) -> list[dict[str, Any]]:
    """What the write-off report finds at ``now``, bill by bill (by arrival, report, bill), with
    when each was raised as an alert (``alerted_at``, None if not yet)."""
    now = now or datetime.now(timezone.utc)
    default, per_office = write_off_days(conn)
    wanted = set(kinds) if kinds else set(FindingKind)
    found = []
    for bill in _positions(conn, office=office, manifest_reference=manifest_reference, arrived_from=arrived_from, arrived_to=arrived_to):
        days = per_office.get(bill.office_code, default)
        for kind in findings(bill, days=days, now=now):
            if kind in wanted:
                found.append(_finding(bill, kind, days))
    if found:
        alerted = {
            (r.manifest_id, r.transport_document_reference, r.kind): r.raised_at
            for r in conn.execute(
                select(write_off_alerts.c.manifest_id, write_off_alerts.c.transport_document_reference, write_off_alerts.c.kind, write_off_alerts.c.raised_at).where(
                    write_off_alerts.c.manifest_id.in_({f["manifest_id"] for f in found})
                )
            )
        }
        for f in found:
            at = alerted.get((f["manifest_id"], f["transport_document_reference"], f["kind"]))
            f["alerted_at"] = at.isoformat() if at is not None else None
    return found


def report(
    conn: Connection,
    principal: Principal,
    *,
    now: datetime | None = None,
    office: str | None = None,
    manifest_reference: str | None = None,
    kinds: Iterable[FindingKind] | None = None,
    arrived_from: datetime | None = None,
    arrived_to: datetime | None = None,
) -> list[dict[str, Any]]:
    """The write-off report, for customs staff."""
    require(principal, Action.READ_REPORTS)
    return compute(conn, now=now, office=office, manifest_reference=manifest_reference, kinds=kinds, arrived_from=arrived_from, arrived_to=arrived_to)


def raise_alerts(conn: Connection, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Record each finding not raised before as an alert (once per bill and kind) and log a
    warning for it; the findings raised now."""
    now = now or datetime.now(timezone.utc)
    raised = []
    for f in compute(conn, now=now):
        if f["alerted_at"] is not None:
            continue
        data = {k: v for k, v in f.items() if k not in ("kind", "manifest_id", "transport_document_reference", "alerted_at")}
        conn.execute(
            insert(write_off_alerts).values(manifest_id=f["manifest_id"], transport_document_reference=f["transport_document_reference"], kind=f["kind"], raised_at=now, data=data)
        )
        log.warning(
            "write-off %s: bill %s of cargo report %s (office %s): %s of %s packages, %s of %s kg declared by %s declaration(s)",
            f["kind"],
            f["transport_document_reference"],
            f["manifest_reference"],
            f["office_code"],
            f["packages_declared"],
            f["packages_on_bill"],
            f["gross_mass_declared"],
            f["gross_mass_on_bill"],
            f["declarations"],
        )
        f["alerted_at"] = now.isoformat()
        raised.append(f)
    return raised
