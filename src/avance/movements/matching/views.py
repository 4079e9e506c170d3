"""What officers and analysts see of mirror control, in the API and on the command line.

Plain dictionaries built from stored notices, with the labels in the reader's language (the catalog's
``matching.*`` keys); the route models of ``avance.movements.schemas`` check them without changing
a key. Nothing here reads the store: the caller passes the rows.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from avance.kit.i18n import t
from avance.movements.matching.model import RECEIVED, MatchingPolicy, MirrorSignal, policy_from


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def gap_view(gap: dict[str, Any], lang: str) -> dict[str, Any]:
    return gap | {"label": t(f"matching.gap.{gap['kind']}", lang)}


def notice_view(row: Any, lang: str, policy: MatchingPolicy | None = None) -> dict[str, Any]:
    """A notice and its outcome, as shown to officers and analysts."""
    policy = policy or policy_from()
    result = row["result"] or {}
    view = {
        "id": row["id"],
        "direction": row["direction"],
        "partner": row["partner"],
        "export_reference": row["export_reference"],
        "exporting_country": row["exporting_country"],
        "destination_country": row["destination_country"],
        "ucr": row["ucr"],
        "transport_document_reference": row["transport_document_reference"],
        "consignee_id": row["consignee_id"],
        "export_date": row["export_date"].isoformat(),
        "at": row["at"].isoformat(),
        "outcome": row["outcome"],
        "outcome_label": t(f"matching.outcome.{row['outcome']}", lang),
        "declaration_id": row["declaration_id"],
        "import_reference": row["import_reference"],
        "currency": row["currency"],
        "value_gap_percent": result.get("value_gap_percent", _plain(row["value_gap_percent"])),
        "revenue_gap": (result.get("revenue_gap") or {}).get("amount", _plain(row["revenue_gap"])),
        "exported_value": (result.get("exported_value") or {}).get("amount"),
        "declared_value": (result.get("declared_value") or {}).get("amount"),
        "gaps": [gap_view(g, lang) for g in result.get("gaps", [])],
        "notes": [t(n, lang) for n in result.get("notes", [])],
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        "notice": row["document"],
        "bill_declarations": list(row.get("bill_declarations") or ([row["declaration_id"]] if row["declaration_id"] is not None else [])),
    }
    if row["direction"] == RECEIVED and row["outcome"] == "pending":
        view["deadline"] = (row["export_date"] + timedelta(days=policy.deadline_days)).isoformat()
    return view


def declaration_view(declaration_id: int, notices: list[Any], signal: MirrorSignal | None, lang: str, policy: MatchingPolicy | None = None) -> dict[str, Any]:
    """The mirror control of an import declaration, for officers and analysts (not declarants:
    the reasons are risk information): outcome, suggested lane, reasons, the notices matched."""
    policy = policy or policy_from()
    return {
        "declaration_id": declaration_id,
        "outcome": signal.outcome if signal else None,
        "outcome_label": t(f"matching.outcome.{signal.outcome}", lang) if signal else None,
        "suggested_lane": signal.lane.value if signal and signal.lane else None,
        "reasons": [{"code": r.code, "detail": r.message(lang)} for r in signal.reasons] if signal else [],
        "matches": [notice_view(r, lang, policy) for r in notices],
    }


def summary(row: Any, lang: str) -> dict[str, Any]:
    """One line of a list of notices."""
    return {
        "id": row["id"],
        "direction": row["direction"],
        "partner": row["partner"],
        "export_reference": row["export_reference"],
        "exporting_country": row["exporting_country"],
        "export_date": row["export_date"].isoformat(),
        "outcome": row["outcome"],
        "outcome_label": t(f"matching.outcome.{row['outcome']}", lang),
        "declaration_id": row["declaration_id"],
        "value_gap_percent": (row["result"] or {}).get("value_gap_percent", _plain(row["value_gap_percent"])),
        "revenue_gap": ((row["result"] or {}).get("revenue_gap") or {}).get("amount", _plain(row["revenue_gap"])),
        "currency": row["currency"],
    }
