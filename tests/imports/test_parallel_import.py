"""A large extract is checked by several processes at once, with the same outcome as one by one."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

from sqlalchemy import func, select

from avance.demo.generator import DemoConfig, DemoGenerator
from avance.imports.runner import run_import
from avance.declarations.tables import declaration_events, declarations, goods_items


def _write(path, generated, extra_lines=()):
    with path.open("w") as handle:
        for g in generated:
            handle.write(json.dumps({"registration_date": g.registration_date.isoformat(), "declaration": g.payload}) + "\n")
        for line in extra_lines:
            handle.write(line + "\n")


def test_parallel_workers_store_everything_once_and_report_every_reject(node, tmp_path):
    generated = list(DemoGenerator(DemoConfig(country="SN", seed=3, start=date.today() - timedelta(days=60), days=60)).generate(120))
    repeated = generated[5]  # the same declaration again, far away in the file: a duplicate LRN
    broken = dict(generated[7].payload, goods_item_quantity=99)
    source = tmp_path / "extract.jsonl"
    _write(source, generated, [json.dumps({"registration_date": repeated.registration_date.isoformat(), "declaration": repeated.payload}), json.dumps(dict(broken, lrn="BROKEN-1")), "not json"])
    from avance.demo.generator import demo_rates
    from avance.bootstrap import store_rates
    from avance.store.engine import write

    with write(node.engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    node.reload()
    report = run_import(node, source, batch_size=10, workers=2, rejects_path=tmp_path / "rejects.csv")
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
    report = run_import(node, source, batch_size=50, workers=1, rejects_path=tmp_path / "rejects.csv")
    if node.engine.dialect.name == "postgresql":
        assert (report.accepted, report.rejected) == (11, 1)
        with (tmp_path / "rejects.csv").open() as handle:
            assert [(r["line"], r["code"]) for r in csv.DictReader(handle)] == [("12", "error.unstorable_text")]
    else:
        assert (report.accepted, report.rejected) == (12, 0)
