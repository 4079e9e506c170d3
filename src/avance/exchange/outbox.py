"""The transactional outbox: a message is queued in the same transaction as the change that causes it.

``enqueue`` only writes a row; the background sender (avance.exchange.sender) signs and delivers
it, retrying until the partner acknowledges it. If the caller's transaction rolls back, the
message was never queued.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from avance.kit.errors import Issue, NotFound, ValidationFailed
from avance.exchange.envelope import CORRELATION_MAX, MOVEMENT_PATTERN, TYPES, build, format_time, new_id, now, schema_errors, validator
from avance.exchange.tables import exchange_outbox, exchange_partners, exchange_sequences

WAKE_KEY = "avance.exchange.wake"
_INSERT = insert(exchange_outbox)
_PARTNER_EXISTS = select(exchange_partners.c.node_id).where(exchange_partners.c.node_id == bindparam("node_id"))
_SEQUENCE: dict[str, Any] = {}
_MOVEMENT = re.compile(MOVEMENT_PATTERN)


def enqueue(conn: Connection, *, to: str, type: str, payload: dict, movement: str | None = None, correlation: str | None = None) -> str:
    """Queue a message to partner node `to` IN THE CALLER'S TRANSACTION (transactional outbox). Returns the message id (UUID4 str).

    Messages of the same (to, movement) are delivered and applied in enqueue order (per-movement
    sequence number). The payload is checked against the published schema of ``type`` first
    (ValidationFailed, pointers under ``/payload``); an unknown partner is NotFound.
    """
    issues = []
    if type not in TYPES or type in ("ack", "deferred-ack"):  # answers are the inbox's own
        issues.append(Issue("/type", "exchange.unknown_type", {"type": type}))
    if movement is not None and not _MOVEMENT.match(movement):
        issues.append(Issue("/movement", "exchange.bad_movement", {"movement": movement}))
    if correlation is not None and not (0 < len(correlation) <= CORRELATION_MAX):
        issues.append(Issue("/correlation", "exchange.bad_correlation", {"max": CORRELATION_MAX}))
    if not isinstance(payload, dict):
        issues.append(Issue("/payload", "exchange.payload_not_object", {}))
    else:
        try:
            payload = orjson.loads(orjson.dumps(payload))  # JSON values only (money as strings)
        except TypeError as exc:
            issues.append(Issue("/payload", "exchange.payload_not_json", {"error": str(exc)}))
    if issues:
        raise ValidationFailed(issues)
    if validator(type) is None:
        raise ValidationFailed([Issue("/type", "exchange.unknown_type", {"type": type})])
    errors = schema_errors(type, payload, prefix="/payload")
    if errors:
        raise ValidationFailed([Issue(e["pointer"], "exchange.payload_invalid", {"error": e["message"]}) for e in errors])
    if conn.execute(_PARTNER_EXISTS, {"node_id": to}).first() is None:
        raise NotFound("partners.unknown", node_id=to)
    return _queue(conn, to=to, type=type, payload=payload, movement=movement, correlation=correlation)


def queue_deferred_ack(conn: Connection, *, to: str, payload: dict[str, Any], correlation: str) -> str:
    """A ``deferred-ack``: the final answer to a message the inbox had answered ``buffered`` (held
    for order, or held by its handler), sent like any message."""
    return _queue(conn, to=to, type="deferred-ack", payload=payload, movement=None, correlation=correlation)


def _queue(conn: Connection, *, to: str, type: str, payload: dict[str, Any], movement: str | None, correlation: str | None) -> str:
    message_id = new_id()
    at = now()
    sequence = next_sequence(conn, to, movement) if movement is not None else None
    conn.execute(
        _INSERT,
        {
            "message_id": message_id,
            "recipient": to,
            "type": type,
            "movement": movement,
            "sequence": sequence,
            "correlation": correlation,
            "payload": payload,
            "enqueued_at": at,
            "pending_since": at,
            "state": "pending",
            "attempts": 0,
        },
    )
    conn.info.setdefault(WAKE_KEY, set()).add(to)  # the sender of this process is woken on commit
    return message_id


def next_sequence(conn: Connection, to: str, movement: str) -> int:
    """The next position in stream (to, movement); concurrent transactions queue on its row."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        statement = _SEQUENCE.get(dialect)
        if statement is None:
            ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(exchange_sequences)
            statement = _SEQUENCE[dialect] = ins.values(recipient=bindparam("to"), movement=bindparam("movement"), last=1).on_conflict_do_update(
                index_elements=[exchange_sequences.c.recipient, exchange_sequences.c.movement],
                set_={"last": exchange_sequences.c.last + 1},
            ).returning(exchange_sequences.c.last)
        return int(conn.execute(statement, {"to": to, "movement": movement}).scalar_one())
    current = conn.execute(
        select(exchange_sequences.c.last).where(exchange_sequences.c.recipient == to, exchange_sequences.c.movement == movement).with_for_update()
    ).scalar()
    if current is None:
        conn.execute(insert(exchange_sequences).values(recipient=to, movement=movement, last=1))
        return 1
    conn.execute(update(exchange_sequences).where(exchange_sequences.c.recipient == to, exchange_sequences.c.movement == movement).values(last=current + 1))
    return int(current) + 1


def envelope_of(row: Any, sender: str) -> dict[str, Any]:
    """The last signed copy sent of an outbox row (wire form), as the partner received it."""
    envelope = build(
        sender=sender,
        recipient=row.recipient,
        type=row.type,
        payload=row.payload,
        message_id=row.message_id,
        movement=row.movement,
        sequence=row.sequence,
        correlation=row.correlation,
        created_at=row.signed_at,
    )
    if row.signature is not None:
        envelope["signature"] = dict(row.signature)
    envelope["created_at"] = format_time(row.signed_at) if row.signed_at else envelope["created_at"]
    return envelope


def requeue(conn: Connection, *, partner: str | None = None, message_id: str | None = None, include_rejected: bool = False) -> int:
    """Send dead-lettered (and, if asked, rejected) messages again. Returns how many were queued."""
    states = ["dead", "rejected"] if include_rejected else ["dead"]
    where = [exchange_outbox.c.state.in_(states)]
    if partner is not None:
        where.append(exchange_outbox.c.recipient == partner)
    if message_id is not None:
        where.append(exchange_outbox.c.message_id == message_id)
    at = now()
    result = conn.execute(
        update(exchange_outbox)
        .where(and_(*where))
        .values(state="pending", pending_since=at, attempts=0, next_attempt_at=None, finished_at=None, outcome=None, outcome_code=None)
    )
    targets = {r[0] for r in conn.execute(select(exchange_outbox.c.recipient).where(exchange_outbox.c.pending_since == at).distinct())}
    if targets:
        conn.execute(update(exchange_partners).where(exchange_partners.c.node_id.in_(targets)).values(next_attempt_at=None))
        conn.info.setdefault(WAKE_KEY, set()).update(targets)
    return int(result.rowcount or 0)


def pending_count(conn: Connection, partner: str | None = None) -> int:
    query = select(func.count()).select_from(exchange_outbox).where(exchange_outbox.c.state == "pending")
    if partner is not None:
        query = query.where(exchange_outbox.c.recipient == partner)
    return int(conn.execute(query).scalar_one())


def due_filter(at: datetime) -> Any:
    return or_(exchange_outbox.c.next_attempt_at.is_(None), exchange_outbox.c.next_attempt_at <= at)
