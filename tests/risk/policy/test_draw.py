"""The random selection draw as customs meets it: keyed with a secret only the node holds, so a
declarant who knows the algorithm and picks the LRN cannot tell in advance whether the random floor
will send the goods to control; recorded with each lane, checkable by an auditor afterwards;
rotated by the administration without losing the means to check the past."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from avance import migrations
from avance.auth.model import SYSTEM
from avance.bootstrap import Node
from avance.declarations import service
from avance.declarations.assessment import Lane
from avance.declarations.model import GoodsDeclaration
from avance.declarations.tables import declaration_events
from avance.kit.settings import Settings
from avance.risk.policy import service as draws
from avance.risk.policy.draw import Draw
from avance.risk.profiles.rules import RandomSelection, RuleAssessor, RuleSet
from avance.store import node_settings
from avance.store.engine import make_engine, write
from tests.support import declaration, lodge_document, make_node, run_avance, serve

# A policy whose random floor sends half of all lodgings to red: enough random lanes to tamper with.
HALF_AT_RANDOM = """
version: 1
default:
  red: 0.6
  yellow: 0.1
  min_random: {red: 0.5, yellow: 0.05}
  exploration: 0
"""


def doc(lrn: str) -> dict[str, Any]:
    """A declaration of its own bill of lading (a bill is cleared once)."""
    return declaration(lrn=lrn, transport_document_reference=f"BL-{lrn}")


def lane_event(node: Node, declaration_id: int) -> tuple[int, dict[str, Any]]:
    """The id and data of the lane event written when the declaration was lodged."""
    with node.engine.connect() as conn:
        row = conn.execute(
            select(declaration_events.c.id, declaration_events.c.data)
            .where(declaration_events.c.declaration_id == declaration_id, declaration_events.c.kind == "lane_assigned")
            .order_by(declaration_events.c.id)
        ).first()
    assert row is not None
    return row.id, dict(row.data)


def unkeyed(declarant: str, lrn: str) -> set[str]:
    """The draws anyone could compute before: SHA-256 of the declarant and the LRN, no secret."""
    def u(*parts: str) -> str:
        return repr(int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big") / 2**64)

    return {u("avance-policy", declarant, lrn), u(declarant, lrn)}


def stored_secrets(node: Node) -> dict[str, Any]:
    with node.engine.connect() as conn:
        value = node_settings.get(conn, draws.SECRETS_KEY)
    assert value is not None, "the node holds no selection secret"
    return json.loads(value)


def secret_texts(node: Node) -> list[str]:
    """Every stored secret, as stored and in hexadecimal: what must never leave the node."""
    texts = []
    for entry in stored_secrets(node)["secrets"]:
        texts += [entry["key"], base64.b64decode(entry["key"]).hex()]
    return texts


def with_policy(node: Node, tmp_path: Path, text: str) -> Node:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return Node(node.settings.model_copy(update={"policy_file": path}), node.engine)


def cli_env(node: Node) -> dict[str, str]:
    return {"AVANCE_DATABASE_URL": node.settings.resolved_database_url()}


# ----------------------------------------------------------------------------- the draw itself


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), declarant=st.text(min_size=1, max_size=35), lrn=st.text(min_size=1, max_size=35))
def test_a_draw_is_a_number_in_0_1_that_only_the_secret_and_the_declaration_decide(key: bytes, declarant: str, lrn: str):
    draw = Draw("1", key)
    u = draw.uniform(declarant, lrn)
    assert 0.0 <= u < 1.0
    assert Draw("1", key).uniform(declarant, lrn) == u  # a retry draws alike
    assert repr(u) not in unkeyed(declarant, lrn)
    assert Draw("2", bytes(b ^ 0xFF for b in key)).uniform(declarant, lrn) != u
    assert key.hex() not in repr(draw) and str(key) not in repr(draw)


# ----------------------------------------------------------------------------- lodging


def test_a_declarant_who_knows_the_algorithm_and_the_lrn_cannot_compute_the_draw(node: Node, tmp_path: Path):
    other = make_node(f"sqlite:///{(tmp_path / 'other.db').as_posix()}", tmp_path / "other")
    with write(other.engine) as conn:
        draws.rotate_secret(conn)  # test nodes start from one fixed secret; another node holds its own
    other.reload()
    try:
        here, there = [], []
        for n in range(20):
            document = doc(lrn=f"2026-DKR-D{n:05d}")
            _, data = lane_event(node, lodge_document(node, document))
            _, elsewhere = lane_event(other, lodge_document(other, document))
            draw = data["draw"]
            assert 0.0 <= float(draw["value"]) < 1.0 and draw["secret"] == "1"
            assert draw["value"] not in unkeyed(document["declarant"]["id"], document["lrn"])
            here.append(draw["value"])
            there.append(elsewhere["draw"]["value"])
        assert len(set(here)) == 20
        assert sum(a != b for a, b in zip(here, there)) == 20  # another node's secret draws otherwise
    finally:
        other.engine.dispose()


def test_every_process_of_one_node_draws_alike(node: Node):
    twin = Node(node.settings, make_engine(node.settings.resolved_database_url()))  # another process's view of the same store
    try:
        key = "SN0012345A7\x1f2026-DKR-T00001"
        ours, theirs = node.context.assessor.selector.draw, twin.context.assessor.selector.draw
        assert (ours.secret_id, ours.uniform(key)) == (theirs.secret_id, theirs.uniform(key))
        first = lane_event(node, lodge_document(node, doc(lrn="2026-DKR-T00001")))[1]
        second = lane_event(twin, lodge_document(twin, doc(lrn="2026-DKR-T00002")))[1]
        assert first["draw"]["value"] == repr(ours.uniform(key))
        assert second["draw"]["value"] == repr(ours.uniform("SN0012345A7\x1f2026-DKR-T00002"))
    finally:
        twin.engine.dispose()


def test_declarations_imported_together_record_the_draw_the_batch_used(node: Node):
    docs = [GoodsDeclaration.model_validate(doc(lrn=f"2026-DKR-B{n:05d}")) for n in range(12)]
    prepared = service.prepare_batch(node.context, [(d, d.estimated_arrival.date()) for d in docs], SYSTEM, {}, selection="batch")
    with write(node.engine) as conn:
        outcome = service.store_batch(conn, node.context, prepared, SYSTEM, [service.utcnow()] * len(prepared))
    draw = node.context.assessor.selector.draw
    for d, declaration_id in zip(docs, outcome.ids):
        recorded = lane_event(node, declaration_id)[1]["draw"]
        assert recorded["value"] == repr(draw.uniform(f"{d.declarant.id}\x1f{d.lrn}"))
        assert "red_below" not in recorded  # a batch's random picks depend on the whole batch
    with node.engine.connect() as conn:
        audit = draws.check_draws(conn)
    assert (audit.checked, audit.problems) == (12, [])


def test_the_rule_assessor_draws_with_the_node_secret_and_needs_it_for_random_selection(node: Node):
    random_half = RuleSet(random_selection=RandomSelection(red="0.3", yellow="0.3"))
    with pytest.raises(ValueError):
        RuleAssessor(random_half)  # no unkeyed draw to fall back on
    with node.engine.connect() as conn:
        draw = draws.current_draw(conn)
    ctx = dataclasses.replace(node.context, assessor=RuleAssessor(random_half, draw=draw))
    lanes = []
    with write(node.engine) as conn:
        for n in range(40):
            d = GoodsDeclaration.model_validate(doc(lrn=f"2026-DKR-R{n:05d}"))
            lodged = service.lodge(conn, ctx, d, SYSTEM)
            recorded = lane_event_in(conn, lodged.id)["draw"]
            u = draw.uniform(f"{d.declarant.id}\x1f{d.lrn}")
            assert recorded == {"value": repr(u), "secret": draw.secret_id, "red_below": "0.3", "yellow_below": "0.6"}
            lane = Lane(lane_event_in(conn, lodged.id)["lane"])
            assert lane is (Lane.RED if u < 0.3 else Lane.YELLOW if u < 0.6 else Lane.GREEN)
            lanes.append(lane)
        audit = draws.check_draws(conn)
    assert audit.problems == [] and audit.checked == 40
    assert {Lane.RED, Lane.YELLOW, Lane.GREEN} <= set(lanes)


def lane_event_in(conn: Any, declaration_id: int) -> dict[str, Any]:
    return dict(
        conn.execute(
            select(declaration_events.c.data)
            .where(declaration_events.c.declaration_id == declaration_id, declaration_events.c.kind == "lane_assigned")
            .order_by(declaration_events.c.id)
        ).scalar_one()
    )


# ----------------------------------------------------------------------------- the secret's life


def test_avance_init_creates_the_secret_and_never_prints_it(tmp_path: Path):
    result = run_avance(["init", "--country", "SN"], tmp_path)
    assert result.returncode == 0, result.stderr
    engine = make_engine(Settings(data_dir=tmp_path).resolved_database_url())
    try:
        with engine.connect() as conn:
            keyring = json.loads(node_settings.get(conn, draws.SECRETS_KEY))
        assert keyring["current"] == "1" and [s["id"] for s in keyring["secrets"]] == ["1"]
        key = keyring["secrets"][0]["key"]
        assert len(base64.b64decode(key)) == 32
        assert key not in result.stdout + result.stderr
        again = run_avance(["init", "--country", "SN"], tmp_path)  # initialising again keeps it
        assert again.returncode == 0, again.stderr
        with engine.connect() as conn:
            assert json.loads(node_settings.get(conn, draws.SECRETS_KEY)) == keyring
    finally:
        engine.dispose()


def test_a_node_initialised_before_the_upgrade_gets_a_secret_when_upgraded(store_url: str):
    engine = make_engine(store_url)
    try:
        migrations.upgrade(engine, "0005")
        with engine.begin() as conn:  # as that release wrote it (it had no audit trail yet)
            conn.execute(node_settings.node_settings.insert().values(key=node_settings.COUNTRY, value="SN"))
        migrations.upgrade(engine)
        with engine.connect() as conn:
            keyring = json.loads(node_settings.get(conn, draws.SECRETS_KEY))
            draw = draws.current_draw(conn)
        assert keyring["current"] == "1" and len(base64.b64decode(keyring["secrets"][0]["key"])) == 32
        assert draw.secret_id == "1"
        migrations.upgrade(engine)  # nothing to do: the secret stays
        with engine.connect() as conn:
            assert json.loads(node_settings.get(conn, draws.SECRETS_KEY)) == keyring
    finally:
        engine.dispose()


def test_two_upgraded_nodes_hold_different_secrets(tmp_path: Path):
    keys = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{(tmp_path / f'{name}.db').as_posix()}")
        migrations.upgrade(engine)
        with engine.connect() as conn:
            keys.append(json.loads(node_settings.get(conn, draws.SECRETS_KEY))["secrets"][0]["key"])
        engine.dispose()
    assert keys[0] != keys[1]


def test_rotating_the_secret_changes_future_draws_and_keeps_the_old_one_for_checking(node: Node, tmp_path: Path):
    first = lodge_document(node, doc(lrn="2026-DKR-K00001"))
    before = lane_event(node, first)[1]["draw"]
    old_texts = secret_texts(node)

    rotated = run_avance(["selection", "rotate-secret"], tmp_path, **cli_env(node))
    assert rotated.returncode == 0, rotated.stderr
    assert "2" in rotated.stdout and "within seconds" in rotated.stdout
    assert not any(text in rotated.stdout + rotated.stderr for text in secret_texts(node))
    keyring = stored_secrets(node)
    assert keyring["current"] == "2" and [s["id"] for s in keyring["secrets"]] == ["1", "2"]
    assert keyring["secrets"][0]["key"] == old_texts[0]  # the old secret is kept, with its id

    node.refresh(force=True)  # what every process does within a second (the change counters)
    key = "SN0012345A7\x1f2026-DKR-K00001"
    assert node.context.assessor.selector.draw.secret_id == "2"
    assert repr(node.context.assessor.selector.draw.uniform(key)) != before["value"]
    second = lane_event(node, lodge_document(node, doc(lrn="2026-DKR-K00002")))[1]["draw"]
    assert second["secret"] == "2"

    checked = run_avance(["selection", "check-draws"], tmp_path, **cli_env(node))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2" in checked.stdout  # both lodgings checked, each with its own secret
    with node.engine.connect() as conn:
        audit = draws.check_draws(conn)
    assert (audit.checked, audit.problems) == (2, [])


# ----------------------------------------------------------------------------- the auditor's check


def test_the_check_finds_a_tampered_draw_and_a_lane_the_draw_contradicts(node: Node, tmp_path: Path):
    halves = with_policy(node, tmp_path, HALF_AT_RANDOM)
    lodged = [lodge_document(halves, doc(lrn=f"2026-DKR-A{n:05d}")) for n in range(16)]
    events = {i: lane_event(halves, i) for i in lodged}
    random_red = [i for i in lodged if float(events[i][1]["draw"]["value"]) < float(events[i][1]["draw"]["red_below"])]
    assert random_red and all(events[i][1]["lane"] == "red" for i in random_red)
    clean = run_avance(["selection", "check-draws"], tmp_path, **cli_env(node))
    assert clean.returncode == 0, clean.stdout + clean.stderr

    lane_forged, draw_forged = random_red[0], next(i for i in lodged if i != random_red[0])
    with write(node.engine) as conn:
        event_id, data = events[lane_forged]
        conn.execute(update(declaration_events).where(declaration_events.c.id == event_id).values(data={**data, "lane": "green"}))
        event_id, data = events[draw_forged]
        conn.execute(
            update(declaration_events).where(declaration_events.c.id == event_id).values(data={**data, "draw": {**data["draw"], "value": "0.99"}})
        )
    with node.engine.connect() as conn:
        audit = draws.check_draws(conn)
    assert sorted((p.declaration_id, p.code) for p in audit.problems) == sorted(
        [(lane_forged, "selection.check.lane"), (draw_forged, "selection.check.mismatch")]
    )

    found = run_avance(["selection", "check-draws"], tmp_path, **cli_env(node))
    assert found.returncode == 1, found.stdout + found.stderr
    assert str(lane_forged) in found.stdout and str(draw_forged) in found.stdout
    assert not any(text in found.stdout + found.stderr for text in secret_texts(node))
    french = run_avance(["selection", "check-draws"], tmp_path, lang="fr", **cli_env(node))
    assert french.returncode == 1 and "tirage" in french.stdout
    day = service.utcnow().date()
    elsewhere = run_avance(
        ["selection", "check-draws", "--from", (day.replace(year=day.year - 1)).isoformat(), "--to", (day.replace(year=day.year - 1)).isoformat()],
        tmp_path,
        **cli_env(node),
    )
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr  # nothing lodged that day


def test_a_draw_made_with_a_secret_the_node_does_not_hold_is_reported(node: Node):
    declaration_id = lodge_document(node, doc(lrn="2026-DKR-U00001"))
    event_id, data = lane_event(node, declaration_id)
    with write(node.engine) as conn:
        conn.execute(update(declaration_events).where(declaration_events.c.id == event_id).values(data={**data, "draw": {**data["draw"], "secret": "9"}}))
        audit = draws.check_draws(conn)
    assert [(p.declaration_id, p.code) for p in audit.problems] == [(declaration_id, "selection.check.unknown_secret")]


# ----------------------------------------------------------------------------- never shown


def test_the_secret_is_in_no_answer_of_the_api(node: Node):
    for live in serve(node):
        with live.client("analyst") as analyst:
            engine = analyst.get("/risk/engine")
            reloaded = analyst.post("/risk/engine/reload")
        spec = httpx.get(f"{live.url}/openapi.json")
        assert engine.status_code == 200 and reloaded.status_code == 200 and spec.status_code == 200
        assert engine.json()["selection_secret"] == "1"  # which secret draws, never the secret
        for answer in (engine, reloaded, spec):
            assert not any(text in answer.text for text in secret_texts(node))


def test_a_lodged_declaration_shows_its_lane_but_never_the_secret(node: Node):
    for live in serve(node):
        with live.client("broker") as broker:
            lodged = broker.post("/declarations", json=doc(lrn="2026-DKR-S00001"))
            assert lodged.status_code == 201, lodged.text
            mine = broker.get(lodged.json()["location"])
        with live.client("officer") as officer:
            detail = officer.get(lodged.json()["location"])
        assert mine.status_code == 200 and detail.status_code == 200

        def lane_data(answer: httpx.Response) -> dict[str, Any]:
            return next(e["data"] for e in answer.json()["events"] if e["kind"] == "lane_assigned")

        assert lane_data(mine) == {"lane": lodged.json()["lane"]}  # the declarant sees the lane, not the draw
        assert set(lane_data(detail)["draw"]) >= {"value", "secret"}  # officers see the draw and its secret's id
        for answer in (lodged, mine, detail):
            assert not any(text in answer.text for text in secret_texts(node))
