"""What mirror control and transit need from the exchange core: this node's id, the partner
serving a country, and the transactional outbox.

The business rules live in the ``avance.movements.matching`` and ``avance.movements.transit``
packages; their inbox handlers in ``avance.movements.handlers``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection

from avance.exchange.keys import node_id
from avance.exchange.outbox import enqueue
from avance.exchange.partners import by_country
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


def send(conn: Connection, *, to: str, type: str, payload: dict[str, Any], movement: str, correlation: str | None = None) -> str:
    """Queue a business message in the caller's transaction (transactional outbox); its id.

    The payload is checked against its model first: a node never sends what its partner would
    reject as schema-invalid.
    """
    PAYLOADS[type].model_validate(payload)
    return enqueue(conn, to=to, type=type, payload=payload, movement=movement, correlation=correlation)
