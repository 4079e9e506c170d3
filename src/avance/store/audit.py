"""The audit trail's writer: an append-only, hash-chained table of every change, low enough in the
layers that every capability (users and tokens in ``avance.auth`` included) can record into it.

A record says who (name, role), from where (``via``: ``token:<user id>``, ``session``,
``cli:<operating-system user>``, ``system``; the client's address), when (UTC), what (an action
name, an object type and id) and the SHA-256 digests of the canonical JSON of the object before
and after the change (and the JSON itself when small and not secret, for ``avance audit show``).

Chain: record ``n`` holds the hash of record ``n - 1`` and its own hash, SHA-256 over
``previous hash | n | canonical content``. The chain's head (last sequence number and hash) is one
row, ``audit_head``, locked by the first record of a transaction (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction is already exclusive, ``BEGIN IMMEDIATE``), so that
one chain holds for the node however many processes write, and a record is appended in the same
transaction as the change it records: a change rolled back leaves no record.

Verification, the query, the export and the signed heads are in ``avance.audit`` (above ``auth``,
which it needs for its routes); this module only appends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Protocol

import orjson
from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text, insert, select, update

from avance.store.metadata import metadata
from avance.store.types import JSONDoc

GENESIS = "0" * 64
"""The previous hash of the first record."""

KEEP_LIMIT = 8192
"""Before and after documents up to this many bytes (canonical JSON) are kept beside their
digests; larger ones, and secret ones, are kept as digests only."""

audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False, comment="Position in the chain, from 1, without gaps"),
    Column("at", String(32), nullable=False, comment="When (UTC, ISO 8601 with microseconds, as hashed)"),
    Column("actor", String(120), nullable=False, comment="Who: the user's name, the operator's name or 'system'"),
    Column("role", String(16), nullable=True, comment="The actor's role, when known"),
    Column("via", String(120), nullable=True, comment="From where: token:<user id>, session, cli:<os user>, system"),
    Column("address", String(64), nullable=True, comment="The client's network address (API and pages)"),
    Column("action", String(64), nullable=False, comment="What was done, e.g. declaration.released, valuation_bound.removed"),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(120), nullable=False),
    Column("before_digest", String(64), nullable=True, comment="SHA-256 of the canonical JSON before the change"),
    Column("after_digest", String(64), nullable=True, comment="SHA-256 of the canonical JSON after the change"),
    Column("before_doc", JSONDoc, nullable=True, comment="The document before, when small and not secret"),
    Column("after_doc", JSONDoc, nullable=True, comment="The document after, when small and not secret"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_records_actor", "actor", "seq"),
    Index("ix_audit_records_object", "object_type", "object_id", "seq"),
    Index("ix_audit_records_at", "at"),
    comment="The tamper-evident audit trail: append only, hash-chained (avance audit verify)",
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False, comment="Always 1: one chain per node"),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False, comment="The last record's sequence number (0: none yet)"),
    Column("hash", Text, nullable=False, comment="The last record's hash"),
    comment="The audit chain's head: locked by each appending transaction",
)


class Actor(Protocol):
    """Who acts: ``avance.auth.model.Principal`` is one (read by attribute, so the store needs no
    import of ``auth``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Who:
    """An actor given by its parts, for callers without a principal (the node's own jobs)."""

    name: str
    role: str | None = None
    via: str | None = None
    address: str | None = None


SYSTEM = Who("system", None, "system")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # plain digits, never an exponent: 9000, not 9E+3
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "model_dump"):  # Pydantic documents
        return value.model_dump(mode="json")
    raise TypeError(f"cannot audit a {type(value).__name__}")


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8; decimals as plain text, datetimes in UTC ISO 8601."""
    return orjson.dumps(value, default=_plain, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime refused: Avance records timezone-aware UTC datetimes")
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


CONTENT_FIELDS = (
    "at",
    "actor",
    "role",
    "via",
    "address",
    "action",
    "object_type",
    "object_id",
    "before_digest",
    "after_digest",
    "before_doc",
    "after_doc",
)
"""What a record's hash covers, beside its sequence number and the previous hash."""


def chain_hash(prev_hash: str, seq: int, content: dict[str, Any]) -> str:
    """The hash of record ``seq``: SHA-256 over the previous hash, the sequence number and the
    canonical JSON of its content (``CONTENT_FIELDS``)."""
    body = canonical({k: content.get(k) for k in CONTENT_FIELDS})
    return hashlib.sha256(prev_hash.encode("ascii") + b"|" + str(seq).encode("ascii") + b"|" + body).hexdigest()


_ABSENT = object()


def _side(value: Any, secret: bool) -> tuple[str | None, Any]:
    if value is _ABSENT:
        return None, None
    text = canonical(value)
    kept = None if secret or len(text) > KEEP_LIMIT else orjson.loads(text)
    return hashlib.sha256(text).hexdigest(), kept


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value))
    return text[:limit]


def entry(
    actor: Actor | str,
    action: str,
    object_type: str,
    object_id: Any,
    *,
    before: Any = _ABSENT,
    after: Any = _ABSENT,
    secret: bool = False,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The content of one record (not yet chained)."""
    if isinstance(actor, str):
        actor = Who(actor)
    before_digest, before_doc = _side(before, secret)
    after_digest, after_doc = _side(after, secret)
    return {
        "at": timestamp(at or datetime.now(timezone.utc)),
        "actor": (_text(actor.name, 120) or "?"),
        "role": _text(getattr(actor, "role", None), 16),
        "via": _text(getattr(actor, "via", None), 120),
        "address": _text(getattr(actor, "address", None), 64),
        "action": action[:64],
        "object_type": object_type[:40],
        "object_id": str(object_id)[:120],
        "before_digest": before_digest,
        "after_digest": after_digest,
        "before_doc": before_doc,
        "after_doc": after_doc,
    }


def _lock_head(conn: Connection) -> tuple[int, str]:
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:  # a schema made without the migration's first row
        conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS))
        return 0, GENESIS
    return int(row.seq), str(row.hash)


def append(conn: Connection, entries: Iterable[dict[str, Any]]) -> int:
    """Chain and store ``entries`` (from ``entry``) in ``conn``'s transaction; the last sequence
    number (the head's when there were none)."""
    rows = []
    seq, prev = _lock_head(conn)
    for content in entries:
        seq += 1
        own = chain_hash(prev, seq, content)
        rows.append({**content, "seq": seq, "prev_hash": prev, "hash": own})
        prev = own
    if rows:
        conn.execute(insert(audit_records), rows)
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
    return seq


def record(
    conn: Connection,
    actor: Actor | str,
    action: str,
    object_type: str,
    object_id: Any,
    *,
    before: Any = _ABSENT,
    after: Any = _ABSENT,
    secret: bool = False,
    at: datetime | None = None,
) -> int:
    """Record one change in ``conn``'s transaction; its sequence number.

    ``actor`` is a principal (name, role, via, address read by attribute), a ``Who`` or a bare
    name. ``before`` / ``after``: the object as it was and as it is (any JSON-able value; leave
    one out for a creation or a removal). ``secret``: keep their digests only (keys, settings
    that hold secrets). Give the change, never a secret itself (tokens, passwords)."""
    return append(conn, [entry(actor, action, object_type, object_id, before=before, after=after, secret=secret, at=at)])
