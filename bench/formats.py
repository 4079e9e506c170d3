"""Formats benchmark: converting and importing 10,000 CUSCAR bills of lading and 10,000 WCO DM DEC
XML declarations, through the same code as ``avance convert``, ``avance import`` and ``avance watch``.

    .venv/bin/python bench/formats.py [--declarations 10000] [--bills 10000] [--bills-per-report 1000]

The Avance documents are generated first (not timed): demo declarations (seed 7) and cargo reports
of ``--bills-per-report`` bills each. Each step then runs in its own child process, so that its
peak memory (RSS) is its own:

- convert CUSCAR: the cargo reports written as one UN/EDIFACT interchange, then read back;
- convert DEC: each declaration written as its own DEC message (one declaration per message, as
  the profile has it), then each read back (XSD-validated);
- import CUSCAR: the interchange through ``run_import`` into a fresh node;
- import DEC: the 10,000 DEC files dropped in a folder and taken by one ``avance watch --once``
  pass (claim by rename, ledger row, import, move to done/ or rejected/); the DEC profile has no
  estimated arrival, so the carriers' cargo reports of the declarations' bills are lodged first
  (not timed) and each declaration takes its arrival from its bill's report;
- import CUSDEC: the same 10,000 declarations as one CUSDEC interchange through ``run_import``
  (read whole, then checked, assessed and stored in batches by the worker processes).
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

CHILD = r"""
import json, resource, sys, time
from pathlib import Path

step, workdir = sys.argv[1], Path(sys.argv[2])
figures = {}
if step in ("convert-cuscar", "convert-dec"):
    from avance.formats import registry
    from avance.formats.documents import Document
    if step == "convert-cuscar":
        docs = [Document("cargo_report", json.loads(line)) for line in (workdir / "reports.jsonl").read_text(encoding="utf-8").splitlines()]
        started = time.perf_counter()
        data = registry.write(docs, "edifact")
        written = time.perf_counter() - started
        (workdir / "cuscar.edi").write_bytes(data)
        started = time.perf_counter()
        back = registry.read(data)
        read = time.perf_counter() - started
        figures = {"units": sum(len(d.body["bills_of_lading"]) for d in back), "write_s": written, "read_s": read, "bytes": len(data)}
    else:
        docs = [Document("declaration", json.loads(line)) for line in (workdir / "declarations.jsonl").read_text(encoding="utf-8").splitlines()]
        drop = workdir / "drop"
        drop.mkdir(exist_ok=True)
        started = time.perf_counter()
        messages = [registry.write([d], "wco-xml") for d in docs]
        written = time.perf_counter() - started
        for number, message in enumerate(messages):
            (drop / f"dec-{number:05d}.xml").write_bytes(message)
        started = time.perf_counter()
        back = [registry.read(m) for m in messages]
        read = time.perf_counter() - started
        figures = {"units": len(back), "write_s": written, "read_s": read, "bytes": sum(len(m) for m in messages)}
