"""What officers and analysts see of transit movements, in the API and on the command line.

Plain dictionaries built from stored movements, events and alerts, with the labels in the reader's
language (the catalog's ``transit.*`` keys); the route models of ``avance.movements.schemas``
check them without changing a key. Nothing here reads the store: the caller passes the rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from avance.kit.i18n import t
from avance.movements.context import utcnow
from avance.movements.transit.model import is_overdue


def _plain(value: Decimal) -> str:
    return format(value, "f")


def summary(row: Any, lang: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    late = row["role"] != "en_route" and is_overdue(row["status"], row["time_limit"], now)
    return {
        "mrn": row["mrn"],
        "role": row["role"],
        "role_label": t(f"transit.role.{row['role']}", lang),
        "status": row["status"],
        "status_label": t(f"transit.status.{row['status']}", lang),
        "overdue": late,
        "departure_office": row["departure_office"],
        "destination_office": row["destination_office"],
        "principal_id": row["principal_id"],
        "principal_name": row["principal_name"],
        "guarantee": {"reference": row["guarantee_reference"], "amount": _plain(row["guarantee_amount"]), "currency": row["guarantee_currency"]},
        "registered_at": row["registered_at"].isoformat(),
        "time_limit": row["time_limit"].isoformat(),
    }


def detail(row: Any, events: list[Any], alert: Any, lang: str, now: datetime | None = None) -> dict[str, Any]:
    view = summary(row, lang, now)
    view.update(
        {
            "lrn": row["lrn"],
            "departure_node": row["departure_node"],
            "itinerary": row["itinerary"],
            "status_at": row["status_at"].isoformat(),
            "guarantee_released_at": row["guarantee_released_at"].isoformat() if row["guarantee_released_at"] else None,
            "events": [
                {
                    "kind": e["kind"],
                    "label": t(f"transit.event.{e['kind']}", lang),
                    "office_code": e["office_code"],
                    "country": e["country"],
                    "at": e["at"].isoformat(),
                    "source_node": e["source_node"],
                    "actor": e["actor"],
                    "data": e["data"],
                }
                for e in events
            ],
            "alert": None
            if alert is None
            else {"kind": alert["kind"], "label": t(f"transit.alert.{alert['kind']}", lang), "raised_at": alert["raised_at"].isoformat(), "data": alert["data"]},
            "declaration": row["document"],
        }
    )
    return view


def pending_view(row: Any, lang: str) -> dict[str, Any]:
    """A notification held for a movement this node does not know (or once held, and settled)."""
    return {
        "id": row["id"],
        "mrn": row["mrn"],
        "kind": row["kind"],
        "kind_label": t(f"transit.event.{row['kind']}", lang),
        "office_code": row["office_code"],
        "country": row["country"],
        "sender": row["sender"],
        "message_id": row["message_id"],
        "received_at": row["received_at"].isoformat(),
        "state": row["state"],
        "state_label": t(f"transit.pending.state.{row['state']}", lang),
        "settled_at": row["settled_at"].isoformat() if row["settled_at"] else None,
        "code": row["code"],
        "notification": row["payload"],
    }
