"""What mirror control and transit need from the exchange core: this node's id, the partner
serving a country (and the country a partner serves), and the transactional outbox.

The business rules live in the ``avance.movements.matching`` and ``avance.movements.transit``
packages; their inbox handlers in ``avance.movements.handlers``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection

from avance.exchange.inbox import settle_held
from avance.exchange.keys import node_id
from avance.exchange.outbox import enqueue
from avance.exchange.partners import by_country, find
from avance.kit.errors import Forbidden
from avance.movements.payloads import PAYLOADS


def utcnow() -> datetime:
    return datetime.now(timezone.utc)



def own_node_id(conn: Connection) -> str:
    """This node's id on the exchange (set by ``avance exchange init``)."""
    return node_id(conn)


def partner_for_country(conn: Connection, country: str) -> str | None:
    """The node id of the partner administration serving ``country``, if one is registered."""
    partner = by_country(conn, country)
    return partner.node_id if partner is not None else None


def check_speaks_for(conn: Connection, *, sender: str, country: str, message_type: str) -> None:
    """Each partner speaks for itself: a message that speaks for ``country`` (an export of that
    country, a result of its import, a movement leaving it, an event at one of its offices) is
    accepted only from the node the partner registry records for that country. Forbidden
    otherwise: the inbox answers a negative acknowledgement with the reason, and nothing changes."""
    partner = find(conn, sender)
    serves = partner.country if partner is not None else None
    if serves is None or serves != (country or "").upper():
        raise Forbidden("exchange.reject.not_authoritative", sender=sender, sender_country=serves or "?", country=country, type=message_type)


__all__ = ["check_speaks_for", "own_node_id", "partner_for_country", "send", "settle_held", "utcnow"]


def send(conn: Connection, *, to: str, type: str, payload: dict[str, Any], movement: str, correlation: str | None = None) -> str:
    """Queue a business message in the caller's transaction (transactional outbox); its id.

    The payload is checked against its model first: a node never sends what its partner would
    reject as schema-invalid.
    """
    PAYLOADS[type].model_validate(payload)
    return enqueue(conn, to=to, type=type, payload=payload, movement=movement, correlation=correlation)
