"""Delivery of queued messages to one partner: sign, send in batches, read the signed acks.

``deliver_once`` is one attempt (one HTTP request of up to ``BATCH`` messages, oldest first);
``PartnerSender`` is the background thread that repeats it: at once while there is more to send,
on a wake-up when a transaction queues a message, and after an exponential backoff with jitter
(capped at ``exchange_retry_max_seconds``) when the partner does not answer. Messages older than
``exchange_dead_letter_hours`` go to dead letter, with an alert.

Every attempt signs the messages again with a fresh ``created_at`` (the id stays): a retry after
hours of outage is within the receiver's replay window, and the receiver tells a genuine retry
(signed later) from a replayed copy.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, and_, bindparam, insert, or_, select, update

from avance.exchange import keys as keyring
from avance.exchange.envelope import build, now, sign, verify
from avance.exchange.inbox import AUTH_FAILURES, UNSIGNED_ANSWERS, R, _public_key
from avance.exchange.outbox import due_filter
from avance.store.engine import write
from avance.exchange.tables import exchange_alerts, exchange_outbox, exchange_partner_keys, exchange_partners

log = logging.getLogger("avance.exchange")

BATCH = 200
BASE_DELAY = 0.5
PROBE_INTERVAL = timedelta(minutes=10)
LEASE = timedelta(seconds=20)
USER_AGENT = "Avance-exchange/1"


@dataclass
class Attempt:
    """What one delivery attempt did."""

    sent: int = 0
    delivered: int = 0
    rejected: int = 0
    pending: int = 0
    error: str | None = None
    wait: float = 0.0
    resend: bool = False


def backoff(failures: int, cap: float) -> float:
    """Exponential backoff with jitter: about BASE * 2^failures, never more than ``cap`` seconds."""
    ceiling = min(cap, BASE_DELAY * (2 ** min(failures, 30)))
    return random.uniform(ceiling / 2, ceiling)


def deliver_once(node: Any, partner_id: str, client: httpx.Client, limit: int = BATCH) -> Attempt:
    """Send the due pending messages to ``partner_id`` (one request) and record the answers."""
    engine: Engine = node.engine
    data_dir = node.settings.data_dir
    at = now()
    with engine.connect() as conn:
        rows = conn.execute(
            select(exchange_outbox)
            .where(exchange_outbox.c.recipient == partner_id, exchange_outbox.c.state == "pending", due_filter(at))
            .order_by(exchange_outbox.c.id)
            .limit(limit)
        ).all()
        if not rows:
            return Attempt()
        me = keyring.node_id(conn)
        partner = conn.execute(select(exchange_partners).where(exchange_partners.c.node_id == partner_id)).mappings().first()
        if partner is None:
            return Attempt(error="unknown partner")
        partner_keys = {r[0]: r[1] for r in conn.execute(select(exchange_partner_keys.c.kid, exchange_partner_keys.c.public_key).where(exchange_partner_keys.c.node_id == partner_id))}
        current = keyring.current_key(conn)
        grace = keyring.grace_key(conn, at)
    kid = current.kid
    if grace is not None and partner["confirmed_kid"] != current.kid and partner["probe_after"] is not None and partner["probe_after"] > at:
        kid = grace.kid  # the partner has not registered our new key yet: the old one, until the next probe
    private = keyring.private_key(data_dir, kid)
    envelopes = [
        sign(
            build(sender=me, recipient=partner_id, type=r.type, payload=r.payload, message_id=r.message_id, movement=r.movement,
                  sequence=r.sequence, correlation=r.correlation, created_at=at),
            kid,
            private,
        )
        for r in rows
    ]
    try:
        response = client.post(
            f"{partner['endpoint']}/exchange/messages",
            content=orjson.dumps(envelopes),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
    except httpx.HTTPError as exc:
        return _link_failed(node, partner_id, at, f"{type(exc).__name__}: {exc}"[:500], len(rows))
    if response.status_code != 200:
        return _link_failed(node, partner_id, at, f"HTTP {response.status_code}: {response.text[:300]}", len(rows))
    try:
        acks = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return _link_failed(node, partner_id, at, "the answer is not JSON", len(rows))
    problem = _check_acks(acks, envelopes, me, partner_id, partner_keys)
    if problem is not None:
        return _link_failed(node, partner_id, at, problem, len(rows))
    return _record(node, partner_id, at, kid, current.kid, grace, rows, envelopes, acks)


_STATUSES = frozenset(("accepted", "buffered", "duplicate", "rejected", "retry"))


def _check_acks(acks: Any, envelopes: list[dict[str, Any]], me: str, partner_id: str, partner_keys: dict[str, str]) -> str | None:
    """Why the answer cannot be trusted (None when every ack is genuine and matches its message)."""
    if not isinstance(acks, list) or len(acks) != len(envelopes):
        return "the answer is not one acknowledgement per message"
    for ack, envelope in zip(acks, envelopes):
        if not isinstance(ack, dict) or ack.get("type") != "ack" or ack.get("sender") != partner_id or ack.get("recipient") != me:
            return "an acknowledgement is not from the partner, or not for this node"
        signature, payload = ack.get("signature"), ack.get("payload")
        if not isinstance(payload, dict):
            return "an acknowledgement is not signed"
        if signature is None and unsigned_refusal(payload):
            if payload.get("message_id") != envelope["id"]:
                return "an acknowledgement does not answer the message sent"
            continue  # the partner could not authenticate the message: proves nothing, changes nothing
        if not isinstance(signature, dict):
            return "an acknowledgement is not signed"
        public = partner_keys.get(signature.get("kid"))  # type: ignore[arg-type]
        if public is None:
            return f"an acknowledgement is signed with key {signature.get('kid')}, unknown for {partner_id}"
        if not verify(ack, _public_key(public)):
            return "an acknowledgement has a bad signature"
        if payload.get("message_id") != envelope["id"] or payload.get("status") not in _STATUSES:
            return "an acknowledgement does not answer the message sent"
        if payload["status"] in ("rejected", "retry") and not isinstance(payload.get("code"), str):
            return "a negative acknowledgement gives no reason"
    return None


def unsigned_refusal(payload: dict[str, Any]) -> bool:
    """An unsigned answer the sender reads: the partner could not authenticate the message. It is
    never final: the message stays pending (and goes to dead letter if this lasts)."""
    return payload.get("status") == "rejected" and payload.get("code") in UNSIGNED_ANSWERS


def _record(node: Any, partner_id: str, at: datetime, kid: str, current_kid: str, grace: Any, rows: list[Any], envelopes: list[dict[str, Any]],
            acks: list[dict[str, Any]]) -> Attempt:
    cap = node.settings.exchange_retry_max_seconds
    result = Attempt(sent=len(rows))
    updates: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    auth_failures: list[str] = []
    unknown_key = False
    for row, envelope, ack in zip(rows, envelopes, acks):
        payload = ack["payload"]
        status, code = payload["status"], payload.get("code")
        reason = (payload.get("reason") or {}).get("en")
        change = {
            "b_id": row.id,
            "b_state": "pending",
            "b_attempts": row.attempts + 1,
            "b_next": None,
            "b_signed_at": at,
            "b_signature": envelope["signature"],
            "b_outcome": status,
            "b_code": code,
            "b_ack": ack,
            "b_finished": None,
            "b_error": None,
        }
        if status in ("accepted", "buffered", "duplicate"):
            change.update(b_state="delivered", b_finished=at)
            result.delivered += 1
        elif status == "rejected" and (code in AUTH_FAILURES or ack.get("signature") is None):
            change.update(b_signed_at=row.signed_at, b_signature=row.signature, b_outcome=row.outcome, b_code=row.outcome_code, b_ack=row.ack, b_error=f"{code}: {reason}")
            auth_failures.append(f"{code}: {reason}")
            unknown_key = unknown_key or code == R + "unknown_key"
            result.pending += 1
        elif status == "rejected":
            change.update(b_state="rejected", b_finished=at)
            alerts.append({"raised_at": at, "kind": "rejected", "partner": partner_id, "detail": {"message_id": row.message_id, "type": row.type, "code": code, "reason": reason}})
            log.warning("partner %s rejected message %s (%s): %s", partner_id, row.message_id, row.type, code)
            result.rejected += 1
        else:  # retry: the partner could not apply it now
            change.update(b_next=at + timedelta(seconds=backoff(row.attempts + 1, cap)), b_error=f"{code}: {reason}")
            result.pending += 1
        updates.append(change)
    link: dict[str, Any] = {"last_attempt_at": at}
    if auth_failures and len(auth_failures) == len(rows):
        failures = _failures(node, partner_id) + 1
        wait = 0.0 if (unknown_key and kid == current_kid and grace is not None) else backoff(failures, cap)
        link.update(failures=failures, last_error_at=at, last_error=auth_failures[0][:1000], next_attempt_at=at + timedelta(seconds=wait))
        result.error, result.wait = auth_failures[0], wait
    else:
        link.update(failures=0, next_attempt_at=None, last_success_at=at)
    if unknown_key and kid == current_kid and grace is not None:
        link.update(probe_after=at + PROBE_INTERVAL)  # fall back on the previous key for a while
        result.resend = True
    elif result.delivered and kid == current_kid:
        link.update(confirmed_kid=current_kid, probe_after=None)
    with write(node.engine) as conn:
        conn.execute(
            update(exchange_outbox)
            .where(exchange_outbox.c.id == bindparam("b_id"), exchange_outbox.c.state == "pending")
            .values(
                state=bindparam("b_state"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                signed_at=bindparam("b_signed_at"),
                signature=bindparam("b_signature"),
                outcome=bindparam("b_outcome"),
                outcome_code=bindparam("b_code"),
                ack=bindparam("b_ack"),
                finished_at=bindparam("b_finished"),
                last_error=bindparam("b_error"),
            ),
            updates,
        )
        conn.execute(update(exchange_partners).where(exchange_partners.c.node_id == partner_id).values(**link))
        if alerts:
            conn.execute(insert(exchange_alerts), alerts)
    return result


def _failures(node: Any, partner_id: str) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(select(exchange_partners.c.failures).where(exchange_partners.c.node_id == partner_id)).scalar() or 0)


def _link_failed(node: Any, partner_id: str, at: datetime, error: str, count: int) -> Attempt:
    """The partner did not answer usefully: nothing changes for the messages; the link backs off."""
    with write(node.engine) as conn:
        failures = int(conn.execute(select(exchange_partners.c.failures).where(exchange_partners.c.node_id == partner_id)).scalar() or 0) + 1
        wait = backoff(failures, node.settings.exchange_retry_max_seconds)
        conn.execute(
            update(exchange_partners)
            .where(exchange_partners.c.node_id == partner_id)
            .values(failures=failures, last_attempt_at=at, last_error_at=at, last_error=error[:1000], next_attempt_at=at + timedelta(seconds=wait))
        )
    if failures == 1 or failures % 10 == 0:
        log.warning("delivery to %s failed (%d in a row, next try in %.1f s): %s", partner_id, failures, wait, error)
    return Attempt(sent=count, pending=count, error=error, wait=wait)


def dead_letter(node: Any, partner_id: str, at: datetime | None = None) -> int:
    """Move messages pending for longer than ``exchange_dead_letter_hours`` to dead letter, with an alert."""
    at = at or now()
    cutoff = at - timedelta(hours=node.settings.exchange_dead_letter_hours)
    with write(node.engine) as conn:
        ids = list(
            conn.execute(
                update(exchange_outbox)
                .where(exchange_outbox.c.recipient == partner_id, exchange_outbox.c.state == "pending", exchange_outbox.c.pending_since < cutoff)
                .values(state="dead", finished_at=at)
                .returning(exchange_outbox.c.message_id)
            ).scalars()
        )
        if ids:
            conn.execute(
                insert(exchange_alerts).values(
                    raised_at=at,
                    kind="dead_letter",
                    partner=partner_id,
                    detail={"count": len(ids), "hours": node.settings.exchange_dead_letter_hours, "message_ids": ids[:100]},
                )
            )
    if ids:
        log.warning(
            "%d message(s) to %s undelivered after %s h moved to dead letter (avance exchange requeue --partner %s sends them again)",
            len(ids), partner_id, node.settings.exchange_dead_letter_hours, partner_id,
        )
    return len(ids)


# --- the background thread ---------------------------------------------------------------------


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _owner_alive(owner: str | None) -> bool:
    """False when ``owner`` was a process of this host that no longer exists (a killed node)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lease(engine: Engine, partner_id: str, owner: str, at: datetime) -> bool:
    """One sender per partner across the node's processes (``serve --workers``, several servers)."""
    with write(engine) as conn:
        row = conn.execute(select(exchange_partners.c.lease_owner, exchange_partners.c.lease_until).where(exchange_partners.c.node_id == partner_id)).first()
        if row is None:
            return False
        holder, until = row
        if holder not in (None, owner) and until is not None and until > at and _owner_alive(holder):
            return False
        taken = conn.execute(
            update(exchange_partners)
            .where(exchange_partners.c.node_id == partner_id, or_(exchange_partners.c.lease_owner.is_(None), exchange_partners.c.lease_owner == holder))
            .values(lease_owner=owner, lease_until=at + LEASE)
        )
    return taken.rowcount == 1  # another process may have taken it between the read and the update


