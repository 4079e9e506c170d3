"""Backup and restore times: what the disaster-recovery runbook (docs/operations.md) quotes.

    .venv/bin/python bench/backup.py [--declarations 20000] [--database-url URL --restore-url URL]

Builds a Senegal node (SQLite by default, or the empty PostgreSQL database ``--database-url``)
with exchange keys and ``--declarations`` demo declarations lodged through the service, then times
``create_backup`` (encrypted, scrypt at the shipped cost), ``verify_backup`` and
``restore_backup`` into a new database (a new SQLite file, or the empty ``--restore-url``), and
prints the database and backup sizes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: a fresh SQLite file)")
    parser.add_argument("--restore-url", default=None, help="an empty PostgreSQL database to restore into (with --database-url)")
    args = parser.parse_args()
    if bool(args.database_url) != bool(args.restore_url):
        sys.exit("give both --database-url and --restore-url, or neither")

    from avance.auth.model import SYSTEM
    from avance.bootstrap import Node, init_node
    from avance.declarations import service
    from avance.declarations.model import GoodsDeclaration
    from avance.demo.generator import DemoConfig, DemoGenerator
    from avance.exchange import keys
    from avance.kit.settings import Settings
    from avance.operations.backup import create_backup, restore_backup, verify_backup
    from avance.reference.rates import parse_rate_file
    from avance.reference.service import store_rates
    from avance.store.engine import make_engine, write

    workdir = Path(tempfile.mkdtemp(prefix="avance-backup-bench-"))
    url = args.database_url or f"sqlite:///{(workdir / 'avance.db').as_posix()}"
    engine = make_engine(url)
    init_node(engine, "SN")
    rates = Path(__file__).resolve().parents[1] / "src" / "avance" / "demo" / "rates.csv"
    with write(engine) as conn:
        store_rates(conn, parse_rate_file(rates, "XOF"))
        keys.init(conn, workdir, "SN-AVANCE")
    node = Node(Settings(data_dir=workdir, database_url=url, country="SN"), engine)
    generator = DemoGenerator(DemoConfig(country="SN", seed=11, start=date.today() - timedelta(days=3), days=3))
    started = time.monotonic()
    batch: list[tuple[GoodsDeclaration, date]] = []
    for generated in generator.generate(args.declarations):
        batch.append((GoodsDeclaration.model_validate(generated.payload), date.today()))
        if len(batch) == 1000:
            with write(engine) as conn:
                service.lodge_batch(conn, node.context, batch, SYSTEM)
            batch = []
    if batch:
        with write(engine) as conn:
            service.lodge_batch(conn, node.context, batch, SYSTEM)
    print(f"built the node: {args.declarations} declarations lodged in {time.monotonic() - started:.0f} s")
    engine.dispose()

    passphrase = "bench passphrase, long enough"
    file = workdir / "node.avb"
    made = create_backup(node.settings, file, passphrase)
    checked = verify_backup(file, passphrase)
    target_dir = workdir / "restored"
    target_url = args.restore_url or f"sqlite:///{(target_dir / 'avance.db').as_posix()}"
    restored = restore_backup(file, passphrase, database_url=target_url, data_dir=target_dir, models_dir=target_dir / "models")

    database_size = (workdir / "avance.db").stat().st_size if not args.database_url else None
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    print(f"database: {made.kind}, {made.tables} tables, {made.rows:,} rows" + (f", {database_size / 2**20:.1f} MiB file" if database_size else ""))
    print(f"backup file: {made.size / 2**20:.1f} MiB, {made.members} members")
    print(f"backup (dump + files + encryption): {made.seconds:.1f} s")
    print(f"verify (decryption, digests, database check): {checked.seconds:.1f} s")
    print(f"restore (decryption, digests, checks, database, files, row counts): {restored.seconds:.1f} s")


if __name__ == "__main__":
    main()
