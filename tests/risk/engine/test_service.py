"""The learned engine: each lodging gets its lane from the profiles, the valuation references, the
model and the office's budget, and the officer reads why in French or English."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from avance.auth.model import SYSTEM, Principal, Role
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.demo.generator import DemoConfig, DemoGenerator
from avance.demo.history import labelled_history
from avance.bootstrap import Node
from avance.risk.engine.service import LearnedAssessor
from avance.risk.learning.frame import frame_from_records
from avance.risk.learning.model import FitOptions, RiskModel, fit
from avance.risk.profiles.service import put_profile
from avance.risk.learning.registry import install
from avance.risk.valuation.model import ValueRow, build_from_rows
from avance.risk.valuation.service import save_snapshot
from avance.store.engine import write
from avance.declarations.tables import declarations
from tests.support import make_node
from tests.support import TODAY, declaration

ANALYST = Principal(user_id=None, name="analyst", role=Role.ANALYST)


def car_from_japan(lrn: str, amount: str = "12000.00") -> GoodsDeclaration:
    """A used car from Japan: no shipped profile targets it, so the model and the budget decide."""
    doc = declaration(lrn=lrn, invoice_amount=amount)
    doc["goods_items"][0]["origin_country"] = "JP"
    doc["goods_items"][0]["invoice_amount"] = amount
    doc["exporter"]["country"] = "JP"
    return GoodsDeclaration.model_validate(doc)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> RiskModel:
    """A model trained on a labelled history of the demo's Senegalese trade."""
    tmp = tmp_path_factory.mktemp("training")
    helper = make_node(f"sqlite:///{(tmp / 'h.db').as_posix()}", tmp)
    config = DemoConfig(country="SN", seed=11, start=TODAY - timedelta(days=400), days=365)
    history = labelled_history(helper.context, DemoGenerator(config).generate(3000))
    helper.engine.dispose()
    return fit(frame_from_records(history.rows), FitOptions(mapping="demo"))


@pytest.fixture
def learned_node(node: Node, trained: RiskModel) -> Node:
    install(trained, node.settings.resolved_models_dir())
    node.reload()
    return node


def lodge(node: Node, d: GoodsDeclaration) -> dict:
    with write(node.engine) as conn:
        lodging = service.lodge(conn, node.context, d, SYSTEM)
        return dict(conn.execute(select(declarations).where(declarations.c.id == lodging.id)).mappings().one())


def test_the_installed_model_decides_and_explains_in_both_languages(learned_node: Node):
    assert isinstance(learned_node.context.assessor, LearnedAssessor)
    row = lodge(learned_node, car_from_japan("ENG-1"))
    assert row["assessor"].startswith("learned:")
    assert Decimal(0) <= row["score"] <= Decimal(1)
    codes = [r["code"] for r in row["reasons"]]
    assert codes[0].startswith("policy."), "the first reason says how the budget placed it"
    assert any(code.startswith("model.contrib.") for code in codes), "the model's top contributions follow"
    for reason in row["reasons"]:
        assert reason["text"]["fr"] and reason["text"]["en"] and reason["text"]["fr"] != reason["text"]["en"]


def test_without_a_model_the_profiles_and_the_budget_still_decide(node: Node):
    row = lodge(node, car_from_japan("ENG-2"))
    assert row["assessor"] == "learned:profiles"
    assert row["reasons"][0]["code"].startswith("policy.")


def test_a_profile_forcing_red_wins_whatever_the_score(learned_node: Node):
    with write(learned_node.engine) as conn:
        put_profile(
            conn,
            {
                "id": "JP-CARS",
                "description": {"fr": "Voitures du Japon : examen physique", "en": "Cars from Japan: physical examination"},
                "when": {"hs_prefix": ["8703"], "origin": ["JP"]},
                "lane": "red",
            },
            ANALYST,
        )
    learned_node.reload_profiles()
    row = lodge(learned_node, car_from_japan("ENG-3"))
    assert row["lane"] == "red"
    assert any(r["code"] == "reason.rule_hit" and r["params"]["rule"] == "JP-CARS" for r in row["reasons"])
    assert row["reasons"][0]["code"].startswith("policy.profile")


