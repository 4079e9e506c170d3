"""Cargo reports as an office works them: the voyages expected at its offices, the declarations
covering each bill of lading, and the arrival recorded once for a whole voyage.

A declaration covers a bill when it cites the bill's transport document and either the cargo
report or no cargo report at all. Recording a voyage's arrival records the arrival of every such
declaration (``service.record_arrival``, the API's rules), in the caller's one transaction; those
already arrived, and those rejected or released, are skipped and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Connection, func, or_, select

from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.declarations import service
from avance.declarations.lifecycle import DEFAULT_TIME_RULES, EventKind, TimeRules
from avance.declarations.tables import declarations
from avance.manifests import service as manifests_service
from avance.manifests.tables import manifests


def cargo_reports(conn: Connection, principal: Principal, offices: Sequence[str] | None, *, page: int = 1, page_size: int = 50) -> tuple[list[Any], int]:
    """Cargo reports expected at ``offices`` (None: every office), latest expected arrival first,
    one page at a time, with the total count. Customs staff only.

    Reads the manifests' table (there is no list in ``manifests.service`` yet): it changes nothing."""
    require(principal, Action.READ_RISK)
    conditions = [manifests.c.office_code.in_(list(offices))] if offices is not None else []
    total = conn.execute(select(func.count()).select_from(manifests).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(
            manifests.c.id,
            manifests.c.reference,
            manifests.c.carrier_id,
            manifests.c.office_code,
            manifests.c.voyage_number,
            manifests.c.conveyance_id,
            manifests.c.port_of_loading,
            manifests.c.estimated_arrival,
            func.coalesce(manifests.c.document["conveyance"]["name"].as_string(), "").label("conveyance_name"),
        )
        .where(*conditions)
        .order_by(manifests.c.estimated_arrival.desc(), manifests.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).mappings().all()
    return list(rows), int(total)


@dataclass(frozen=True)
class Bill:
    """A bill of lading of a cargo report and the declarations that cover it."""

    reference: str
    consignee: str
    description: str
    packages: int | None
    gross_mass: str | None
    containers: list[str]
    declarations: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class CargoReportView:
    report: dict[str, Any]  # as manifests.service.get gives it
    bills: list[Bill]

    @property
    def declarations(self) -> list[Any]:
        return [d for b in self.bills for d in b.declarations]


def _covering(conn: Connection, reference: str, documents: Sequence[str]) -> list[Any]:
    if not documents:
        return []
    return list(
        conn.execute(
            select(
                declarations.c.id,
                declarations.c.lrn,
                declarations.c.importer_name,
                declarations.c.transport_document_reference,
                declarations.c.status,
                declarations.c.lane,
            )
            .where(
                declarations.c.transport_document_reference.in_(list(documents)),
                or_(declarations.c.manifest_reference.is_(None), declarations.c.manifest_reference == reference),
            )
            .order_by(declarations.c.id)
        ).mappings()
    )


def cargo_report(conn: Connection, manifest_id: int, principal: Principal) -> CargoReportView:
    """A cargo report with its bills of lading and the declarations covering each (staff only)."""
    require(principal, Action.READ_RISK)
    report = manifests_service.get(conn, manifest_id, principal)
    document = report["manifest"] or {}
    listed = document.get("bills_of_lading") or []
    covering = _covering(conn, report["reference"], [b["transport_document_reference"] for b in listed])
    bills = []
    for b in listed:
        tdr = b["transport_document_reference"]
        bills.append(
            Bill(
                reference=tdr,
                consignee=(b.get("consignee") or {}).get("name") or "",
                description=b.get("description") or "",
                packages=b.get("package_quantity"),
                gross_mass=b.get("gross_mass"),
                containers=[c["id"] for c in b.get("containers") or []],
                declarations=[d for d in covering if d["transport_document_reference"] == tdr],
            )
        )
    return CargoReportView(report, bills)


@dataclass(frozen=True)
class VoyageArrival:
    """What recording a voyage's arrival did: declarations now arrived, and those skipped."""

    recorded: list[int]
    already_arrived: list[int]
    closed: list[int]  # rejected: nothing follows a rejection


def record_cargo_arrival(
    conn: Connection,
    manifest_id: int,
    principal: Principal,
    *,
    arrived_at: datetime | None = None,
    now: datetime | None = None,
    rules: TimeRules = DEFAULT_TIME_RULES,
) -> VoyageArrival:
    """The voyage of cargo report ``manifest_id`` has arrived: record the arrival of every
    declaration covering its bills, by the rules of a single arrival, in the caller's transaction
    (one refused arrival refuses them all: nothing half-stored)."""
    require(principal, Action.RECORD_CONTROL)
    view = cargo_report(conn, manifest_id, principal)
    recorded, already, closed = [], [], []
    for d in view.declarations:
        if d["status"] == EventKind.REJECTED.value:
            closed.append(d["id"])
            continue
        life = service.get(conn, d["id"], principal).lifecycle
        if life.reached(EventKind.ARRIVED):
            already.append(d["id"])
            continue
        service.record_arrival(conn, d["id"], principal, arrived_at=arrived_at, now=now, rules=rules)
        recorded.append(d["id"])
    return VoyageArrival(recorded, already, closed)
