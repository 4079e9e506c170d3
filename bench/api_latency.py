"""API lodging latency: single declarations POSTed one after another over HTTP to a real
`avance serve` process, as a broker's system would.

    .venv/bin/python bench/api_latency.py [--requests 2000] [--database-url URL]

Prints p50, p90, p99 and max latency of `POST /declarations` (validation, duties, lane, storage
and the answer), measured by the client on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    from avance.demo.generator import DemoConfig, DemoGenerator

    workdir = Path(tempfile.mkdtemp(prefix="avance-latency-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(workdir), AVANCE_LANG="en")
    if args.database_url:
        env["AVANCE_DATABASE_URL"] = args.database_url
    avance = [sys.executable, "-m", "avance"]
    subprocess.run([*avance, "init", "--country", "SN"], env=env, check=True, capture_output=True)
    rates = Path(__file__).resolve().parents[1] / "src" / "avance" / "demo" / "rates.csv"
    subprocess.run([*avance, "rates", "load", str(rates)], env=env, check=True, capture_output=True)
    token = subprocess.run([*avance, "users", "create", "--name", "bench", "--role", "admin"], env=env, check=True, capture_output=True, text=True).stdout.strip()

    # Today's registrations: generate recent trade so that arrival dates are plausible today.
    generator = DemoGenerator(DemoConfig(country="SN", seed=11, start=date.today() - timedelta(days=3), days=3))
    bodies = [g.payload for g in generator.generate(args.requests + args.warmup)]

    port = free_port()
    server = subprocess.Popen([*avance, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit("the server did not start: " + server.stderr.read().decode()[-2000:] if server.stderr else "")
                time.sleep(0.1)
            latencies = []
            statuses: dict[int, int] = {}
            for i, body in enumerate(bodies):
                started = time.perf_counter()
                response = client.post("/declarations", json=body)
                elapsed = (time.perf_counter() - started) * 1000
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if i >= args.warmup:
                    latencies.append(elapsed)
    finally:
        server.terminate()
        server.wait(timeout=20)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    print(f"machine  : {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"engine   : {(args.database_url or 'sqlite').split(':', 1)[0]}")
    print(f"requests : {len(latencies)} measured after {args.warmup} warm-up; statuses {json.dumps(statuses)}")
    print(f"latency  : p50 {pct(50):.1f} ms, p90 {pct(90):.1f} ms, p99 {pct(99):.1f} ms, max {latencies[-1]:.1f} ms, mean {statistics.fmean(latencies):.1f} ms")


if __name__ == "__main__":
    main()
