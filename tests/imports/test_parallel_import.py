"""A large extract is checked by several processes at once, with the same outcome as one by one."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from sqlalchemy import func, select

from avance.bootstrap import store_rates
from avance.demo.generator import DemoConfig, DemoGenerator, demo_rates
from avance.imports.runner import run_import
from avance.store.engine import write
from avance.declarations.tables import declaration_events, declarations, goods_items


def _write(path, generated, extra_lines=()):
    with path.open("w") as handle:
        for g in generated:
            handle.write(json.dumps({"registration_date": g.registration_date.isoformat(), "declaration": g.payload}) + "\n")
        for line in extra_lines:
            handle.write(line + "\n")


def test_parallel_workers_store_everything_once_and_report_every_reject(node, tmp_path):
    generated = list(DemoGenerator(DemoConfig(country="SN", seed=3, start=date.today() - timedelta(days=60), days=60)).generate(120))
    repeated = generated[5]  # its LRN again with another document, far away in the file: a duplicate LRN
    altered = dict(repeated.payload, ucr="ANOTHER-DOCUMENT")
    broken = dict(generated[7].payload, goods_item_quantity=99)
    source = tmp_path / "extract.jsonl"
    _write(source, generated, [json.dumps({"registration_date": repeated.registration_date.isoformat(), "declaration": altered}), json.dumps(dict(broken, lrn="BROKEN-1")), "not json"])
    from avance.demo.generator import demo_rates
    from avance.bootstrap import store_rates
    from avance.store.engine import write

    with write(node.engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    node.reload()
    report = run_import(node, source, batch_size=10, workers=2, rejects_path=tmp_path / "rejects.csv", lang="en")
    assert (report.accepted, report.rejected) == (120, 3)
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(declarations)).scalar_one() == 120
        items = conn.execute(select(func.count()).select_from(goods_items)).scalar_one()
        events = conn.execute(select(func.count()).select_from(declaration_events)).scalar_one()
    assert items == sum(len(g.payload["goods_items"]) for g in generated)
    assert events == 3 * 120  # lodged, assessed, lane assigned: each exactly once
    with (tmp_path / "rejects.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    codes = {(row["line"], row["code"]) for row in rows}
    assert ("121", "lrn.duplicate") in codes
    assert ("122", "items.count_mismatch") in codes
    assert ("123", "import.bad_row") in codes
    assert next(r["lrn"] for r in rows if r["line"] == "121") == repeated.payload["lrn"]


def test_a_row_with_a_character_the_database_refuses_goes_to_the_rejects_and_the_rest_is_stored(node, tmp_path):
    """PostgreSQL cannot keep U+0000: that declaration is rejected with its line, its batch-mates are stored.
    SQLite keeps any character, so there every row is stored."""
    generated = list(DemoGenerator(DemoConfig(country="SN", seed=4, start=date.today() - timedelta(days=30), days=30)).generate(12))
    payload = json.loads(json.dumps(generated[3].payload))
    payload["goods_items"][0]["description"] = "Tissus\u0000imprimés"
    source = tmp_path / "extract.jsonl"
    _write(source, generated[:3] + generated[4:], [json.dumps({"registration_date": generated[3].registration_date.isoformat(), "declaration": payload})])
    from avance.demo.generator import demo_rates
    from avance.bootstrap import store_rates
    from avance.store.engine import write

    with write(node.engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    node.reload()
    report = run_import(node, source, batch_size=50, workers=1, rejects_path=tmp_path / "rejects.csv", lang="en")
    if node.engine.dialect.name == "postgresql":
        assert (report.accepted, report.rejected) == (11, 1)
        with (tmp_path / "rejects.csv").open() as handle:
            assert [(r["line"], r["code"]) for r in csv.DictReader(handle)] == [("12", "error.unstorable_text")]
    else:
        assert (report.accepted, report.rejected) == (12, 0)


def test_an_import_run_again_counts_what_is_already_stored_and_rejects_nothing(node, tmp_path):
    """An IT team reruns a nightly import after an outage: the declarations stored by the first
    run are counted as already stored (as the API does for a resent document), not reported as
    rejected duplicates; a changed document under a stored LRN is still a duplicate."""
    generated = list(DemoGenerator(DemoConfig(country="SN", seed=5, start=date.today() - timedelta(days=30), days=30)).generate(30))
    source = tmp_path / "extract.jsonl"
    _write(source, generated)
    with write(node.engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    node.reload()
    first = run_import(node, source, batch_size=10, workers=1, rejects_path=tmp_path / "first.csv", lang="en")
    assert (first.accepted, first.rejected, first.already_stored) == (30, 0, 0)
    changed = dict(generated[0].payload, ucr="ANOTHER-DOCUMENT")
    _write(source, generated, [json.dumps({"registration_date": generated[0].registration_date.isoformat(), "declaration": changed})])
    again = run_import(node, source, batch_size=10, workers=1, rejects_path=tmp_path / "again.csv", lang="en")
    assert (again.accepted, again.rejected, again.already_stored) == (0, 1, 30)
    with (tmp_path / "again.csv").open() as handle:
        assert [(r["line"], r["code"]) for r in csv.DictReader(handle)] == [("31", "lrn.duplicate")]
    with node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(declarations)).scalar_one() == 30


def _workers(pid: int) -> list[int]:
    """The worker processes ``pid`` started (Linux ``/proc``)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has stopped


def _stored(node) -> int:
    with node.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(declarations)).scalar_one()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux /proc")
def test_workers_store_nothing_more_once_the_import_they_work_for_is_killed(sqlite_node, tmp_path):
    """An operator kills a bulk import (or the machine's supervisor does): its worker processes
    must not go on storing batches nobody will report on, or the rerun would find them stored
    without a rejects file for the rest."""
    node = sqlite_node
    with write(node.engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    generated = list(DemoGenerator(DemoConfig(country="SN", seed=6, start=date.today() - timedelta(days=30), days=30)).generate(3000))
    source = tmp_path / "extract.jsonl"
    _write(source, generated)
    batch = 20
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    environment.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_DATABASE_URL=node.engine.url.render_as_string(hide_password=False), AVANCE_LANG="en")
    command = [sys.executable, "-m", "avance", "import", "declarations", str(source), "--workers", "2", "--batch-size", str(batch)]
    parent = subprocess.Popen(command, env=environment, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _stored(node) < 4 * batch:
            assert parent.poll() is None and time.monotonic() < deadline, "the import did not start storing"
            time.sleep(0.05)
        workers = _workers(parent.pid)
        stored_at_kill = _stored(node)
        parent.send_signal(signal.SIGKILL)
    finally:
        parent.wait(timeout=30)
    deadline = time.monotonic() + 60
    assert workers
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, "the workers did not stop"
        time.sleep(0.1)
    stored = _stored(node)
    assert stored < len(generated)
    # each worker may finish the batch it was committing when the import died, nothing after it
    assert stored - stored_at_kill <= 2 * batch, (stored_at_kill, stored)
