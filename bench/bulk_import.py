"""Bulk import benchmark: N demo declarations (about 3 items each) through validation, duties and
lane into a fresh node, the same path as `avance import declarations`.

    .venv/bin/python bench/bulk_import.py [--declarations 100000] [--database-url URL]

Prints declarations/s, items/s and the importing process's peak memory. The input file is
generated first (not timed) and the import runs in a child process, so that the peak memory is the
importer's own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from avance.kit.settings import Settings
from avance.imports.runner import run_import
from avance.bootstrap import Node, init_node, store_rates
from avance.demo.generator import demo_rates
from avance.store.engine import make_engine, write

url, source = sys.argv[1], Path(sys.argv[2])
engine = make_engine(url)
init_node(engine, "SN")
with write(engine) as conn:
    store_rates(conn, demo_rates("XOF"))
node = Node(Settings(database_url=url, country="SN"), engine)
started = time.perf_counter()
report = run_import(node, source, rejects_path=source.with_suffix(".rejects.csv"), batch_size=1000)
seconds = time.perf_counter() - started
import collections, csv
reasons = collections.Counter()
if report.rejects_path:
    with open(report.rejects_path) as handle:
        reasons.update(row["code"] for row in csv.DictReader(handle))
main_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
worker_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"accepted": report.accepted, "rejected": report.rejected, "seconds": seconds, "main_mb": main_kb / 1024, "worker_mb": worker_kb / 1024, "reasons": reasons.most_common(5)}))
"""


def generate(path: Path, count: int, seed: int) -> tuple[int, float]:
    from datetime import date

    from avance.demo.generator import DemoConfig, DemoGenerator

    started = time.perf_counter()
    items = 0
    generator = DemoGenerator(DemoConfig(country="SN", seed=seed, start=date(2025, 1, 1), days=365))
    with path.open("w", encoding="utf-8") as handle:
        for g in generator.generate(count):
            items += len(g.payload["goods_items"])
            handle.write(json.dumps({"registration_date": g.registration_date.isoformat(), "declaration": g.payload}) + "\n")
    return items, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="avance-bench-"))
    source = workdir / f"demo-{args.declarations}.jsonl"
    items, gen_seconds = generate(source, args.declarations, args.seed)
    url = args.database_url or f"sqlite:///{(workdir / 'bench.db').as_posix()}"
    result = subprocess.run([sys.executable, "-c", CHILD, url, str(source)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"import failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    total = figures["accepted"] + figures["rejected"]
    print(f"machine           : {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"engine            : {url.split(':', 1)[0]}")
    print(f"generated         : {args.declarations} declarations, {items} items ({items / args.declarations:.2f}/declaration) in {gen_seconds:.1f} s (not timed below)")
    print(f"imported          : {figures['accepted']} stored, {figures['rejected']} rejected in {figures['seconds']:.1f} s")
    print(f"throughput        : {total / figures['seconds']:.0f} declarations/s, {items * total / args.declarations / figures['seconds']:.0f} items/s")
    workers = os.cpu_count() or 1
    print(f"peak memory (RSS) : main process {figures['main_mb']:.0f} MB, largest worker {figures['worker_mb']:.0f} MB; "
          f"all {workers + 1} processes together at most {figures['main_mb'] + workers * figures['worker_mb']:.0f} MB")
    if figures["reasons"]:
        print(f"rejection reasons : {figures['reasons']}")


if __name__ == "__main__":
    main()
