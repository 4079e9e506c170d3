"""The audit trail: record (``avance.store.audit.record``), search, export, sign the chain's head
and verify the chain and its signed heads.

Signing needs the node's exchange key, and the exchange is above the audit trail in the layers:
the key comes in as a ``Keyring`` the composition root builds (``avance.bootstrap.audit_keyring``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, select

from avance.audit.tables import audit_head, audit_records, audit_signed_heads
from avance.kit.errors import Issue, NotReady, ValidationFailed
from avance.reference.tables import exchange_rates
from avance.store.audit import CONTENT_FIELDS, GENESIS, SYSTEM, Who, append, canonical, chain_hash, digest, entry, record, timestamp
from avance.store.engine import write

__all__ = [
    "SYSTEM",
    "Who",
    "digest",
    "record",
    "Filters",
    "search",
    "records",
    "Keyring",
    "sign",
    "sign_if_moved",
    "signed_heads",
    "verify",
    "Verification",
    "Problem",
    "record_rates",
    "record_read",
]

CHUNK = 5000
HEAD_CONTEXT = b"avance-audit-head/1\n"
"""What a signature covers starts with this, so that a head signature is never valid as an
exchange envelope's (the same key signs both)."""


# --- search and export ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        c = audit_records.c
        where: list[ColumnElement[bool]] = []
        if self.actor:
            where.append(c.actor == self.actor)
        if self.object_type:
            where.append(c.object_type == self.object_type)
        if self.object_id:
            where.append(c.object_id == self.object_id)
        if self.action:
            where.append(c.action == self.action)
        if self.since is not None:  # 'at' is ISO 8601 in UTC with a fixed width: text order is time order
            where.append(c.at >= timestamp(self.since))
        if self.until is not None:
            where.append(c.at < timestamp(self.until))
        return where


def view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record as shown and exported: its content, its place in the chain and its hashes."""
    return {"seq": int(row["seq"]), **{k: row[k] for k in CONTENT_FIELDS}, "prev_hash": row["prev_hash"], "hash": row["hash"]}


def search(conn: Connection, filters: Filters, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The records that match, newest first, and how many match in all."""
    where = and_(True, *filters.conditions())
    total = conn.execute(select(func.count()).select_from(audit_records).where(where)).scalar_one()
    rows = conn.execute(select(audit_records).where(where).order_by(audit_records.c.seq.desc()).limit(limit).offset(offset)).mappings()
    return [view(r) for r in rows], int(total)


def records(conn: Connection, filters: Filters = Filters()) -> Iterator[dict[str, Any]]:
    """Every matching record, oldest first, read a chunk at a time."""
    last = 0
    while True:
        rows = conn.execute(
            select(audit_records).where(audit_records.c.seq > last, *filters.conditions()).order_by(audit_records.c.seq).limit(CHUNK)
        ).mappings().all()
        if not rows:
            return
        for row in rows:
            yield view(row)
        last = int(rows[-1]["seq"])


def signed_heads(conn: Connection) -> list[dict[str, Any]]:
    """Every signed head, oldest first."""
    rows = conn.execute(select(audit_signed_heads).order_by(audit_signed_heads.c.id)).mappings()
    return [{k: r[k] for k in ("seq", "hash", "signed_at", "node_id", "kid", "signature")} for r in rows]


