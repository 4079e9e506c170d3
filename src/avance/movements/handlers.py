"""The inbox handlers of the six business messages of mirror control and transit, as an explicit
table that ``avance.bootstrap`` gives the exchange inbox.

Each handler accepts a message only from the administration it speaks for (``movements.context.
check_speaks_for``); a notification for a movement not known yet is held and answered ``buffered``.

Each handler runs in the inbox transaction, so that its effect, the inbox record and any message
it queues are stored together, exactly once. Handlers read the node's reference context through
the inbox's connection, so that a rate loaded a minute ago applies.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from avance.exchange.envelope import Envelope
from avance.exchange.inbox import HELD, Handler
from avance.kit.settings import Settings
from avance.movements.matching.model import policy_from
from avance.movements.matching.service import on_export_notice, on_match_result
from avance.movements.transit.service import on_notification, on_transit_declaration
from avance.revenue.context import reference_context


def handlers(settings: Settings) -> dict[str, Handler]:
    """Message type → handler, for a node with ``settings``."""

    def export_notice(conn: Connection, envelope: Envelope, payload: dict[str, Any]) -> None:
        on_export_notice(
            conn,
            reference_context(conn, settings),
            sender=envelope.sender,
            message_id=str(envelope.id),
            payload=payload,
            policy=policy_from(settings),
        )

    def match_result(conn: Connection, envelope: Envelope, payload: dict[str, Any]) -> None:
        on_match_result(conn, sender=envelope.sender, payload=payload)

    def transit_declaration(conn: Connection, envelope: Envelope, payload: dict[str, Any]) -> None:
        on_transit_declaration(conn, reference_context(conn, settings), sender=envelope.sender, message_id=str(envelope.id), payload=payload)

    def notification(message_type: str) -> Handler:
        def apply(conn: Connection, envelope: Envelope, payload: dict[str, Any]) -> str | None:
            status = on_notification(conn, reference_context(conn, settings), message_type, sender=envelope.sender, message_id=str(envelope.id), payload=payload)
            return HELD if status is None else None  # a movement not known yet: answered buffered, settled when it arrives

        return apply

    return {
        "export-declaration-notice": export_notice,
        "match-result": match_result,
        "transit-declaration": transit_declaration,
        **{message_type: notification(message_type) for message_type in ("passage-notification", "arrival-notification", "discharge")},
    }
