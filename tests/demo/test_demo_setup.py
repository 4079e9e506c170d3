"""`avance demo` gives a newcomer a node with a year of history to explore."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select

from avance.auth.model import SYSTEM
from avance.declarations import service
from avance.demo.setup import build_demo
from avance.declarations.tables import declaration_events, declarations


def test_the_demo_node_has_users_lanes_reasons_and_history(tmp_path):
    """The demo runs the learned engine: trained on a labelled history, it explains every lane."""
    result = build_demo(data_dir=tmp_path, country="SN", count=400, seed=5, history=4000)
    assert result.lodged == 400
    credentials = json.loads(result.credentials_path.read_text())
    assert {u["role"] for u in credentials["users"]} == {"admin", "officer", "analyst", "declarant"}
    assert all(u["token"].startswith("avk_") for u in credentials["users"])
    with result.node.engine.connect() as conn:
        rows = conn.execute(select(declarations.c.lane, declarations.c.status, declarations.c.reasons)).all()
        assessors = {r[0] for r in conn.execute(select(declarations.c.assessor))}
        lane_of = dict(conn.execute(select(declarations.c.id, declarations.c.lane)).all())
        kinds = Counter(r[0] for r in conn.execute(select(declaration_events.c.kind)))
        found = [r[0] for r in conn.execute(select(declaration_events.c.data).where(declaration_events.c.kind == "inspected"))]
        _, total = service.search(conn, SYSTEM, service.Filters(status="released"), page=1, page_size=1)
    assert all(reasons for _, _, reasons in rows), "every declaration says why it got its lane"
    assert len(assessors) == 1 and assessors.pop().startswith("learned:"), "the installed model decided"
    codes = Counter(reason["code"].split(".")[0] for _, _, reasons in rows for reason in reasons)
    assert codes["policy"] == len(rows), "each decision states the policy's reason"
    assert codes["model"] > len(rows), "the model's top contributions are given"
    assert all(reason["text"]["fr"] and reason["text"]["en"] for _, _, reasons in rows for reason in reasons)
    lanes = Counter(lane for lane, _, _ in rows)
    assert lanes["green"] > lanes["yellow"] > 0 and lanes["red"] > 0
    assert total > 300  # most goods of the past year have been released
    assert kinds["arrived"] > 300 and kinds["paid"] > 300
    assert any(d["fraud_found"] for d in found), "controls find some of the injected fraud"
    truth = [json.loads(line) for line in (tmp_path / "demo-ground-truth.jsonl").read_text().splitlines()]
    assert len(truth) == 400 and any(t["fraud"] for t in truth)
    base = sum(t["fraud"] for t in truth) / len(truth)
    red = [t["fraud"] for t in truth if lane_of[t["id"]] == "red"]
    assert sum(red) / len(red) > 2 * base, "the red lane holds far more fraud than the average declaration"
    result.node.engine.dispose()


def test_the_demo_is_rebuilt_afresh_each_time(tmp_path):
    first = build_demo(data_dir=tmp_path, count=30, seed=1, history=0)
    first.node.engine.dispose()
    second = build_demo(data_dir=tmp_path, count=20, seed=2, history=0)
    with second.node.engine.connect() as conn:
        assert len(conn.execute(select(declarations.c.id)).all()) == 20
    second.node.engine.dispose()
