"""A small node whose declarations have events at known times, written straight into the tables
(the reports read them; the lanes and times must be exactly those the figures are checked against)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from avance.declarations.tables import declaration_events, declarations, goods_items
from avance.risk.profiles.tables import risk_profile_hits

T0 = datetime(2026, 4, 6, 8, tzinfo=timezone.utc)  # a Monday
H = timedelta(hours=1)


def add(
    conn: Connection,
    n: int,
    *,
    lodged: datetime,
    events: Sequence[tuple[str, datetime] | tuple[str, datetime, dict[str, Any]]] = (),
    office: str = "SN-DKR-PORT",
    lane: str = "green",
    mode: int = 1,
    hs: str = "1006300000",
    duty: str = "1000",
    status: str | None = None,
    basis: str = "policy.model.stream",
    score: str = "0.5",
    profiles: Sequence[str] = (),
) -> int:
    """Declaration number ``n`` with its lodging events and ``events`` (kind, time[, data])."""
    kinds = [e[0] for e in events]
    conn.execute(
        insert(declarations).values(
            id=n, lrn=f"R-{n}", declarant_id="SN0012345A7", importer_id="SN0098765B2", importer_name="Importer", office_code=office,
            procedure_code="4000", transport_mode_code=mode, estimated_arrival=lodged + 48 * H, registration_date=lodged.date(), lodged_at=lodged,
            invoice_currency="XOF", invoice_amount=Decimal(5000), currency="XOF", customs_value=Decimal(5000), duty_total=Decimal(duty),
            duties={"currency": "XOF", "lines": [], "total": duty}, lane=lane, score=Decimal(score),
            reasons=[{"code": basis, "params": {}}], assessor="learned:test", status=status or (kinds[-1] if kinds else "lane_assigned"), document={},
        )
    )
    conn.execute(
        insert(goods_items).values(
            declaration_id=n, sequence=1, hs_code=hs, description="x", origin_country="TH", procedure_code="4000", duty_regime="GEN",
            net_mass=Decimal(1), gross_mass=Decimal(1), invoice_amount=Decimal(5000), customs_value=Decimal(5000), fob_value=Decimal(5000),
            duty_total=Decimal(duty), duties={},
        )
    )
    rows = [
        {"declaration_id": n, "kind": "lodged", "at": lodged, "actor": "broker", "data": {}},
        {"declaration_id": n, "kind": "assessed", "at": lodged, "actor": "system", "data": {"duty_total": duty, "currency": "XOF"}},
        {"declaration_id": n, "kind": "lane_assigned", "at": lodged, "actor": "test", "data": {"lane": lane}},
    ]
    for event in events:
        data = event[2] if len(event) > 2 else {}  # type: ignore[misc]
        rows.append({"declaration_id": n, "kind": event[0], "at": event[1], "actor": "officer", "data": data})
    conn.execute(insert(declaration_events), rows)
    for profile in profiles:
        conn.execute(insert(risk_profile_hits).values(declaration_id=n, profile_id=profile, profile_version=1, lane=lane, at=lodged))
    return n


def control(fraud: bool, extra: str = "0") -> dict[str, Any]:
    return {"fraud_found": fraud, "fraud_kinds": ["undervaluation"] if fraud else [], "extra_duty": extra, "findings": None}


def day(d: datetime) -> date:
    return d.date()
