"""`avance demo` gives a newcomer a node with a year of history to explore, where the other
commands find it, with a declarant who can lodge the examples of `examples/`."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from avance.auth.model import SYSTEM
from avance.bootstrap import init_node
from avance.declarations import service
from avance.declarations.tables import declaration_events, declarations
from avance.demo.setup import build_demo
from avance.kit.errors import ConfigurationError
from avance.store.engine import make_engine
from avance.store.node_settings import read_country
from tests.support import ROOT, serve

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


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


def test_the_demo_node_is_the_data_directorys_node(tmp_path):
    """``avance`` commands look for ``DATA_DIR/avance.db``: the demo builds its node there."""
    result = build_demo(data_dir=tmp_path, count=10, seed=1, history=0)
    result.node.engine.dispose()
    assert result.node.settings.resolved_database_url() == f"sqlite:///{(tmp_path / 'avance.db').as_posix()}"
    assert (tmp_path / "avance.db").is_file() and not (tmp_path / "demo.db").exists()


def test_the_demo_never_replaces_a_node_that_is_not_a_demo(tmp_path):
    engine = make_engine(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}")
    init_node(engine, "SN")
    engine.dispose()
    with pytest.raises(ConfigurationError) as refused:
        build_demo(data_dir=tmp_path, count=10, seed=1, history=0)
    assert refused.value.code == "demo.not_a_demo"
    assert "--data-dir" in refused.value.message("en")
    engine = make_engine(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}")
    with engine.connect() as conn:
        assert read_country(conn) == "SN"
        assert conn.execute(select(declarations.c.id)).first() is None, "the node was left as it was"
    engine.dispose()


def test_an_empty_database_left_by_an_earlier_command_is_replaced(tmp_path):
    (tmp_path / "avance.db").touch()
    result = build_demo(data_dir=tmp_path, count=10, seed=1, history=0)
    with result.node.engine.connect() as conn:
        assert read_country(conn) == "SN"
    result.node.engine.dispose()


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_demo_declarant_lodges_the_examples_and_sees_its_year_of_declarations(tmp_path, example):
    """The demo declarant acts for Transit Diallo SARL, the broker of the examples and of the
    README; in the demo it is the busiest broker, with its own history."""
    result = build_demo(data_dir=tmp_path, count=60, seed=3, history=0)
    users = {u["name"]: u for u in json.loads(result.credentials_path.read_text())["users"]}
    declarant = users["demo-declarant"]
    document = json.loads(example.read_text(encoding="utf-8"))
    assert document["declarant"]["id"] == declarant["party_id"] == "SN0012345A7"
    # A dated example: sent today, its vessel is due next week (arrivals far from the day of
    # lodging are refused as implausible).
    next_week = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=7), time(6), tzinfo=timezone.utc)
    document["estimated_arrival"] = next_week.isoformat()
    with contextmanager(serve)(result.node) as api:
        with api.client(lang="en") as client:
            client.headers["Authorization"] = f"Bearer {declarant['token']}"
            lodged = client.post("/declarations", json=document)
            assert lodged.status_code == 201, lodged.text
            own = client.get("/declarations", params={"page_size": 200}).json()
    assert lodged.json()["duty_total"]
    assert own["total"] > 1, "the demo's history includes the broker's own declarations"
    assert {item["declarant_id"] for item in own["items"]} == {"SN0012345A7"}
    assert document["lrn"] in {item["lrn"] for item in own["items"]}
    result.node.engine.dispose()
