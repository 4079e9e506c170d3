"""How the links with partners are doing: queues, last success, last error, dead letters, rejections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from avance.exchange.envelope import format_time, now
from avance.exchange.keys import node_id_or_none
from avance.exchange.tables import exchange_alerts, exchange_inbox, exchange_outbox, exchange_partners, exchange_rejection_counts


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def report(conn: Connection, at: datetime | None = None) -> dict[str, Any]:
    """Per partner: outbound queue and link state, inbound counts; then rejections by reason."""
    at = at or now()
    outbound: dict[str, dict[str, int]] = {}
    for recipient, state, count in conn.execute(
        select(exchange_outbox.c.recipient, exchange_outbox.c.state, func.count()).group_by(exchange_outbox.c.recipient, exchange_outbox.c.state)
    ):
        outbound.setdefault(recipient, {})[state] = int(count)
    oldest = {
        r[0]: r[1]
        for r in conn.execute(
            select(exchange_outbox.c.recipient, func.min(exchange_outbox.c.enqueued_at)).where(exchange_outbox.c.state == "pending").group_by(exchange_outbox.c.recipient)
        )
    }
    inbound: dict[str, dict[str, int]] = {}
    for sender, state, count, duplicates in conn.execute(
        select(exchange_inbox.c.sender, exchange_inbox.c.state, func.count(), func.coalesce(func.sum(exchange_inbox.c.duplicates), 0)).group_by(
            exchange_inbox.c.sender, exchange_inbox.c.state
        )
    ):
        entry = inbound.setdefault(sender, {"applied": 0, "buffered": 0, "rejected": 0, "duplicates": 0})
        entry[state] = int(count)
        entry["duplicates"] += int(duplicates)
    partners = []
    for p in conn.execute(select(exchange_partners).order_by(exchange_partners.c.node_id)).mappings():
        counts = outbound.get(p["node_id"], {})
        first = oldest.get(p["node_id"])
        partners.append(
            {
                "node_id": p["node_id"],
                "country": p["country"],
                "endpoint": p["endpoint"],
                "queue_depth": counts.get("pending", 0),
                "oldest_pending_at": _time(first),
                "oldest_pending_seconds": round((at - first).total_seconds(), 3) if first is not None else None,
                "delivered": counts.get("delivered", 0),
                "rejected": counts.get("rejected", 0),
                "dead_letters": counts.get("dead", 0),
                "last_attempt_at": _time(p["last_attempt_at"]),
                "last_success_at": _time(p["last_success_at"]),
                "last_error_at": _time(p["last_error_at"]),
                "last_error": p["last_error"],
                "failures": p["failures"],
                "next_attempt_at": _time(p["next_attempt_at"]),
                "inbound": inbound.get(p["node_id"], {"applied": 0, "buffered": 0, "rejected": 0, "duplicates": 0}),
            }
        )
    counted = exchange_rejection_counts
    rejections = {code: int(n) for code, n in conn.execute(select(counted.c.code, func.sum(counted.c.count)).group_by(counted.c.code).order_by(counted.c.code))}
    open_alerts = int(conn.execute(select(func.count()).select_from(exchange_alerts).where(exchange_alerts.c.acknowledged_at.is_(None))).scalar_one())
    return {"node_id": node_id_or_none(conn), "at": format_time(at), "partners": partners, "rejections": rejections, "open_alerts": open_alerts}


def alerts(conn: Connection, *, open_only: bool = True, limit: int = 100) -> list[dict[str, Any]]:
    query = select(exchange_alerts).order_by(exchange_alerts.c.id.desc()).limit(limit)
    if open_only:
        query = query.where(exchange_alerts.c.acknowledged_at.is_(None))
    return [
        {**dict(r), "raised_at": _time(r["raised_at"]), "acknowledged_at": _time(r["acknowledged_at"])}
        for r in conn.execute(query).mappings()
    ]
