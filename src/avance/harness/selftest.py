"""``avance exchange selftest``: real nodes, real messages, an optional crash, attacks; then count.

1. Start a Cluster (temporary folders, one ``avance serve`` per node, all partnered).
2. Queue N reference-data-update messages spread over every ordered pair of nodes, each with a
   unique office code, in each sending node's outbox (in transactions of 20, as the sending
   administration's business transactions would); the nodes' own senders deliver them.
3. With ``--kill``: after a third of them, SIGKILL one node (it receives from and sends to every
   other), queue another third (its partners keep them for it), restart it, queue the rest.
4. Inject, at every receiver in turn, tampered copies (a delivered message with its payload
   changed), replays (a delivered message sent again as is) and messages from an unknown node;
   each must come back as a negative ack with the expected reason: signed by the receiver for the
   replay (its signature verified), unsigned for the tampered and unknown-sender ones (a node
   signs no answer to a message it could not authenticate).
5. Wait until every outbox is empty, then count at each receiver: every message id applied once
   (inbox), and every office code applied once (the revision counter of the reference data).

The result is one JSON line; the command exits non-zero if anything was lost or applied twice,
or if an injected message was not rejected as it should have been.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from avance.exchange.envelope import b64u, build, sign, verify
from avance.harness.nodes import Cluster, NodeProc
from avance.exchange.inbox import R
from avance.exchange.keys import load_public_key, parse_public_key, thumbprint
from avance.exchange.outbox import enqueue, envelope_of
from avance.store.engine import write
from avance.exchange.tables import exchange_inbox, exchange_outbox, exchange_reference_data

COUNTRIES = ("CI", "GH", "ML", "SN", "NG", "CM")


class _Quiet:
    def print(self, *args: Any, **kwargs: Any) -> None:
        pass


def run(*, nodes: int = 3, messages: int = 300, kill: bool = False, inject: int = 3, keep: bool = False, timeout: float = 180,
        console: Any = None, base_dir: Path | None = None, first_port: int | None = None) -> dict[str, Any]:
    """Run the self-test; ``{"summary": {...}, "ok": bool, "problems": [...]}``. The nodes listen
    on ``first_port`` and the ports after it (free ports when None)."""
    console = console or _Quiet()
    base = Path(base_dir) if base_dir is not None else Path(tempfile.mkdtemp(prefix="avance-selftest-"))
    try:
        console.print(f"starting {nodes} nodes in {base} ...", markup=False)
        with Cluster(base, COUNTRIES[:nodes], first_port=first_port) as cluster:
            return exercise(cluster, messages=messages, kill=kill, inject=inject, timeout=timeout, console=console)
    finally:
        if keep:
            console.print(f"nodes kept in {base}", markup=False)
        elif base_dir is None:
            shutil.rmtree(base, ignore_errors=True)


def exercise(cluster: Cluster, *, messages: int, kill: bool = False, inject: int = 3, timeout: float = 180, console: Any = None) -> dict[str, Any]:
    """Steps 2 to 5 on a running cluster."""
    console = console or _Quiet()
    run_id = secrets.token_hex(3).upper()
    pairs = [(a, b) for a in cluster.nodes for b in cluster.nodes if a is not b]
    victim = cluster.nodes[1] if kill else None
    sent: dict[str, tuple[NodeProc, NodeProc, str]] = {}  # message id -> (sender, recipient, office code)
    problems: list[str] = []
    started = time.monotonic()
    console.print(f"sending {messages} messages ...", markup=False)
    third = messages // 3
    _queue(pairs, 0, third if kill else messages, run_id, sent)
    if victim is not None:
        console.print(f"SIGKILL {victim.node_id} after {third} messages", markup=False)
        victim.kill()
        _queue(pairs, third, 2 * third, run_id, sent)  # its partners queue for it; its own queue waits in its database
        time.sleep(1.0)
        console.print(f"restarting {victim.node_id}", markup=False)
        victim.restart()
        _queue(pairs, 2 * third, messages, run_id, sent)
    console.print("waiting for the queues to drain ...", markup=False)
    try:
        cluster.wait_drained(timeout)
    except TimeoutError as exc:
        problems.append(str(exc))
    seconds = time.monotonic() - started
    injected = _inject(cluster, inject, console) if inject else {"tampered": 0, "replayed": 0, "unknown": 0, "problems": []}
    problems += injected["problems"]
    counts = _count(cluster, sent, run_id)
    summary = {
        "sent": len(sent),
        "applied": counts["applied"],
        "duplicates": counts["duplicates"],
        "lost": counts["lost"],
        "rejected_tampered": injected["tampered"],
        "rejected_replayed": injected["replayed"],
        "rejected_unknown": injected["unknown"],
        "seconds": round(seconds, 2),
        "messages_per_second": round(len(sent) / seconds, 1) if seconds > 0 else None,
        "nodes": len(cluster.nodes),
        "killed": victim.node_id if victim is not None else None,
    }
    if counts["lost"]:
        problems.append(f"{counts['lost']} message(s) lost")
    if counts["duplicates"]:
        problems.append(f"{counts['duplicates']} message(s) applied more than once")
    if inject and (injected["tampered"], injected["replayed"], injected["unknown"]) != (inject, inject, inject):
        problems.append("an injected message was not rejected as expected")
    return {"summary": summary, "ok": not problems, "problems": problems, "sent_ids": list(sent)}


def _queue(pairs: list[tuple[NodeProc, NodeProc]], start: int, end: int, run_id: str, sent: dict[str, Any], per_transaction: int = 20) -> None:
    """Messages ``start`` to ``end`` written into their senders' outboxes, as a business transaction
    of the sending administration would (the transactional outbox; the node's sender delivers them)."""
    by_sender: dict[str, list[int]] = defaultdict(list)
    for i in range(start, end):
        by_sender[pairs[i % len(pairs)][0].node_id].append(i)
    batches = [(sender_id, numbers[k : k + per_transaction]) for sender_id, numbers in by_sender.items() for k in range(0, len(numbers), per_transaction)]
    batches.sort(key=lambda b: b[1][0])  # interleave the senders as the stream goes
    for _, numbers in batches:
        sender = pairs[numbers[0] % len(pairs)][0]
        with write(sender.engine()) as conn:
            for i in numbers:
                recipient = pairs[i % len(pairs)][1]
                code = f"{sender.country}-ST{run_id}-{i:06d}"
                payload = {"dataset": "offices", "action": "upsert", "records": [{"code": code, "name": f"Selftest office {i}", "country": sender.country, "kind": "inland"}]}
                message_id = enqueue(conn, to=recipient.node_id, type="reference-data-update", payload=payload, movement="reference-data:offices")
                sent[message_id] = (sender, recipient, code)


def _delivered_envelope(sender: NodeProc, recipient: NodeProc) -> dict[str, Any] | None:
    with sender.engine().connect() as conn:
        row = conn.execute(
            select(exchange_outbox)
            .where(exchange_outbox.c.recipient == recipient.node_id, exchange_outbox.c.state == "delivered", exchange_outbox.c.type == "reference-data-update")
            .order_by(exchange_outbox.c.id.desc())
            .limit(1)
        ).first()
    return envelope_of(row, sender.node_id) if row is not None else None


def _inject(cluster: Cluster, count: int, console: Any) -> dict[str, Any]:
    """Attacks at every receiver in turn; counts the ones refused as they should be: a genuine signed
    negative ack for a replay, an unsigned one for what does not authenticate."""
    console.print(f"injecting {count} tampered, {count} replayed and {count} unknown-sender messages ...", markup=False)
    result: dict[str, Any] = {"tampered": 0, "replayed": 0, "unknown": 0, "problems": []}
    keys = {n.node_id: load_public_key(b64u(parse_public_key(n.public_key))) for n in cluster.nodes}
    rogue = Ed25519PrivateKey.generate()
    rogue_kid = thumbprint(rogue.public_key().public_bytes_raw())
    for i in range(count):
        recipient = cluster.nodes[i % len(cluster.nodes)]
        sender = cluster.nodes[(i + 1) % len(cluster.nodes)]
        genuine = _delivered_envelope(sender, recipient)
        if genuine is None:
            result["problems"].append(f"no delivered message from {sender.node_id} to {recipient.node_id} to tamper with")
            continue
        tampered = dict(genuine, payload={**genuine["payload"], "records": [{**genuine["payload"]["records"][0], "name": "Tampered office"}]})
        unknown = sign(
            build(sender=f"ZZ-ROGUE-{i}", recipient=recipient.node_id, type="reference-data-update", payload=genuine["payload"], message_id=str(uuid.uuid4())),
            rogue_kid,
            rogue,
        )
        for kind, envelope, expected, signed in (
            ("tampered", tampered, R + "bad_signature", False),
            ("replayed", genuine, R + "replay", True),
            ("unknown", unknown, R + "unknown_sender", False),
        ):
            ack = _post_one(recipient, envelope)
            if ack is None:
                result["problems"].append(f"{recipient.node_id} gave no acknowledgement for a {kind} message")
            elif ack.get("sender") != recipient.node_id or (signed and not verify(ack, keys[recipient.node_id])):
                result["problems"].append(f"{recipient.node_id}'s answer to a {kind} message is not signed by it")
            elif not signed and "signature" in ack:
                result["problems"].append(f"{recipient.node_id} signed its answer to a {kind} message it could not authenticate")
            elif ack["payload"].get("status") == "rejected" and ack["payload"].get("code") == expected:
                result[kind] += 1
            else:
                result["problems"].append(f"{recipient.node_id} answered {ack['payload'].get('status')} {ack['payload'].get('code')} to a {kind} message")
    return result


def _post_one(recipient: NodeProc, envelope: dict[str, Any]) -> dict[str, Any] | None:
    try:
        with httpx.Client(timeout=30) as http:
            response = http.post(f"{recipient.url}/exchange/messages", json=[envelope])
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    acks = response.json()
    return acks[0] if isinstance(acks, list) and len(acks) == 1 and isinstance(acks[0], dict) else None


def _count(cluster: Cluster, sent: dict[str, tuple[NodeProc, NodeProc, str]], run_id: str) -> dict[str, int]:
    """At each receiver: which sent ids were applied, and how many times each office code was."""
    expected: dict[str, set[str]] = defaultdict(set)
    for message_id, (_, recipient, _) in sent.items():
        expected[recipient.node_id].add(message_id)
    applied = duplicates = 0
    for node in cluster.nodes:
        wanted = expected.get(node.node_id, set())
        with node.engine().connect() as conn:
            rows = conn.execute(select(exchange_inbox.c.message_id).where(exchange_inbox.c.state == "applied", exchange_inbox.c.type == "reference-data-update"))
            applied_ids = {r[0] for r in rows} & wanted
            revisions = conn.execute(
                select(exchange_reference_data.c.revision).where(exchange_reference_data.c.code.like(f"%-ST{run_id}-%"))
            ).scalars().all()
        applied += len(applied_ids)
        duplicates += sum(r - 1 for r in revisions)
    return {"applied": applied, "duplicates": duplicates, "lost": len(sent) - applied}