def release_lease(engine: Engine, partner_id: str, owner: str) -> None:
    with write(engine) as conn:
        conn.execute(
            update(exchange_partners)
            .where(and_(exchange_partners.c.node_id == partner_id, exchange_partners.c.lease_owner == owner))
            .values(lease_owner=None, lease_until=None)
        )


class PartnerSender(threading.Thread):
    """Delivers to one partner until stopped."""

    IDLE_POLL = 0.25  # seconds: messages queued by another process are seen within this
    HOT_POLL = 0.005  # while traffic flows, look again this soon
    HOT_SECONDS = 2.0  # how long traffic counts as flowing after the last message sent

    def __init__(self, node: Any, partner_id: str, stop: threading.Event) -> None:
        super().__init__(name=f"avance-sender-{partner_id}", daemon=True)
        self.node = node
        self.partner_id = partner_id
        self.stopping = stop
        self.retired = threading.Event()
        self.wake = threading.Event()
        self.owner = ""
        self._lease_until = 0.0
        self._last_sweep = 0.0
        self._hot_until = 0.0

    def done(self) -> bool:
        return self.stopping.is_set() or self.retired.is_set()

    def run(self) -> None:
        self.owner = owner_id()
        timeout = httpx.Timeout(30.0, connect=5.0)
        with httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=2, max_keepalive_connections=1)) as client:
            while not self.done():
                try:
                    self._step(client)
                except Exception:  # a database hiccup must not kill the thread
                    log.exception("sender to %s: unexpected error", self.partner_id)
                    self.stopping.wait(2.0)
        try:
            release_lease(self.node.engine, self.partner_id, self.owner)
        except Exception:  # the database may be gone at shutdown
            pass

    def _step(self, client: httpx.Client) -> None:
        clock = time.monotonic()
        if clock >= self._lease_until:
            if not acquire_lease(self.node.engine, self.partner_id, self.owner, now()):
                self.stopping.wait(LEASE.total_seconds() / 4)
                return
            self._lease_until = clock + LEASE.total_seconds() / 2
        if clock - self._last_sweep > 30:
            self._last_sweep = clock
            dead_letter(self.node, self.partner_id)
        with self.node.engine.connect() as conn:
            next_attempt = conn.execute(select(exchange_partners.c.next_attempt_at).where(exchange_partners.c.node_id == self.partner_id)).scalar()
        if next_attempt is not None:
            remaining = (next_attempt - now()).total_seconds()
            if remaining > 0:
                self.stopping.wait(min(remaining, 1.0))  # re-read: an operator may reset the backoff
                return
        attempt = deliver_once(self.node, self.partner_id, client)
        if attempt.error is not None or attempt.resend:
            return
        if attempt.sent:
            self._hot_until = time.monotonic() + self.HOT_SECONDS
            return
        self.wake.wait(self.HOT_POLL if time.monotonic() < self._hot_until else self.IDLE_POLL)
        self.wake.clear()


def message_latencies(engine: Engine, since: datetime | None = None) -> list[float]:
    """Seconds from enqueue to acknowledgement of delivered messages (for the benchmark)."""
    query = select(exchange_outbox.c.enqueued_at, exchange_outbox.c.finished_at).where(exchange_outbox.c.state == "delivered")
    if since is not None:
        query = query.where(exchange_outbox.c.enqueued_at >= since)
    with engine.connect() as conn:
        return [(f - e).total_seconds() for e, f in conn.execute(query)]