def test_an_under_valued_car_is_flagged_with_the_revenue_at_risk(learned_node: Node):
    # Honest history: the same cars from Japan at about 20,000 XOF per kg.
    rows = [ValueRow("8703231000", "JP", "KGM", Decimal(1000), Decimal(20_000_000 + 100_000 * (i % 7)), TODAY - timedelta(days=30)) for i in range(30)]
    with write(learned_node.engine) as conn:
        save_snapshot(conn, build_from_rows(rows, currency="XOF"))
    learned_node.reload_valuation()
    row = lodge(learned_node, car_from_japan("ENG-4"))  # declared at about 7,000 XOF per kg
    flags = [r for r in row["reasons"] if r["code"] == "valuation.reason_under"]
    assert len(flags) == 1
    assert "XOF" in flags[0]["text"]["en"]


def test_the_running_quotas_survive_a_restart(learned_node: Node, tmp_path: Path):
    lodged = [lodge(learned_node, car_from_japan(f"ENG-Q{i}")) for i in range(12)]
    lanes = [r["lane"] for r in lodged]
    restarted = Node(learned_node.settings, learned_node.engine)
    state = {(q.office, q.period_start): q for q in restarted.context.assessor.selector.counters()}
    quota = state[("SN-DKR-PORT", lodged[0]["registration_date"])]
    assert quota.lodged == 12
    assert quota.red == lanes.count("red") and quota.yellow == lanes.count("yellow")


def test_a_vessels_declarations_imported_together_share_the_office_budget(learned_node: Node):
    """Batch selection: 40 declarations of one manifest, 5% red and 10% yellow of them exactly."""
    from avance.risk.policy.model import load_policy

    rates = load_policy(None).rates("SN-DKR-PORT")
    batch = [(car_from_japan(f"ENG-B{i}", f"{6000 + 400 * i}.00"), TODAY) for i in range(40)]
    prepared = service.prepare_batch(learned_node.context, batch, SYSTEM, {}, selection="batch")
    lanes = [p.assessment.lane.value for p in prepared]
    assert lanes.count("red") == round(40 * rates.red)
    assert lanes.count("yellow") == round(40 * rates.yellow)
    assert all(p.assessment.reasons[0].code.startswith("policy.") for p in prepared)
    one_by_one = service.prepare_batch(learned_node.context, batch, SYSTEM, {})
    assert [p.assessment.score for p in one_by_one] == [p.assessment.score for p in prepared], "the same evidence either way"


def test_analysts_see_the_model_policy_and_quotas_the_engine_runs_on(learned_node: Node):
    from tests.support import serve

    lodge(learned_node, car_from_japan("ENG-API-1"))
    for api in serve(learned_node):
        with api.client("analyst") as http:
            state = http.get("/risk/engine").json()
        with api.client("officer", lang="en") as http:
            refused = http.get("/risk/engine")
        with api.client("broker") as http:
            assert http.get("/risk/engine").status_code == 403
    assert state["engine"].startswith("learned:") and state["model"]["rows"] > 0
    assert state["model"]["metrics"]["auc"] > 0.5, "the holdout metrics of the installed model"
    assert "VEH-USED-EU" in state["profiles"] and state["policy"]["default"]["red"] == "0.05"
    [quota] = [q for q in state["quotas"] if q["office"] == "SN-DKR-PORT"]
    assert quota["lodged"] == 1
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")


def test_a_retrained_model_is_used_after_a_reload_without_restarting(learned_node: Node, trained: RiskModel):
    from tests.support import serve

    for api in serve(learned_node):
        with api.client("analyst") as http:
            before = http.get("/risk/engine").json()["model"]["name"]
            later = datetime.now(timezone.utc) + timedelta(hours=1)
            newer = install(trained, learned_node.settings.resolved_models_dir(), now=later)  # as `avance model retrain` does
            after = http.post("/risk/engine/reload").json()["model"]["name"]
        with api.client("officer") as http:
            assert http.post("/risk/engine/reload").status_code == 403
    assert after == newer.name != before