else:
    from avance.bootstrap import Node, init_node, store_rates
    from avance.demo.generator import demo_rates
    from avance.kit.settings import Settings
    from avance.store.engine import make_engine, write
    url = f"sqlite:///{(workdir / (step + '.db')).as_posix()}"
    engine = make_engine(url)
    init_node(engine, "SN")
    with write(engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    node = Node(Settings(database_url=url, country="SN", data_dir=workdir), engine)
    import collections, csv
    reasons = collections.Counter()
    if step in ("import-cuscar", "import-cusdec"):
        from avance.imports.runner import run_import
        source = workdir / "cuscar.edi"
        if step == "import-cusdec":  # the same declarations as one CUSDEC interchange (not timed)
            from avance.formats import registry
            from avance.formats.documents import Document
            source = workdir / "cusdec.edi"
            lines = (workdir / "declarations.jsonl").read_text(encoding="utf-8").splitlines()
            source.write_bytes(registry.write([Document("declaration", json.loads(line)) for line in lines], "edifact"))
        started = time.perf_counter()
        report = run_import(node, source, rejects_path=workdir / (step + ".rejects.csv"), lang="en")
        seconds = time.perf_counter() - started
        if report.rejects_path:
            with open(report.rejects_path) as handle:
                reasons.update(row["code"] + " " + row["pointer"] for row in csv.DictReader(handle))
        figures = {"accepted": report.accepted, "rejected": report.rejected, "seconds": seconds}
    else:
        from avance.auth.model import SYSTEM
        from avance.imports.watch import Watcher
        from avance.manifests import service as manifests
        from avance.manifests.model import CargoReport
        for line in (workdir / "dec-reports.jsonl").read_text(encoding="utf-8").splitlines():  # the carriers' reports first (not timed)
            with write(engine) as conn:
                manifests.lodge(conn, node.context, CargoReport.model_validate(json.loads(line)), SYSTEM)
        started = time.perf_counter()
        outcomes = Watcher(node, workdir / "drop", interval=0.01, lang="en").run(once=True)
        seconds = time.perf_counter() - started
        for errors in (workdir / "drop" / "rejected").glob("*.errors.txt"):
            for line in errors.read_text(encoding="utf-8").splitlines()[1:]:
                reasons[line.split(") ", 1)[-1].split(":")[0]] += 1
        figures = {"accepted": sum(o.accepted for o in outcomes), "rejected": sum(o.rejected for o in outcomes), "files": len(outcomes), "seconds": seconds}
    figures["reasons"] = reasons.most_common(3)
figures["main_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
figures["children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(figures))
"""


def generate(workdir: Path, declarations: int, bills: int, per_report: int) -> None:
    from datetime import date, datetime, timedelta, timezone
    from decimal import Decimal

    from avance.demo.generator import DemoConfig, DemoGenerator

    generator = DemoGenerator(DemoConfig(country="SN", seed=7, start=date(2025, 1, 1), days=365))
    eta = (datetime.now(timezone.utc) + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    carried: list[dict] = []  # each declaration's bill, for the cargo reports a DEC declaration takes its arrival from
    with (workdir / "declarations.jsonl").open("w", encoding="utf-8") as handle:
        for g in generator.generate(declarations):
            # a message carries no registration date: the declarations are lodged today, arriving next week
            handle.write(json.dumps({**g.payload, "estimated_arrival": eta}, ensure_ascii=False) + "\n")
            items = g.payload["goods_items"]
            carried.append(
                {
                    "transport_document_reference": g.payload["transport_document_reference"],
                    "consignee": {k: g.payload["importer"][k] for k in ("id", "name")},
                    "description": items[0]["description"],
                    "package_quantity": sum(p["quantity"] for i in items for p in i.get("packages", [])) or 1,
                    "package_type": items[0].get("packages", [{}])[0].get("type_code", "CT"),
                    "gross_mass": str(sum(Decimal(i["gross_mass"]) for i in items)),
                }
            )
    with (workdir / "dec-reports.jsonl").open("w", encoding="utf-8") as handle:  # the carriers' reports, lodged before the DEC files (not timed)
        for first in range(0, len(carried), per_report):
            listed = list({b["transport_document_reference"]: b for b in carried[first : first + per_report]}.values())
            handle.write(json.dumps(_report(f"MAN-DEC-{first // per_report:04d}", eta, listed), ensure_ascii=False) + "\n")
    with (workdir / "reports.jsonl").open("w", encoding="utf-8") as handle:
        for report in range(0, bills, per_report):
            count = min(per_report, bills - report)
            bills_of_lading = [
                {
                    "transport_document_reference": f"BENCH{report + n:09d}",
                    "consignee": {"id": "SN0098765B2", "name": "Société Générale d'Import Dakar"},
                    "description": "Pièces détachées automobiles",
                    "package_quantity": 1 + n % 40,
                    "package_type": "CT",
                    "gross_mass": f"{100 + n % 900}.5",
                    "containers": [{"id": "CSQU3054383", "seals": [f"SN{n:06d}"]}],
                }
                for n in range(count)
            ]
            handle.write(json.dumps(_report(f"MAN-BENCH-{report // per_report:04d}", eta, bills_of_lading), ensure_ascii=False) + "\n")


def _report(reference: str, eta: str, bills: list[dict]) -> dict:
    """A sea cargo report for Dakar of ``bills``, arriving at ``eta``."""
    return {
        "reference": reference,
        "carrier": {"id": "SN0055555C1", "name": "Grimaldi Sénégal", "country": "SN"},
        "office_code": "SN-DKR-PORT",
        "transport_mode_code": 1,
        "voyage_number": reference.rsplit("-", 1)[-1],
        "conveyance": {"identification": "9321483", "name": "GRANDE DAKAR", "nationality": "IT"},
        "port_of_loading": "BEANR",
        "port_of_discharge": "SNDKR",
        "estimated_arrival": eta,
        "bills_of_lading": bills,
    }


def run(step: str, workdir: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, step, str(workdir)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{step} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=10_000)
    parser.add_argument("--bills", type=int, default=10_000)
    parser.add_argument("--bills-per-report", type=int, default=1_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="avance-bench-formats-"))
    started = time.perf_counter()
    generate(workdir, args.declarations, args.bills, args.bills_per_report)
    print(f"machine        : {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, SQLite")
    print(f"generated      : {args.declarations} declarations, {args.bills} bills in {args.bills // args.bills_per_report} cargo reports ({time.perf_counter() - started:.1f} s, not timed below)")
    for step, unit in (("convert-cuscar", "bills"), ("convert-dec", "declarations")):
        f = run(step, workdir)
        print(
            f"{step:15}: write {f['units'] / f['write_s']:,.0f} {unit}/s ({f['write_s']:.1f} s), read {f['units'] / f['read_s']:,.0f} {unit}/s ({f['read_s']:.1f} s), "
            f"{f['bytes'] / 1e6:.1f} MB, peak RSS {f['main_mb']:.0f} MB"
        )
    for step, unit in (("import-cuscar", "bills"), ("import-dec", "declarations"), ("import-cusdec", "declarations")):
        f = run(step, workdir)
        units = args.bills if step == "import-cuscar" else args.declarations
        print(
            f"{step:15}: {units / f['seconds']:,.0f} {unit}/s ({f['seconds']:.1f} s; documents stored {f['accepted']}, rejected {f['rejected']}), "
            f"peak RSS {f['main_mb']:.0f} MB (largest worker {f['children_mb']:.0f} MB)"
        )
        if f["reasons"]:
            print(f"{'':15}  rejection reasons: {f['reasons']}")
    print(f"work folder    : {workdir}")


if __name__ == "__main__":
    main()
