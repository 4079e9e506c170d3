"""How a stored declaration is shown to a user, in the user's language (pure)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from avance.declarations.lifecycle import Debt, EventKind, Lifecycle, release_blockers
from avance.kit.i18n import t


def _money(value: Decimal | None) -> str | None:
    """Exact decimal text in plain notation (never ``1.2E+4``)."""
    return None if value is None else format(value, "f")


def breakdown_view(duties: dict[str, Any], lang: str) -> dict[str, Any]:
    """A stored duty breakdown with the line names in ``lang``."""
    lines = []
    for line in duties.get("lines", []):
        lines.append(
            {
                "code": line["code"],
                "name": line.get(f"name_{lang}") or line.get("name_fr") or line["code"],
                "base": line["base"],
                "rate": line["rate"],
                "amount": line["amount"],
            }
        )
    return {"currency": duties.get("currency"), "lines": lines, "total": duties.get("total")}


def reasons_view(reasons: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    return [{"code": r["code"], "detail": r["text"].get(lang) or next(iter(r["text"].values()))} for r in reasons]


def summary_view(row: Any, lang: str, *, risk: bool = True) -> dict[str, Any]:
    """One line of a list. ``risk=False`` leaves out the risk score (declarants do not see it)."""
    view = {
        "id": row["id"],
        "lrn": row["lrn"],
        "declarant_id": row["declarant_id"],
        "importer_id": row["importer_id"],
        "importer_name": row["importer_name"],
        "office_code": row["office_code"],
        "registration_date": row["registration_date"].isoformat(),
        "estimated_arrival": row["estimated_arrival"].isoformat(),
        "status": row["status"],
        "status_label": t(f"status.{row['status']}", lang),
        "lane": row["lane"],
        "lane_label": t(f"lane.{row['lane']}", lang),
        "score": _money(row["score"]),
        "currency": row["currency"],
        "customs_value": _money(row["customs_value"]),
        "duty_total": _money(row["duty_total"]),
    }
    if not risk:
        del view["score"]
    return view


def detail_view(record: Any, lang: str, *, risk: bool = True) -> dict[str, Any]:
    """Everything an officer needs on one declaration.

    With ``risk=False`` (the declarant's view) the lane stays but the score, the reasons and the
    assessor are left out: selectivity criteria are confidential, or traders would learn to
    declare just below them.
    """
    row = record.row
    life = record.lifecycle
    view = summary_view(row, lang, risk=risk)
    view.update(
        {
            "lodged_at": row["lodged_at"].isoformat(),
            "procedure_code": row["procedure_code"],
            "manifest_reference": row["manifest_reference"],
            "transport_document_reference": row["transport_document_reference"],
            "invoice_currency": row["invoice_currency"],
            "invoice_amount": _money(row["invoice_amount"]),
            "duties": breakdown_view(row["duties"], lang),
            "amount_due": _money(life.due),
            "amount_paid": _money(life.paid),
            "amount_outstanding": _money(life.outstanding),
            "reasons": reasons_view(row["reasons"], lang),
            "assessor": row["assessor"],
            "items": [
                {
                    "sequence": item["sequence"],
                    "hs_code": item["hs_code"],
                    "description": item["description"],
                    "origin_country": item["origin_country"],
                    "procedure_code": item["procedure_code"],
                    "customs_value": _money(item["customs_value"]),
                    "fob_value": _money(item["fob_value"]),
                    "duties_due": item["duties"].get("due", True),
                    "duties": breakdown_view(item["duties"], lang),
                }
                for item in record.items
            ],
            "events": [
                {
                    "kind": e.kind.value,
                    "label": t(f"status.{e.kind.value}", lang),
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "data": e.data or {},
                }
                for e in record.events
            ],
            "release_blockers": [b.message(lang) for b in release_blockers(life)]
            if not life.reached(EventKind.RELEASED)
            else [],
            "hours_arrival_to_release": life.hours_between(EventKind.ARRIVED, EventKind.RELEASED),
            "hours_lodging_to_release": life.hours_between(EventKind.LODGED, EventKind.RELEASED),
            "declaration": row["document"],
        }
    )
    if not risk:
        del view["reasons"], view["assessor"]
        for event in view["events"]:
            strip_for_declarant(event)
    return view


_DECLARANT_DATA: dict[str, tuple[str, ...] | None] = {
    "lane_assigned": ("lane",),  # not the score, the draw, the source or the criteria that hit
    "inspected": ("fraud_found", "fraud_kinds", "extra_duty"),  # not the officer's free-text findings
    "supplement": ("amount", "currency", "debt"),  # its reason is the findings' free text
}
"""What a declarant sees of each event's data (None or absent: all of it)."""


def strip_for_declarant(event: dict[str, Any]) -> dict[str, Any]:
    """An event as a declarant sees it: no customs officer's name (only its own lodging keeps
    its actor), no score, criteria or free-text findings in its data."""
    kept = _DECLARANT_DATA.get(event["kind"])
    if kept is not None:
        event["data"] = {k: v for k, v in event["data"].items() if k in kept}
    if event["kind"] != EventKind.LODGED.value:
        event["actor"] = None
    return event


def money_view(life: Lifecycle) -> dict[str, Any]:
    """What is due on a declaration, what was paid and what is still to pay (exact decimal text)."""
    return {"currency": life.currency, "amount_due": _money(life.due), "amount_paid": _money(life.paid), "amount_outstanding": _money(life.outstanding)}


def debt_view(row: Any, debt: Debt | None, lang: str) -> dict[str, Any]:
    """A debt of an importer: who assessed what and when, what was paid against it (receipts)."""
    paid = debt.paid if debt is not None else row["paid"]
    settled_at = debt.settled_at if debt is not None else row["settled_at"]
    status = "settled" if settled_at is not None else "open"
    return {
        "id": row["id"],
        "declaration_id": row["declaration_id"],
        "lrn": row["lrn"],
        "location": f"/declarations/{row['declaration_id']}",
        "importer_id": row["importer_id"],
        "importer_name": row["importer_name"],
        "office_code": row["office_code"],
        "currency": row["currency"],
        "amount": _money(row["amount"]),
        "paid": _money(paid),
        "outstanding": _money(row["amount"] - paid),
        "status": status,
        "status_label": t(f"debts.status.{status}", lang),
        "reason": row["reason"],
        "source": row["source"],
        "assessed_by": row["assessed_by"],
        "assessed_at": row["assessed_at"].isoformat(),
        "settled_at": settled_at.isoformat() if settled_at is not None else None,
        "payments": [
            {"receipt": p.receipt, "amount": _money(part), "at": p.at.isoformat(), "recorded_by": p.actor}
            for p, part in (debt.payments if debt is not None else ())
        ],
    }
