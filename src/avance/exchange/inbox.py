"""The inbox: every message from a partner is checked, deduplicated, put in order and applied once.

A batch (the body of one ``POST /exchange/messages``) is handled in ONE database transaction. For
each envelope, in order:

1. authenticity: signed (else ``unsigned``), envelope schema (``schema``), addressed to this node
   (``wrong_recipient``), from a registered partner (``unknown_sender``) with a registered key
   (``unknown_key``), signature valid (``bad_signature``), signed within the window (``stale``).
   Such rejections are counted per day, partner and reason (``exchange_rejection_counts``) and
   the last few of each kept as a sample (``exchange_rejections``); the message is not recorded
   as seen. A sender that is not a registered partner is counted as one anonymous sender, so
   that a batch of junk adds a bounded number of rows whatever it claims (``log_rejections``).
2. deduplication by message id: a genuine retry (same content, signed later) is acknowledged as
   ``duplicate`` and not applied again; any other copy is a ``replay`` and rejected.
3. payload schema (``schema``) and order: a message whose predecessor in its (sender, movement)
   stream has not arrived is ``buffered`` and applied when the predecessor is; it is then
   acknowledged by a ``deferred-ack`` message.
4. the handler registered for its type runs inside a savepoint of the batch transaction: its
   effect and the inbox record commit together. An AvanceError it raises is a rejection with the
   error's code; any other exception answers ``retry`` (nothing is recorded). A handler that keeps
   the message aside (returns ``HELD``: a transit notification for a movement not known yet) gets
   it answered ``buffered``; it settles it later with ``settle_held``, which sends the
   ``deferred-ack``.

Each envelope gets an ``ack`` in the HTTP answer, in the same order. It is signed when the
message's signature verified (accepted, buffered, duplicate, rejected for its content, replay,
stale); a message that could not be authenticated (unsigned, schema of the envelope, wrong
recipient, unknown sender or key, bad signature) gets the same ``ack`` envelope WITHOUT its
``signature`` member: the node does not sign answers to strangers, and the sender never takes an
unsigned answer as final (``avance.exchange.sender``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, ip_address, ip_network
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from avance.kit.errors import AvanceError, Conflict, Issue, ValidationFailed
from avance.exchange import keys as keyring
from avance.exchange.envelope import (
    NODE_ID_PATTERN,
    TYPES,
    Envelope,
    b64u_decode,
    build,
    digest,
    format_time,
    now,
    parse_time,
    schema_errors,
    sign,
    validator,
    verify,
)
from avance.exchange.outbox import queue_deferred_ack
from avance.kit.i18n import t
from avance.store.engine import write
from avance.exchange.tables import (
    exchange_alerts,
    exchange_inbox,
    exchange_inbox_cursors,
    exchange_outbox,
    exchange_partner_keys,
    exchange_partners,
    exchange_reference_data,
    exchange_rejection_counts,
    exchange_rejections,
)

log = logging.getLogger("avance.exchange")

Handler = Callable[[Connection, Envelope, dict], str | None]
"""Applies one message type. It runs in the inbox transaction, so that it takes effect exactly once
with the inbox record; raising an AvanceError (ValidationFailed, Conflict, NotFound) rolls back and
answers a signed negative ack carrying the error code and message. Returning ``HELD`` means the
handler kept the message aside without applying it: the answer is ``buffered``, and the handler
settles it later (``settle_held``)."""

HELD = "held"
"""What a handler returns when it keeps a message aside, to be settled later."""

MAX_BATCH = 500
"""Most envelopes accepted in one POST /exchange/messages."""

REJECTION_SAMPLE = 20
"""Rejected messages kept per partner and reason by default (setting ``exchange_rejection_sample``)."""

R = "exchange.reject."
AUTH_FAILURES = frozenset(R + c for c in ("unsigned", "bad_signature", "unknown_key", "unknown_sender", "stale", "wrong_recipient"))
"""Rejections that say nothing about the content: the sender keeps the message and retries."""
UNSIGNED_ANSWERS = frozenset(R + c for c in ("unsigned", "bad_signature", "unknown_key", "unknown_sender", "wrong_recipient", "schema"))
"""Rejections of a message whose signature could not be verified: answered without a signature."""


def handler_table(*tables: Mapping[str, Handler]) -> dict[str, Handler]:
    """The explicit table of a node's handlers: this module's own (reference data, deferred-acks)
    and the business ones given (built by ``avance.bootstrap``). Every type must be a known one."""
    table: dict[str, Handler] = dict(BUILTIN_HANDLERS)
    for extra in tables:
        for type_, function in extra.items():
            if type_ not in TYPES:
                raise ValueError(f"unknown message type {type_!r}")
            table[type_] = function
    return table


def reasons(code: str, **params: Any) -> dict[str, str]:
    return {"fr": t(code, "fr", **params), "en": t(code, "en", **params)}


class _Retry(Exception):
    """A handler failed unexpectedly: answer retry, record nothing."""


class NotYet(Exception):
    """A handler cannot apply its message yet (it answers a message whose own answer this node has
    not recorded yet): answer retry, record nothing, log nothing."""


class _Careful(Exception):
    """A handler raised during the fast pass: the batch is done again, one savepoint per message."""


@dataclass
class _Row:
    """An inbox row known to this batch (read from the database or created in it)."""

    message_id: str
    sender: str
    movement: str | None
    sequence: int | None
    digest: str
    last_signed_at: datetime
    state: str
    code: str | None
    reason: dict[str, str] | None
    duplicates: int
    envelope: dict[str, Any] | None = None
    new: bool = False
    changed: bool = False
    applied_now: bool = False
    applied_at: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Cursor:
    next_sequence: int
    held: int
    known: bool
    changed: bool = False


class Batch:
    """One transaction's worth of inbound messages (or a release of held messages)."""

    def __init__(
        self,
        conn: Connection,
        me: str,
        data_dir: Path,
        window: timedelta,
        at: datetime,
        handlers: Mapping[str, Handler],
        careful: bool = True,
        *,
        source: str | None = None,
        sample: int = REJECTION_SAMPLE,
    ) -> None:
        self.conn = conn
        self.source = source  # the address the batch came from, kept with the rejection sample
        self.sample = sample
        self.handlers = handlers
        self.careful = careful  # False: handlers run without savepoints; the first error redoes the batch
        self.me = me
        self.data_dir = data_dir
        self.window = window
        self.at = at
        self.partners = _partner_keys(conn)
        self.rows: dict[str, _Row] = {}
        self.slots: dict[tuple[str, str, int], str] = {}
        self.cursors: dict[tuple[str, str], _Cursor] = {}
        self.rejections: list[dict[str, Any]] = []
        self._signers: dict[str, keyring.Signer] = {}
        self._current = keyring.current_key(conn)
        self._grace = keyring.grace_key(conn, at)

    # --- answers --------------------------------------------------------------------------------

    def _signer_for(self, partner: str | None) -> keyring.Signer:
        """Acks go out signed with a key the partner knows (see the key changeover in docs/exchange.md)."""
        kid = self._current.kid
        info = self.partners.get(partner or "")
        if self._grace is not None and info is not None and info["confirmed_kid"] != self._current.kid:
            kid = self._grace.kid
        if kid not in self._signers:
            self._signers[kid] = keyring.Signer(kid, keyring.private_key(self.data_dir, kid))
        return self._signers[kid]

    def ack(self, to: str | None, message_id: str | None, status: str, *, state: str | None = None, code: str | None = None,
            reason: dict[str, str] | None = None, errors: list[dict[str, str]] | None = None, signed: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {"message_id": message_id, "status": status}
        if state is not None:
            payload["state"] = state
        if code is not None:
            payload["code"] = code
            payload["reason"] = reason or reasons(code)
        if errors:
            payload["errors"] = errors[:50]
        recipient = to if isinstance(to, str) and _valid_node_id(to) else "unknown"
        envelope = build(sender=self.me, recipient=recipient, type="ack", payload=payload, correlation=message_id or None, created_at=self.at)
        if not signed:
            return envelope
        signer = self._signer_for(to)
        return sign(envelope, signer.kid, signer.key)

    def refuse(self, raw: Any, code: str, details: list[dict[str, str]] | None = None, *, signed: bool = False, **params: Any) -> dict[str, Any]:
        """A rejection before the message is authenticated (or a replay): logged, not recorded as seen.
        Unsigned unless the message's own signature verified (``signed``)."""
        message_id = _claimed(raw, "id", 64)
        sender = _claimed(raw, "sender", 64)
        text = reasons(code, **params)
        self.rejections.append(
            {
                "at": self.at,
                "sender": sender,
                "partner": sender if sender is not None and sender in self.partners else "",
                "address": self.source[:45] if self.source else None,
                "message_id": message_id,
                "type": _claimed(raw, "type", 40),
                "code": code,
                "detail": text["en"][:2000],
            }
        )
        return self.ack(sender, message_id, "rejected", code=code, reason=text, errors=details, signed=signed)

    # --- the pipeline ---------------------------------------------------------------------------

    def prefetch(self, items: list[Any]) -> None:
        senders = sorted({i["sender"] for i in items if isinstance(i, dict) and isinstance(i.get("sender"), str) and i["sender"] in self.partners})
        if senders:  # batches of one sender queue on its partner row (PostgreSQL; SQLite writes are serial anyway)
            self.conn.execute(select(exchange_partners.c.node_id).where(exchange_partners.c.node_id.in_(senders)).order_by(exchange_partners.c.node_id).with_for_update())
        ids = [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str) and len(i["id"]) <= 64]
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            for r in self.conn.execute(select(exchange_inbox).where(exchange_inbox.c.message_id.in_(chunk))).mappings():
                self.rows[r["message_id"]] = _row_of(r)
        streams = {
            (i["sender"], i["movement"])
            for i in items
            if isinstance(i, dict) and isinstance(i.get("sender"), str) and isinstance(i.get("movement"), str)
        }
        self._load_cursors(streams)

    def _load_cursors(self, streams: set[tuple[str, str]]) -> None:
        wanted = [s for s in streams if s not in self.cursors]
        for chunk in _chunks(wanted, 400):
            rows = self.conn.execute(
                select(exchange_inbox_cursors).where(tuple_(exchange_inbox_cursors.c.sender, exchange_inbox_cursors.c.movement).in_(chunk))
            ).mappings()
            for r in rows:
                self.cursors[(r["sender"], r["movement"])] = _Cursor(r["next_sequence"], r["held"], True)
        for stream in wanted:
            self.cursors.setdefault(stream, _Cursor(1, 0, False))

    def process(self, raw: Any) -> dict[str, Any]:
        """Check, deduplicate, order and apply one envelope; the signed ack to answer."""
        if not isinstance(raw, dict):
            return self.refuse(raw, R + "schema", [{"pointer": "", "message": "an envelope is a JSON object"}], errors="an envelope is a JSON object")
        if raw.get("signature") is None:
            return self.refuse(raw, R + "unsigned")
        errors = schema_errors("envelope", raw)
        if errors:
            return self.refuse(raw, R + "schema", errors, errors=_summary(errors))
        sender, kid = raw["sender"], raw["signature"]["kid"]
        if raw["recipient"] != self.me:
            return self.refuse(raw, R + "wrong_recipient", recipient=raw["recipient"], node=self.me)
        partner = self.partners.get(sender)
        if partner is None:
            return self.refuse(raw, R + "unknown_sender", sender=sender)
        public_key = partner["keys"].get(kid)
        if public_key is None:
            return self.refuse(raw, R + "unknown_key", sender=sender, kid=kid)
        if not verify(raw, public_key):
            return self.refuse(raw, R + "bad_signature")
        created = parse_time(raw["created_at"])
        if abs(self.at - created) > self.window:
            return self.refuse(raw, R + "stale", signed=True, created_at=raw["created_at"], window=int(self.window.total_seconds()))
        return self._authentic(raw, created)

    def _authentic(self, raw: dict[str, Any], created: datetime) -> dict[str, Any]:
        message_id, sender = raw["id"], raw["sender"]
        fingerprint = digest(raw)
        prior = self.rows.get(message_id)
        if prior is not None:
            if prior.sender == sender and prior.digest == fingerprint and created > prior.last_signed_at:
                prior.duplicates += 1
                prior.last_signed_at = created
                prior.changed = True
                if prior.state == "rejected":
                    return self.ack(sender, message_id, "rejected", code=prior.code, reason=prior.reason)
                return self.ack(sender, message_id, "duplicate", state=prior.state)
            return self.refuse(raw, R + "replay", signed=True, message_id=message_id)
        movement, sequence = raw["movement"], raw["sequence"]
        if validator(raw["type"]) is None:
            problem: tuple[str, dict[str, Any], list[dict[str, str]] | None] | None = (R + "unsupported_type", {"type": raw["type"]}, None)
        else:
            errors = schema_errors(raw["type"], raw["payload"], prefix="/payload")
            problem = (R + "schema", {"errors": _summary(errors)}, errors) if errors else None
        if movement is None:
            return self._settle(raw, created, fingerprint, problem)
        cursor = self.cursors.get((sender, movement))
        if cursor is None:
            self._load_cursors({(sender, movement)})
            cursor = self.cursors[(sender, movement)]
        if sequence < cursor.next_sequence or self._slot_taken(sender, movement, sequence):
            return self.refuse(raw, R + "sequence", signed=True, sequence=sequence, movement=movement)
        if sequence > cursor.next_sequence:  # its predecessor has not arrived: hold it
            cursor.held += 1
            cursor.changed = True
            if problem is not None:
                code, params, errors = problem
                self._record(raw, created, fingerprint, "rejected", code, reasons(code, **params))
                return self.ack(sender, message_id, "rejected", code=code, reason=reasons(code, **params), errors=errors)
            self._record(raw, created, fingerprint, "buffered", None, None)
            return self.ack(sender, message_id, "buffered")
        answer = self._settle(raw, created, fingerprint, problem)
        if answer["payload"]["status"] != "retry":
            cursor.next_sequence += 1
            cursor.changed = True
            self.release(sender, movement)
        return answer

    def _settle(self, raw: dict[str, Any], created: datetime, fingerprint: str, problem: Any) -> dict[str, Any]:
        """Apply a message whose turn it is (or record why it cannot be), and answer."""
        sender, message_id = raw["sender"], raw["id"]
        if problem is not None:
            code, params, errors = problem
            text = reasons(code, **params)
            self._record(raw, created, fingerprint, "rejected", code, text)
            return self.ack(sender, message_id, "rejected", code=code, reason=text, errors=errors)
        try:
            state, code, text, errors = self._apply(raw)
        except _Retry:
            code = R + "internal"
            return self.ack(sender, message_id, "retry", code=code, reason=reasons(code))
        self._record(raw, created, fingerprint, state, code, text)
        if state == "applied":
            return self.ack(sender, message_id, "accepted")
        if state == "buffered":  # the handler holds it: the final answer is a deferred-ack
            return self.ack(sender, message_id, "buffered")
        return self.ack(sender, message_id, "rejected", code=code, reason=text, errors=errors)

    def _apply(self, raw: dict[str, Any]) -> tuple[str, str | None, dict[str, str] | None, list[dict[str, str]] | None]:
        function = self.handlers.get(raw["type"])
        if function is None:
            code = R + "unsupported_type"
            return "rejected", code, reasons(code, type=raw["type"]), None
        envelope = Envelope.from_wire(raw)
        if not self.careful:  # most batches: no savepoint per message
            try:
                outcome = function(self.conn, envelope, raw["payload"])
            except Exception:
                raise _Careful from None
            return ("buffered" if outcome == HELD else "applied"), None, None, None
        try:
            with self.conn.begin_nested():
                outcome = function(self.conn, envelope, raw["payload"])
        except ValidationFailed as exc:
            errors = [{"pointer": i.pointer, "message": i.message("en")[:500]} for i in exc.issues]
            return "rejected", exc.code, {"fr": _issues_text(exc, "fr"), "en": _issues_text(exc, "en")}, errors
        except AvanceError as exc:
            return "rejected", exc.code, {"fr": exc.message("fr"), "en": exc.message("en")}, None
        except NotYet:
            raise _Retry from None
        except Exception:
            log.exception("handler of %s message %s from %s failed; the sender will retry", raw["type"], raw["id"], raw["sender"])
            raise _Retry from None
        return ("buffered" if outcome == HELD else "applied"), None, None, None

    def _record(self, raw: dict[str, Any], created: datetime, fingerprint: str, state: str, code: str | None, reason: dict[str, str] | None) -> None:
        row = _Row(raw["id"], raw["sender"], raw["movement"], raw["sequence"], fingerprint, created, state, code, reason, 0, raw, new=True)
        row.fields = {
            "message_id": raw["id"],
            "sender": raw["sender"],
            "type": raw["type"],
            "movement": raw["movement"],
            "sequence": raw["sequence"],
            "correlation": raw["correlation"],
            "created_at": created,
            "received_at": self.at,
            "digest": fingerprint,
            "envelope": raw,
        }
        self.rows[row.message_id] = row
        if row.movement is not None:
            self.slots[(row.sender, row.movement, row.sequence)] = row.message_id

    def _slot_taken(self, sender: str, movement: str, sequence: int) -> bool:
        if (sender, movement, sequence) in self.slots:
            return True
        cursor = self.cursors[(sender, movement)]
        if cursor.held == 0:
            return False
        return self._held_row(sender, movement, sequence) is not None

    def _held_row(self, sender: str, movement: str, sequence: int) -> _Row | None:
        message_id = self.slots.get((sender, movement, sequence))
        if message_id is not None:
            return self.rows[message_id]
        found = self.conn.execute(
            select(exchange_inbox).where(exchange_inbox.c.sender == sender, exchange_inbox.c.movement == movement, exchange_inbox.c.sequence == sequence)
        ).mappings().first()
        if found is None:
            return None
        row = self.rows.setdefault(found["message_id"], _row_of(found))
        self.slots[(sender, movement, sequence)] = row.message_id
        return row

    def release(self, sender: str, movement: str) -> None:
        """Apply the held messages that are now in turn; each gets a deferred ack."""
        cursor = self.cursors[(sender, movement)]
        while cursor.held > 0:
            row = self._held_row(sender, movement, cursor.next_sequence)
            if row is None:
                return
            if row.state == "buffered":
                raw = row.envelope if row.envelope is not None else {}
                try:
                    state, code, text, _ = self._apply(raw)
                except _Retry:
                    return  # stays held; retried by the next message of the stream or the periodic release
                row.state, row.code, row.reason = state, code, text
                row.changed = True
                row.applied_now = state == "applied"
                if state != "buffered":  # a handler that holds it sends the deferred-ack itself, later
                    self._deferred_ack(sender, row.message_id, "accepted" if state == "applied" else "rejected", code, text)
            cursor.next_sequence += 1
            cursor.held -= 1
            cursor.changed = True

    def _deferred_ack(self, to: str, message_id: str, status: str, code: str | None, text: dict[str, str] | None) -> None:
        payload: dict[str, Any] = {"message_id": message_id, "status": status}
        if code is not None:
            payload["code"] = code
            payload["reason"] = text or reasons(code)
        queue_deferred_ack(self.conn, to=to, payload=payload, correlation=message_id)

    # --- writing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what the batch decided (inbox rows, cursors, rejection log)."""
        new = [r for r in self.rows.values() if r.new]
        if new:
            self.conn.execute(
                insert(exchange_inbox),
                [
                    {
                        **r.fields,
                        "last_signed_at": r.last_signed_at,
                        "state": r.state,
                        "applied_at": self.at if r.state == "applied" else None,
                        "code": r.code,
                        "reason": r.reason,
                        "duplicates": r.duplicates,
                    }
                    for r in new
                ],
            )
        changed = [r for r in self.rows.values() if r.changed and not r.new]
        if changed:
            self.conn.execute(
                update(exchange_inbox)
                .where(exchange_inbox.c.message_id == bindparam("b_id"))
                .values(
                    state=bindparam("b_state"),
                    code=bindparam("b_code"),
                    reason=bindparam("b_reason"),
                    duplicates=bindparam("b_duplicates"),
                    last_signed_at=bindparam("b_signed"),
                    applied_at=bindparam("b_applied"),
                ),
                [
                    {
                        "b_id": r.message_id,
                        "b_state": r.state,
                        "b_code": r.code,
                        "b_reason": r.reason,
                        "b_duplicates": r.duplicates,
                        "b_signed": r.last_signed_at,
                        "b_applied": self.at if r.applied_now else r.applied_at,
                    }
                    for r in changed
                ],
            )
        fresh = [{"sender": s, "movement": m, "next_sequence": c.next_sequence, "held": c.held} for (s, m), c in self.cursors.items() if c.changed and not c.known]
        known = [{"b_s": s, "b_m": m, "b_n": c.next_sequence, "b_h": c.held} for (s, m), c in self.cursors.items() if c.changed and c.known]
        if fresh:
            self.conn.execute(insert(exchange_inbox_cursors), fresh)
        if known:
            self.conn.execute(
                update(exchange_inbox_cursors)
                .where(exchange_inbox_cursors.c.sender == bindparam("b_s"), exchange_inbox_cursors.c.movement == bindparam("b_m"))
                .values(next_sequence=bindparam("b_n"), held=bindparam("b_h")),
                known,
            )
        if self.rejections:
            log_rejections(self.conn, self.rejections, self.sample)


