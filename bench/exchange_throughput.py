"""Exchange throughput and latency: signed messages between two real nodes on 127.0.0.1.

    .venv/bin/python bench/exchange_throughput.py [--rate 600] [--seconds 10] [--burst 5000]

Two `avance serve` processes (Côte d'Ivoire and Ghana, SQLite in WAL mode) set up with the real
commands by the harness (avance.harness.nodes). The benchmark writes messages into the
Ivorian node's outbox as a business transaction would (reference-data-update messages of 10
offices' worth of JSON, in transactions of 10, spread over 100 movements); the node's background
sender signs and delivers them in batches; the Ghanaian node checks each signature, deduplicates,
orders and applies them, one transaction per batch, and answers a signed ack per message.

1. steady: messages offered at ``--rate`` per second for ``--seconds``; end-to-end latency is
   the time from the outbox commit at the sender to the commit of the message's effect at the
   receiver (both read from the two databases, same clock): p50, p90, p99, max.
2. burst: ``--burst`` messages queued at once; throughput is how many per second the receiver
   applied until the queue was empty.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from avance.harness.nodes import Cluster  # noqa: E402
from avance.exchange.outbox import enqueue  # noqa: E402
from avance.store.engine import make_engine, write  # noqa: E402
from avance.exchange.tables import exchange_inbox, exchange_outbox  # noqa: E402


def payload(i: int) -> dict:
    return {
        "dataset": "offices",
        "action": "upsert",
        "records": [{"code": f"CI-B{i:07d}", "name": f"Bureau de test {i}", "country": "CI", "kind": "road", "locode": None, "modes": [3]}],
    }


def queue(engine, start: int, count: int, to: str) -> None:
    with write(engine) as conn:
        for i in range(start, start + count):
            enqueue(conn, to=to, type="reference-data-update", payload=payload(i), movement=f"BENCH-{i % 100}")


def wait_applied(receiver_engine, total: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        with receiver_engine.connect() as conn:
            done = conn.execute(select(func.count()).select_from(exchange_inbox).where(exchange_inbox.c.state == "applied")).scalar_one()
        if done >= total:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done} of {total} messages applied after {timeout} s")
        time.sleep(0.02)


def latencies(sender_engine, receiver_engine, first: int, last: int) -> tuple[list[float], list[float]]:
    """End-to-end latencies (outbox commit -> applied at the receiver), and the part spent waiting in
    the outbox (outbox commit -> signed for the delivery that succeeded)."""
    with sender_engine.connect() as conn:
        sent = {
            r.message_id: (r.enqueued_at, r.signed_at)
            for r in conn.execute(select(exchange_outbox.c.message_id, exchange_outbox.c.enqueued_at, exchange_outbox.c.signed_at).where(exchange_outbox.c.id.between(first, last)))
        }
    with receiver_engine.connect() as conn:
        applied = dict(conn.execute(select(exchange_inbox.c.message_id, exchange_inbox.c.applied_at).where(exchange_inbox.c.state == "applied")).all())
    total = sorted((applied[m] - at).total_seconds() for m, (at, _) in sent.items() if m in applied)
    waiting = sorted((signed - at).total_seconds() for at, signed in sent.values() if signed is not None)
    return total, waiting


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=600, help="messages offered per second in the steady phase")
    parser.add_argument("--seconds", type=float, default=10, help="length of the steady phase")
    parser.add_argument("--burst", type=int, default=5000, help="messages queued at once in the burst phase (0: skip)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="avance-exchange-bench-"))
    started = time.monotonic()
    try:
        result = run(workdir, args, started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2))


def run(workdir: Path, args: argparse.Namespace, started: float) -> dict:
    with Cluster(workdir, countries=("CI", "GH")) as cluster:
        ci, gh = cluster.nodes
        setup_seconds = time.monotonic() - started
        sender_engine, receiver_engine = make_engine(ci.database_url), make_engine(gh.database_url)

        # warm-up: connections, caches
        queue(sender_engine, 0, 200, gh.node_id)
        wait_applied(receiver_engine, 200, 60)
        with sender_engine.connect() as conn:
            first_id = conn.execute(select(func.max(exchange_outbox.c.id))).scalar_one() + 1

        # 1. steady rate
        per_tick, tick = 10, 10 / args.rate
        total = int(args.rate * args.seconds) // per_tick * per_tick
        begin = time.monotonic()
        for n, start in enumerate(range(200, 200 + total, per_tick)):
            delay = begin + n * tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            queue(sender_engine, start, per_tick, gh.node_id)
        offered_seconds = time.monotonic() - begin
        end = wait_applied(receiver_engine, 200 + total, 120)
        steady, waiting = latencies(sender_engine, receiver_engine, first_id, first_id + total - 1)
        result = {
            "steady": {
                "offered_rate": args.rate,
                "messages": total,
                "achieved_offered_rate": round(total / offered_seconds, 1),
                "applied_per_second": round(total / (end - begin), 1),
                "latency_ms": {
                    "p50": round(1000 * statistics.median(steady), 1),
                    "p90": round(1000 * percentile(steady, 0.90), 1),
                    "p99": round(1000 * percentile(steady, 0.99), 1),
                    "max": round(1000 * steady[-1], 1),
                },
                "of_which_waiting_in_outbox_ms": {"p50": round(1000 * statistics.median(waiting), 1), "p99": round(1000 * percentile(waiting, 0.99), 1)},
            }
        }

        # 2. burst
        if args.burst:
            base = 200 + total
            begin = time.monotonic()
            for start in range(base, base + args.burst, 500):
                queue(sender_engine, start, min(500, base + args.burst - start), gh.node_id)
            end = wait_applied(receiver_engine, base + args.burst, 300)
            result["burst"] = {"messages": args.burst, "seconds": round(end - begin, 2), "applied_per_second": round(args.burst / (end - begin), 1)}

        sender_engine.dispose()
        receiver_engine.dispose()
    result["setup_seconds"] = round(setup_seconds, 1)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()}
    return result


if __name__ == "__main__":
    main()
