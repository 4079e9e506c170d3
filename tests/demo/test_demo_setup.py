"""`avance demo` gives a newcomer a node with a year of history to explore."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.demo.setup import build_demo
from avance.store.tables import declaration_events, declarations


def test_the_demo_node_has_users_lanes_reasons_and_history(tmp_path):
    result = build_demo(data_dir=tmp_path, country="SN", count=400, seed=5)
    assert result.lodged == 400
    credentials = json.loads(result.credentials_path.read_text())
    assert {u["role"] for u in credentials["users"]} == {"admin", "officer", "analyst", "declarant"}
    assert all(u["token"].startswith("avk_") for u in credentials["users"])
    with result.node.engine.connect() as conn:
        rows = conn.execute(select(declarations.c.lane, declarations.c.status, declarations.c.reasons)).all()
        kinds = Counter(r[0] for r in conn.execute(select(declaration_events.c.kind)))
        found = [r[0] for r in conn.execute(select(declaration_events.c.data).where(declaration_events.c.kind == "inspected"))]
        _, total = service.search(conn, SYSTEM, service.Filters(status="released"), page=1, page_size=1)
    assert all(reasons for _, _, reasons in rows), "every declaration says why it got its lane"
    lanes = Counter(lane for lane, _, _ in rows)
    assert lanes["green"] > lanes["yellow"] > 0 and lanes["red"] > 0
    assert total > 300  # most goods of the past year have been released
    assert kinds["arrived"] > 300 and kinds["paid"] > 300
    assert any(d["fraud_found"] for d in found), "controls find some of the injected fraud"
    truth = [json.loads(line) for line in (tmp_path / "demo-ground-truth.jsonl").read_text().splitlines()]
    assert len(truth) == 400 and any(t["fraud"] for t in truth)
    result.node.engine.dispose()


def test_the_demo_is_rebuilt_afresh_each_time(tmp_path):
    first = build_demo(data_dir=tmp_path, count=30, seed=1)
    first.node.engine.dispose()
    second = build_demo(data_dir=tmp_path, count=20, seed=2)
    with second.node.engine.connect() as conn:
        assert len(conn.execute(select(declarations.c.id)).all()) == 20
    second.node.engine.dispose()