def receive(
    engine: Engine,
    data_dir: Path,
    window_seconds: float,
    items: list[Any],
    handlers: Mapping[str, Handler],
    *,
    source: str | None = None,
    sample: int = REJECTION_SAMPLE,
) -> list[dict[str, Any]]:
    """Process one batch of envelopes in one transaction; the signed acks, in the same order.
    ``source`` is the address it came from, ``sample`` how many rejections of one partner and
    reason the log keeps."""
    at = now()
    try:
        with write(engine) as conn:
            batch = Batch(conn, keyring.node_id(conn), data_dir, timedelta(seconds=window_seconds), at, handlers, careful=False, source=source, sample=sample)
            batch.prefetch(items)
            acks = [batch.process(item) for item in items]
            batch.flush()
        return acks
    except _Careful:  # a handler refused a message: everything again, each message in its savepoint
        with write(engine) as conn:
            batch = Batch(conn, keyring.node_id(conn), data_dir, timedelta(seconds=window_seconds), at, handlers, careful=True, source=source, sample=sample)
            batch.prefetch(items)
            acks = [batch.process(item) for item in items]
            batch.flush()
        return acks


def release_held(engine: Engine, data_dir: Path, window_seconds: float, handlers: Mapping[str, Handler]) -> int:
    """Apply held messages whose turn has come but whose handler failed before (periodic). Returns
    how many streams were looked at."""
    with engine.connect() as conn:
        streams = [(r[0], r[1]) for r in conn.execute(select(exchange_inbox_cursors.c.sender, exchange_inbox_cursors.c.movement).where(exchange_inbox_cursors.c.held > 0).limit(200))]
    if not streams:
        return 0
    with write(engine) as conn:
        batch = Batch(conn, keyring.node_id(conn), data_dir, timedelta(seconds=window_seconds), now(), handlers)
        batch._load_cursors(set(streams))
        for sender, movement in streams:
            batch.release(sender, movement)
        batch.flush()
    return len(streams)


