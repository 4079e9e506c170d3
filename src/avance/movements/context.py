"""Export-import matching and SIGMAT-style transit over the exchange: the glue to the exchange core.

Importing this module registers the inbox handlers of the six business messages
(``export-declaration-notice``, ``match-result``, ``transit-declaration``, ``passage-notification``,
``arrival-notification``, ``discharge``). Each handler runs in the inbox transaction, so that its
effect, the inbox record and any message it queues are stored together, exactly once.

The business rules live in ``avance.movements.matching`` and ``avance.movements.transit``; this
module gives them what they need from the exchange core: this node's id, the partner serving a
country, the transactional outbox, and the node's reference context inside a handler.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from avance.declarations.processing import ReferenceContext
from avance.kit.errors import ConfigurationError
from avance.movements.payloads import PAYLOADS
from avance.reference import Office, load_offices, shipped_offices
from avance.revenue.profiles import CountryProfile, load_profile
from avance.revenue.schedule import Schedule


def utcnow() -> datetime:
    return datetime.now(timezone.utc)




@lru_cache(maxsize=8)
def _reference(country: str, schedule_file: Path | None, offices_file: Path | None) -> tuple[CountryProfile, Schedule, dict[str, Office]]:
    profile = load_profile(country)
    schedule = Schedule.from_csv(schedule_file) if schedule_file else Schedule.default(country)
    offices = load_offices(offices_file) if offices_file else shipped_offices()
    return profile, schedule, offices


def context_for(conn: Connection, settings: Any = None) -> ReferenceContext:
    """This node's context read through ``conn`` (used inside inbox handlers, which get no node).

    Rates are read from the database each time, so that a rate loaded a minute ago applies.
    """
    from avance.kit.settings import get_settings
    from avance.bootstrap import load_rates, read_country

    settings = settings or get_settings()
    country = read_country(conn)
    if country is None:
        raise ConfigurationError("config.not_initialised")
    profile, schedule, offices = _reference(country, settings.schedule_file, settings.offices_file)
    return ReferenceContext(country, profile.currency, profile, schedule, load_rates(conn, profile.currency), offices)


def own_node_id(conn: Connection) -> str:
    """This node's id on the exchange (set by ``avance exchange init``)."""
    from avance.exchange.keys import node_id

    return node_id(conn)


def partner_for_country(conn: Connection, country: str) -> str | None:
    """The node id of the partner administration serving ``country``, if one is registered."""
    from avance.exchange.partners import by_country

    partner = by_country(conn, country)
    return partner.node_id if partner is not None else None


def send(conn: Connection, *, to: str, type: str, payload: dict[str, Any], movement: str, correlation: str | None = None) -> str:
    """Queue a business message in the caller's transaction (transactional outbox); its id.

    The payload is checked against its model first: a node never sends what its partner would
    reject as schema-invalid.
    """
    from avance.exchange.outbox import enqueue

    PAYLOADS[type].model_validate(payload)
    return enqueue(conn, to=to, type=type, payload=payload, movement=movement, correlation=correlation)


# --- inbox handlers ---------------------------------------------------------------------------


def _register() -> None:
    from avance.exchange.inbox import handler

    @handler("export-declaration-notice")
    def _export_notice(conn: Connection, envelope: Any, payload: dict[str, Any]) -> None:
        from avance.movements import matching

        matching.on_export_notice(conn, context_for(conn), sender=envelope.sender, message_id=str(envelope.id), payload=payload)

    @handler("match-result")
    def _match_result(conn: Connection, envelope: Any, payload: dict[str, Any]) -> None:
        from avance.movements import matching

        matching.on_match_result(conn, sender=envelope.sender, payload=payload)

    @handler("transit-declaration")
    def _transit_declaration(conn: Connection, envelope: Any, payload: dict[str, Any]) -> None:
        from avance.movements import transit

        transit.on_transit_declaration(conn, context_for(conn), sender=envelope.sender, message_id=str(envelope.id), payload=payload)

    for message_type in ("passage-notification", "arrival-notification", "discharge"):

        def _notification(conn: Connection, envelope: Any, payload: dict[str, Any], message_type: str = message_type) -> None:
            from avance.movements import transit

            transit.on_notification(conn, context_for(conn), message_type, sender=envelope.sender, message_id=str(envelope.id), payload=payload)

        handler(message_type)(_notification)


_register()