def jsonl(items: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """JSON Lines: one canonical JSON object a line."""
    for item in items:
        yield canonical(item) + b"\n"


# --- signing -------------------------------------------------------------------------------------


class HeadSigner(Protocol):
    """A key ready to sign (``avance.exchange.keys.Signer`` is one)."""

    kid: str
    key: Ed25519PrivateKey


@dataclass(frozen=True)
class Keyring:
    """What the audit trail needs of the node's exchange identity, given by the composition root.

    ``identity``: the node id and its current key ready to sign (``NotReady`` without an exchange
    identity). ``public_keys``: the node's public keys by key id, as far as they can be trusted
    (see ``avance.bootstrap.audit_keyring``)."""

    identity: Callable[[Connection], tuple[str, HeadSigner]]
    public_keys: Callable[[Connection], Mapping[str, Ed25519PublicKey]]


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_text(head: Mapping[str, Any]) -> bytes:
    """The bytes a head's signature covers."""
    return HEAD_CONTEXT + canonical({k: head[k] for k in ("seq", "hash", "signed_at", "node_id", "kid")})


def sign(conn: Connection, keyring: Keyring, *, at: datetime | None = None) -> dict[str, Any]:
    """Sign the chain's head as it stands in ``conn``'s transaction and store the signed head."""
    node_id, signer = keyring.identity(conn)
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    seq, last = (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)
    head = {"seq": seq, "hash": last, "signed_at": timestamp(at or datetime.now(timezone.utc)), "node_id": node_id, "kid": signer.kid}
    head["signature"] = _b64u(signer.key.sign(signed_text(head)))
    conn.execute(insert(audit_signed_heads).values(**head))
    return head


def sign_if_moved(engine: Engine, keyring: Keyring) -> dict[str, Any] | None:
    """The worker's job: sign the head when records were added since the last signed head; nothing
    on a node without an exchange identity yet."""
    with write(engine) as conn:
        head = conn.execute(select(audit_head.c.seq).where(audit_head.c.id == 1)).scalar() or 0
        signed = conn.execute(select(func.max(audit_signed_heads.c.seq))).scalar()
        if signed is not None and signed >= head:
            return None
        try:
            return sign(conn, keyring)
        except NotReady:
            return None


def signing_job(keyring: Keyring) -> Callable[[Engine], None]:
    """``sign_if_moved`` as a worker job (``avance.exchange.worker.Job(..., run=signing_job(k))``)."""

    def run(engine: Engine) -> None:
        sign_if_moved(engine, keyring)

    return run


SIGN_EVERY_SECONDS = 3600.0
"""How often the worker signs the head (when it moved)."""


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing found wrong: the record it concerns, a catalog key and its parameters."""

    seq: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    last_seq: int
    last_hash: str
    signed_heads: int
    last_signed_seq: int | None
    last_signed_at: str | None
    problem: Problem | None

    @property
    def sound(self) -> bool:
        return self.problem is None

    @property
    def unsigned(self) -> int:
        """Records after the last signed head (not yet covered by a signature)."""
        return self.last_seq - (self.last_signed_seq or 0)


def _walk(conn: Connection) -> tuple[int, int, str, dict[int, str], Problem | None]:
    """Walk the chain; (count, last seq, last hash, hash by wanted seq, first problem)."""
    count, expected, prev = 0, 1, GENESIS
    hashes: dict[int, str] = {}
    last = 0
    while True:
        rows = conn.execute(select(audit_records).where(audit_records.c.seq > last).order_by(audit_records.c.seq).limit(CHUNK)).mappings().all()
        if not rows:
            return count, expected - 1, prev, hashes, None
        for row in rows:
            seq = int(row["seq"])
            if seq != expected:
                return count, expected - 1, prev, hashes, Problem(expected, "audit.bad.missing", {"seq": expected, "next": seq})
            if row["prev_hash"] != prev:
                return count, expected - 1, prev, hashes, Problem(seq, "audit.bad.link", {"seq": seq, "previous": seq - 1})
            if chain_hash(prev, seq, dict(row)) != row["hash"]:
                return count, expected - 1, prev, hashes, Problem(seq, "audit.bad.content", {"seq": seq})
            count += 1
            expected += 1
            prev = row["hash"]
            hashes[seq] = prev
        last = int(rows[-1]["seq"])


def verify(conn: Connection, public_keys: Mapping[str, Ed25519PublicKey], trusted_heads: Sequence[Mapping[str, Any]] = ()) -> Verification:
    """Check every record's link and hash, the chain's head row, and every signed head (those
    stored and ``trusted_heads``, e.g. read back from an export kept off the node): a valid
    signature by one of ``public_keys`` over a hash the chain still has at that sequence number.

    The first problem found is named; the chain is sound when there is none."""
    count, last_seq, last_hash, hashes, problem = _walk(conn)
    stored = signed_heads(conn)
    heads = [*stored, *trusted_heads]
    if problem is None:
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        head_seq, head_hash = (int(head.seq), str(head.hash)) if head is not None else (0, GENESIS)
        if head_seq != last_seq or head_hash != last_hash:
            problem = Problem(min(head_seq, last_seq) + 1, "audit.bad.head", {"last": last_seq, "head": head_seq})
    if problem is None:
        problem = _check_heads(heads, public_keys, last_seq, hashes)
    signed = [h for h in heads if problem is None or int(h["seq"]) <= last_seq]
    newest = max(signed, key=lambda h: int(h["seq"]), default=None)
    return Verification(
        records=count,
        last_seq=last_seq,
        last_hash=last_hash,
        signed_heads=len(heads),
        last_signed_seq=int(newest["seq"]) if newest else None,
        last_signed_at=str(newest["signed_at"]) if newest else None,
        problem=problem,
    )


def _check_heads(heads: Sequence[Mapping[str, Any]], public_keys: Mapping[str, Ed25519PublicKey], last_seq: int, hashes: Mapping[int, str]) -> Problem | None:
    for head in sorted(heads, key=lambda h: int(h["seq"])):
        seq = int(head["seq"])
        key = public_keys.get(str(head["kid"]))
        if key is None:
            return Problem(seq, "audit.bad.unknown_key", {"seq": seq, "kid": head["kid"], "signed_at": head["signed_at"]})
        try:
            key.verify(_b64u_decode(str(head["signature"])), signed_text(head))
        except (InvalidSignature, ValueError, binascii.Error):
            return Problem(seq, "audit.bad.signature", {"seq": seq, "signed_at": head["signed_at"]})
        if seq > last_seq:
            return Problem(last_seq + 1, "audit.bad.signed_beyond", {"seq": seq, "last": last_seq, "signed_at": head["signed_at"]})
        if seq > 0 and hashes.get(seq) != head["hash"]:
            return Problem(seq, "audit.bad.signed_hash", {"seq": seq, "signed_at": head["signed_at"]})
    return None


def read_heads(lines: Iterable[bytes | str]) -> list[dict[str, Any]]:
    """Signed heads from JSON Lines (``avance audit export --heads``)."""
    heads = []
    for line in lines:
        if line.strip():
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                item = None
            if not isinstance(item, dict) or not {"seq", "hash", "signed_at", "node_id", "kid", "signature"} <= item.keys():
                raise ValidationFailed([Issue("/heads", "audit.bad_heads_file", {"line": len(heads) + 1})])
            heads.append(item)
    return heads


# --- what lower capabilities cannot record themselves -----------------------------------------


def record_rates(conn: Connection, actor: Any, rates: Iterable[Any]) -> int:
    """Record exchange rates about to be stored (``avance.reference.service.store_rates``
    replaces a currency's rate of the same day): one record per rate that is new or changed, the
    replaced rate in full as its before-state. The number of records."""
    entries = []
    for rate in rates:
        old = conn.execute(
            select(exchange_rates.c.rate, exchange_rates.c.loaded_at).where(exchange_rates.c.currency == rate.currency, exchange_rates.c.valid_from == rate.valid_from)
        ).first()
        after = {"currency": rate.currency, "valid_from": rate.valid_from, "rate": rate.rate}
        if old is not None and old.rate == rate.rate:
            continue
        before = {} if old is None else {"before": {**after, "rate": old.rate, "loaded_at": old.loaded_at}}
        entries.append(entry(actor, "rate.stored" if old is None else "rate.replaced", "exchange_rate", f"{rate.currency}:{rate.valid_from.isoformat()}", after=after, **before))
    if entries:
        append(conn, entries)
    return len(entries)


def record_read(engine: Engine, actor: Any, what: str, object_id: str, query: str | None = None) -> int:
    """Record, in a transaction of its own, that ``actor`` read confidential data (``what``, e.g.
    ``risk.profiles``; ``object_id``: the path read): one record per request, not per row."""
    with write(engine) as conn:
        return record(conn, actor, f"read.{what}", what, object_id, **({"after": {"query": query}} if query else {}))