def source_allowed(address: str | None, networks: list[str]) -> bool:
    """Whether ``address`` lies in one of ``networks`` (CIDR notation; an IPv4 address seen as
    IPv6, ``::ffff:a.b.c.d``, counts as the IPv4 one)."""
    try:
        ip = ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ip_network(network, strict=False) for network in networks)


# --- the rejection log -----------------------------------------------------------------------------


def log_rejections(conn: Connection, rejections: list[dict[str, Any]], sample: int = REJECTION_SAMPLE) -> None:
    """Count ``rejections`` (all made at one time) per day, partner and reason, and keep the last
    ``sample`` of each partner and reason: a batch adds at most one count row and ``sample``
    sample rows per partner and reason, however many envelopes it held."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rejection in rejections:
        groups.setdefault((rejection["partner"], rejection["code"]), []).append(rejection)
    counts = [
        {"day": rows[0]["at"].date(), "partner": partner, "code": code, "count": len(rows), "first_at": rows[0]["at"], "last_at": rows[-1]["at"]}
        for (partner, code), rows in groups.items()
    ]
    conn.execute(_count_statement(conn.dialect.name), counts)
    conn.execute(insert(exchange_rejections), [row for rows in groups.values() for row in rows[-sample:]])
    for partner, code in groups:
        _trim_sample(conn, partner, code, sample)


def _count_statement(dialect: str) -> Any:
    table = exchange_rejection_counts
    statement = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.day, table.c.partner, table.c.code],
        set_={"count": table.c.count + statement.excluded.count, "last_at": statement.excluded.last_at},
    )


def _trim_sample(conn: Connection, partner: str, code: str, sample: int) -> int:
    """Delete the sample rows of ``partner`` and ``code`` but the last ``sample``; how many."""
    table = exchange_rejections
    oldest_kept = conn.execute(
        select(table.c.id).where(table.c.partner == partner, table.c.code == code).order_by(table.c.id.desc()).offset(sample - 1).limit(1)
    ).scalar()
    if oldest_kept is None:
        return 0
    return conn.execute(delete(table).where(table.c.partner == partner, table.c.code == code, table.c.id < oldest_kept)).rowcount or 0


def sweep_rejections(engine: Engine, *, retention_days: int, sample: int = REJECTION_SAMPLE, at: datetime | None = None) -> int:
    """Forget rejections older than ``retention_days`` (counts of days before, sample rows made
    before), and trim every partner and reason to its last ``sample`` rows. Returns how many rows
    went. A periodic job of the node (``avance.bootstrap.worker_jobs``)."""
    cutoff = (at or now()) - timedelta(days=retention_days)
    with write(engine) as conn:
        gone = conn.execute(delete(exchange_rejections).where(exchange_rejections.c.at < cutoff)).rowcount or 0
        gone += conn.execute(delete(exchange_rejection_counts).where(exchange_rejection_counts.c.day < cutoff.date())).rowcount or 0
        table = exchange_rejections
        crowded = conn.execute(select(table.c.partner, table.c.code).group_by(table.c.partner, table.c.code).having(func.count() > sample)).all()
        for partner, code in crowded:
            gone += _trim_sample(conn, partner, code, sample)
    if gone:
        log.info("rejection log: %d rows older than %d days or beyond the sample swept", gone, retention_days)
    return gone


# --- helpers ---------------------------------------------------------------------------------------


def _partner_keys(conn: Connection) -> dict[str, dict[str, Any]]:
    partners: dict[str, dict[str, Any]] = {}
    for r in conn.execute(select(exchange_partners.c.node_id, exchange_partners.c.country, exchange_partners.c.confirmed_kid)):
        partners[r[0]] = {"country": r[1], "confirmed_kid": r[2], "keys": {}}
    for r in conn.execute(select(exchange_partner_keys.c.node_id, exchange_partner_keys.c.kid, exchange_partner_keys.c.public_key)):
        if r[0] in partners:
            partners[r[0]]["keys"][r[1]] = _public_key(r[2])
    return partners


_key_cache: dict[str, Any] = {}


def _public_key(text: str) -> Any:
    key = _key_cache.get(text)
    if key is None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = Ed25519PublicKey.from_public_bytes(b64u_decode(text))
        if len(_key_cache) > 1000:
            _key_cache.clear()
        _key_cache[text] = key
    return key


def _row_of(r: Any) -> _Row:
    row = _Row(r["message_id"], r["sender"], r["movement"], r["sequence"], r["digest"], r["last_signed_at"], r["state"], r["code"], r["reason"], r["duplicates"], r["envelope"])
    row.applied_at = r["applied_at"]
    return row


def _claimed(raw: Any, key: str, limit: int) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get(key)
    return value[:limit] if isinstance(value, str) and value else None


def _valid_node_id(value: str) -> bool:
    import re

    return re.match(NODE_ID_PATTERN, value) is not None


def _summary(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['pointer'] or '/'}: {e['message']}" for e in errors[:5])[:1500]


def _issues_text(exc: ValidationFailed, lang: str) -> str:
    return "; ".join(f"{i.pointer or '/'}: {i.message(lang)}" for i in exc.issues)[:1900]


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


# --- built-in handlers -----------------------------------------------------------------------------


_statements: dict[tuple[str, str], Any] = {}
_PARTNER_COUNTRY = select(exchange_partners.c.country).where(exchange_partners.c.node_id == bindparam("node_id"))


def _reference_data_statement(dialect: str, action: str) -> Any:
    """The upsert of one reference record, built once per engine kind (executed many times)."""
    key = (dialect, action)
    if key not in _statements:
        table = exchange_reference_data
        statement = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table).values(
            partner=bindparam("partner"),
            dataset=bindparam("dataset"),
            code=bindparam("code"),
            record=bindparam("record", type_=table.c.record.type),
            deleted=action == "delete",
            revision=1,
            updated_at=bindparam("updated_at", type_=table.c.updated_at.type),
            message_id=bindparam("message_id"),
        )
        changes = {"deleted": action == "delete", "revision": table.c.revision + 1, "updated_at": statement.excluded.updated_at, "message_id": statement.excluded.message_id}
        if action != "delete":
            changes["record"] = statement.excluded.record
        _statements[key] = statement.on_conflict_do_update(index_elements=[table.c.partner, table.c.dataset, table.c.code], set_=changes)
    return _statements[key]


def apply_reference_data(conn: Connection, envelope: Envelope, payload: dict) -> None:
    """A partner's offices or holidays: kept per partner; a partner may only publish its own country's."""
    country = conn.execute(_PARTNER_COUNTRY, {"node_id": envelope.sender}).scalar_one()
    dataset, action = payload["dataset"], payload["action"]
    issues = [
        Issue(f"/payload/records/{i}/country", "exchange.refdata.foreign", {"country": r["country"], "partner": country})
        for i, r in enumerate(payload["records"])
        if r["country"] != country
    ]
    if issues:
        raise ValidationFailed(issues)
    at = now()
    rows = [
        {
            "partner": envelope.sender,
            "dataset": dataset,
            "code": record["code"] if dataset == "offices" else record["date"],
            "record": record,
            "updated_at": at,
            "message_id": envelope.id,
        }
        for record in payload["records"]
    ]
    conn.execute(_reference_data_statement(conn.dialect.name, action), rows)


def apply_deferred_ack(conn: Connection, envelope: Envelope, payload: dict) -> None:
    """A partner applied (or refused) a message of this node it had answered ``buffered`` (or, to a
    later copy, ``duplicate``): record its final answer. Any other deferred-ack (a message this node
    did not send to that partner, one the partner had answered otherwise, or a second one) is
    refused: a partner cannot rewrite its answers. One that overtakes the partner's answer to the
    message (still pending here) is answered ``retry``."""
    status = payload["status"]
    final = {"accepted": "delivered", "rejected": "rejected"}[status]
    result = conn.execute(
        update(exchange_outbox)
        .where(
            exchange_outbox.c.message_id == payload["message_id"],
            exchange_outbox.c.recipient == envelope.sender,
            exchange_outbox.c.outcome.in_(("buffered", "duplicate")),
        )
        .values(state=final, outcome=status, outcome_code=payload.get("code"), ack=envelope.to_wire(), finished_at=now())
    )
    if not result.rowcount:
        waiting = conn.execute(
            select(exchange_outbox.c.id).where(
                exchange_outbox.c.message_id == payload["message_id"], exchange_outbox.c.recipient == envelope.sender, exchange_outbox.c.state == "pending"
            )
        ).first()
        if waiting is not None:  # the partner's answer to it is still on its way to this node's sender
            raise NotYet(payload["message_id"])
        raise Conflict(R + "unsolicited_ack", message_id=payload["message_id"], sender=envelope.sender)
    if final == "rejected":
        conn.execute(
            insert(exchange_alerts).values(
                raised_at=now(),
                kind="rejected",
                partner=envelope.sender,
                detail={"message_id": payload["message_id"], "code": payload.get("code"), "reason": payload.get("reason", {}).get("en")},
            )
        )
        log.warning("partner %s rejected message %s: %s", envelope.sender, payload["message_id"], payload.get("code"))


def settle_held(conn: Connection, *, sender: str, message_id: str | None, code: str | None = None, reason: dict[str, str] | None = None) -> bool:
    """A message a handler had held (answered ``buffered``) is now applied (``code`` None) or
    refused (``code``: why): its inbox record says so and its sender gets a ``deferred-ack``, in the
    caller's transaction. False when there is no such held message (nothing is sent)."""
    if message_id is None:
        return False
    text = None if code is None else (reason or reasons(code))
    result = conn.execute(
        update(exchange_inbox)
        .where(exchange_inbox.c.message_id == message_id, exchange_inbox.c.sender == sender, exchange_inbox.c.state == "buffered")
        .values(state="applied" if code is None else "rejected", applied_at=now() if code is None else None, code=code, reason=text)
    )
    if not result.rowcount:
        return False
    payload: dict[str, Any] = {"message_id": message_id, "status": "accepted" if code is None else "rejected"}
    if code is not None:
        payload["code"] = code
        payload["reason"] = text
    queue_deferred_ack(conn, to=sender, payload=payload, correlation=message_id)
    return True


def reference_data(conn: Connection, *, partner: str | None = None, dataset: str | None = None, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Reference data partners published, by partner, dataset and code."""
    query = select(exchange_reference_data).order_by(exchange_reference_data.c.partner, exchange_reference_data.c.dataset, exchange_reference_data.c.code)
    if partner is not None:
        query = query.where(exchange_reference_data.c.partner == partner)
    if dataset is not None:
        query = query.where(exchange_reference_data.c.dataset == dataset)
    if not include_deleted:
        query = query.where(exchange_reference_data.c.deleted.is_(False))
    return [
        {**dict(r), "updated_at": format_time(r["updated_at"])}
        for r in conn.execute(query).mappings()
    ]


BUILTIN_HANDLERS: dict[str, Handler] = {
    "reference-data-update": apply_reference_data,
    "deferred-ack": apply_deferred_ack,
}
"""The messages the exchange applies itself; business messages come from ``avance.movements``."""
