"""However broken an extract is, the importer stores what is valid, lists the rest, and never dies."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.imports.runner import run_import
from avance.declarations.tables import declarations
from tests.support import JSON_VALUES as json_values
from tests.support import declaration, make_node
from tests.support import mutated_document as mutated

line = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=60).filter(lambda text: "\n" not in text and "\r" not in text),
    st.builds(lambda n: json.dumps(declaration(lrn=f"OK-{n}")), st.integers(0, 5)),
    mutated(declaration(lrn="MUT-1")).map(json.dumps),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line, min_size=1, max_size=12))
def test_every_record_is_either_stored_or_listed_with_a_reason(lines):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        node = make_node(f"sqlite:///{(folder / 'avance.db').as_posix()}", folder)
        source = folder / "extract.jsonl"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = run_import(node, source, workers=1, rejects_path=folder / "rejects.csv", lang="en")
        records = sum(1 for text in lines if text.strip())
        assert report.accepted + report.rejected == records
        with node.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(declarations)).scalar_one() == report.accepted
        if report.rejected:
            with (folder / "rejects.csv").open(encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            assert len({row["line"] for row in rows}) == report.rejected
            assert all(row["reason"] and row["code"] for row in rows)
        node.engine.dispose()
