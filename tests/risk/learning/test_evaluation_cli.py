"""The risk analyst measures, simulates, retrains and watches the learned model from the command
line; every mistake in what they type gets one line and exit code 2."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.reference import shipped_offices
from avance.auth.model import SYSTEM, Principal, Role
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.i18n import catalog
from avance.bootstrap import Node, store_rates
from avance.risk.learning.drift import decile_bins, drift_report, level, psi, psi_against
from avance.store.engine import write
from tests.support import declaration, run_cli
from tests.support import ROOT

DEMO_MAPPING = ROOT / "examples" / "mappings" / "demo.yaml"
KCS_MAPPING = ROOT / "examples" / "mappings" / "kcs.yaml"
KCS = Path("/work/shared/data/kcs_customs_declarations_2022")
OFFICER = Principal(user_id=None, name="officer", role=Role.OFFICER, offices=tuple(shipped_offices()))  # officers act at their offices: all of them here


def run(args: list[str], tmp_path: Path, lang: str = "en", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    environment.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_LANG=lang, COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "avance", *args], capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=300)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled demo extract written by `avance model demo-data` (600 declarations)."""
    tmp = tmp_path_factory.mktemp("demo")
    path = tmp / "demo.csv"
    result = run(["model", "demo-data", "--out", str(path), "--declarations", "600", "--seed", "11"], tmp)
    assert result.returncode == 0, result.stderr
    assert "600" in result.stdout and str(path) in result.stdout.replace("\n", "")
    return path


# --- demo-data ---------------------------------------------------------------------------------


def test_demo_data_has_one_row_per_goods_item_with_the_fraud_on_the_affected_item(demo_csv):
    with demo_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    declarations: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        declarations.setdefault(row["declaration"], []).append(row)
    assert len(declarations) == 600
    assert len(rows) > 600  # some declarations have several goods items
    frauds = [r for r in rows if r["fraud"] == "1"]
    assert frauds and all(Decimal(r["recovered"]) > 0 and r["kind"] for r in frauds)
    assert all(r["recovered"] == "0" and r["kind"] == "" for r in rows if r["fraud"] == "0")
    for items in declarations.values():
        assert sum(r["fraud"] == "1" for r in items) <= 1  # the truth is about one goods item
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)
    assert all(float(r["value"]) > 0 and r["hs_code"].isdigit() for r in rows)


def test_demo_data_for_an_unknown_country_is_refused(tmp_path):
    code, _, err = run_main(["model", "demo-data", "--out", str(tmp_path / "x.csv"), "--country", "ZZ"])
    assert code == 2 and "ZZ" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


# --- evaluate ----------------------------------------------------------------------------------


def test_evaluate_fits_on_the_past_and_reports_hits_and_revenue_against_the_oracle(demo_csv, tmp_path):
    out = tmp_path / "eval.json"
    result = run(["model", "evaluate", "--data", str(demo_csv), "--mapping", str(DEMO_MAPPING), "--test-fraction", "0.3", "--objective", "revenue", "--json", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "AUC" in result.stdout and "revenue vs oracle" in result.stdout
    report = json.loads(out.read_text())
    assert report["train"]["to"] < report["test_from"] <= report["test"]["from"]
    ev = report["evaluation"]
    n = ev["n"]
    assert n == report["test"]["declarations"]
    assert [a["k"] for a in ev["at"]] == [math.ceil(r * n) for r in (0.01, 0.02, 0.05, 0.10)]
    ten = ev["at"][-1]
    assert ten["precision"] > ev["base_rate"]  # targeting beats random inspection
    assert Decimal(ten["revenue"]) <= Decimal(ten["oracle_revenue"]) and Decimal(ev["total_revenue"]) > 0
    assert 0 < ten["revenue_vs_oracle"] <= 1


@pytest.mark.skipif(not (KCS / "df_syn_train_eng.csv").exists(), reason="KCS data not present")
def test_a_kcs_sample_is_read_through_the_shipped_mapping_and_evaluated(tmp_path):
    sample = tmp_path / "kcs-sample.csv"
    with (KCS / "df_syn_train_eng.csv").open(encoding="utf-8") as train, (KCS / "df_syn_valid_eng.csv").open(encoding="utf-8") as valid:
        head = train.readline()
        lines = [line for i, line in enumerate(train) if i % 10 == 0] + [line for i, line in enumerate(valid) if i > 0 and i % 10 == 0]
    sample.write_text(head + "".join(lines), encoding="utf-8")
    out = tmp_path / "kcs.json"
    result = run(["model", "evaluate", "--data", str(sample), "--mapping", str(KCS_MAPPING), "--test-from", "2021-01-01", "--json", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["test_from"] == "2021-01-01" and report["train"]["to"] <= "2020-12-31" < report["test"]["from"]
    assert report["evaluation"]["at"][2]["precision"] > 1.5 * report["evaluation"]["base_rate"]
    assert report["evaluation"]["total_revenue"] is None  # KCS has no revenue: none is reported


def test_evaluating_data_without_a_fraud_label_is_one_line(demo_csv, tmp_path):
    mapping = tmp_path / "nolabel.yaml"
    mapping.write_text(re.sub(r"labels:\n(  .*\n)+", "", DEMO_MAPPING.read_text(encoding="utf-8")), encoding="utf-8")
    code, _, err = run_main(["model", "evaluate", "--data", str(demo_csv), "--mapping", str(mapping)])
    assert code == 2 and "fraud" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--test-from", "2030-01-01"], "2030-01-01"),
        (["--test-from", "2025-02-30"], "2025-02-30"),
        (["--test-from", "2025-06-01", "--test-fraction", "0.2"], "--test-fraction"),
        (["--test-fraction", "1.5"], "--test-fraction"),
        (["--objective", "money"], "money"),
        (["--data", "/nonexistent/file.csv"], "/nonexistent/file.csv"),
    ],
)
def test_bad_evaluation_arguments_are_one_line_naming_the_problem(demo_csv, tmp_path, args, needle):
    code, _, err = run_main(["model", "evaluate", "--data", str(demo_csv), "--mapping", str(DEMO_MAPPING), *args])
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def run_main(args: list[str]) -> tuple[int, str, str]:
    return run_cli(args)

words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.one_of(st.none(), words.map(lambda w: ("--test-from", w)), st.dates(date(2024, 1, 1), date(2026, 12, 31)).map(lambda d: ("--test-from", d.isoformat())), st.floats(-1, 2).map(lambda f: ("--test-fraction", repr(f)))),
    objective=st.one_of(st.none(), st.sampled_from(["hits", "revenue", "HITS"]), words),
    budget=st.one_of(st.none(), st.floats(-1, 2).map(repr), words),
)
def test_whatever_the_analyst_types_simulate_answers_or_refuses_in_one_line(tiny_csv, cut, objective, budget):
    args = ["model", "simulate", "--data", str(tiny_csv), "--mapping", str(DEMO_MAPPING), "--trees", "10"]
    if cut is not None:
        args += [f"{cut[0]}={cut[1]}"]
    if objective is not None:
        args += [f"--objective={objective}"]
    if budget is not None:
        args += [f"--budget={budget}"]
    code, _, err = run_main(args)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def tiny_csv(demo_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 400 goods items of the demo extract (a few weeks)."""
    lines = demo_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path_factory.mktemp("tiny") / "tiny.csv"
    path.write_text("".join(lines[:401]), encoding="utf-8")
    return path


# --- simulate ----------------------------------------------------------------------------------


def test_simulate_compares_exploration_shares_week_by_week(demo_csv, tmp_path):
    out = tmp_path / "sim.json"
    result = run(
        ["model", "simulate", "--data", str(demo_csv), "--mapping", str(DEMO_MAPPING), "--test-fraction", "0.3", "--budget", "0.1",
         "--exploration", "0", "--exploration", "0.5", "--trees", "20", "--retrain-every", "2", "--json", str(out)],
        tmp_path,
        lang="fr",
    )
    assert result.returncode == 0, result.stderr
    assert "part d'exploration" in result.stdout and "Entraîné sur" in result.stdout  # the analyst's language
    report = json.loads(out.read_text())
    greedy, exploring = report["simulations"]
    assert (greedy["options"]["exploration"], exploring["options"]["exploration"]) == (0.0, 0.5)
    assert all(w["explored"] == 0 for w in greedy["weeks"])
    for g, e in zip(greedy["weeks"], exploring["weeks"]):
        assert g["week"] == e["week"] and g["inspected"] == e["inspected"] == math.ceil(0.1 * g["declarations"])
        assert e["explored"] == int(Decimal(e["inspected"]) * Decimal("0.5") + Decimal("0.5"))
    assert greedy["total"]["frauds"] == exploring["total"]["frauds"] > 0
    assert greedy["total"]["revenue"] is not None


# --- retrain and drift on a node's store -------------------------------------------------------


def _history(node: Node, count: int, *, days: int = 56, seed: int = 5) -> list[int]:
    """Lodge ``count`` demo declarations over the last ``days`` days; control every one of them
    (red lanes after arrival) with the generator's truth as the finding. Returns the ids."""
    from avance.demo.generator import DemoConfig, DemoGenerator, demo_rates

    with write(node.engine) as conn:
        store_rates(conn, demo_rates("XOF"))
    node.reload()
    today = datetime.now(timezone.utc).date()
    generated = list(DemoGenerator(DemoConfig(country="SN", seed=seed, start=today - timedelta(days=days), days=days - 2)).generate(count))
    batch = [(GoodsDeclaration.model_validate(g.payload), g.registration_date) for g in generated]
    times = [datetime.combine(g.registration_date, time(9), tzinfo=timezone.utc) for g in generated]
    with write(node.engine) as conn:
        outcome = service.lodge_batch(conn, node.context, batch, SYSTEM, lodged_at=times)
    ids = []
    with write(node.engine) as conn:
        for g, declaration_id, at in zip(generated, outcome.ids, times):
            if declaration_id is None:
                continue
            ids.append(declaration_id)
            lane = service.get(conn, declaration_id, SYSTEM).row["lane"]
            truth = g.truth
            control = dict(
                fraud_found=truth.fraud,
                fraud_kinds=[truth.kind] if truth.fraud else [],
                extra_duty=truth.hidden_duty if truth.fraud else Decimal(0),
                findings=None,
                now=at + timedelta(days=1),
            )
            if lane == "red":
                service.record_arrival(conn, declaration_id, OFFICER, arrived_at=at + timedelta(hours=12), now=at + timedelta(hours=12))
            service.record_inspection(conn, declaration_id, OFFICER, **control)
    return ids


def _env(node: Node) -> dict[str, str]:
    return {"AVANCE_DATABASE_URL": node.engine.url.render_as_string(hide_password=False)}


def test_retrain_learns_from_the_inspection_results_and_installs_the_model(node, tmp_path):
    ids = _history(node, 160)
    out = tmp_path / "retrain.json"
    result = run(["model", "retrain", "--min-labels", "80", "--json", str(out)], tmp_path, **_env(node))
    assert result.returncode == 0, result.stderr
    assert "avance serve" in result.stdout.replace("\n", " ")
    report = json.loads(out.read_text())
    assert report["labels"] == len(ids)
    installed = Path(report["installed"])
    assert installed.parent == tmp_path / "models"
    assert (tmp_path / "models" / "CURRENT").read_text().strip() == installed.name
    metadata = json.loads((installed / "model.json").read_text())["metadata"]
    assert metadata["declarations"] == len(ids) and metadata["mapping"] == "store"
    assert metadata["metrics"]["kind"] == "holdout" and metadata["metrics"]["auc"] == round(report["holdout"]["auc"], 6)
    assert report["holdout"]["n"] < len(ids)

    listed = run(["model", "list"], tmp_path, **_env(node))
    assert listed.returncode == 0 and installed.name in listed.stdout

    drift_json = tmp_path / "drift.json"
    drift = run(["model", "drift", "--weeks", "10", "--json", str(drift_json)], tmp_path, **_env(node))
    assert drift.returncode == 0, drift.stderr
    weekly = json.loads(drift_json.read_text())
    assert sum(w["inspected"] for w in weekly["inspections"]) == len(ids)  # every control of the window counted
    assert weekly["overall"]["psi"] is not None and weekly["model"] == str(installed)

    rollback = run(["model", "use", "20200101T000000Z-00000000"], tmp_path, **_env(node))
    assert "20200101T000000Z-00000000" in one_line_error(rollback)

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("x")
    refused = run(["model", "retrain", "--min-labels", "80"], tmp_path, AVANCE_MODELS_DIR=str(blocked), **_env(node))
    assert "not-a-directory" in one_line_error(refused)
    assert (tmp_path / "models" / "CURRENT").read_text().strip() == installed.name  # the model in use is untouched


def test_retraining_with_too_few_inspection_results_is_one_clear_line(sqlite_node, tmp_path):
    _history(sqlite_node, 30)
    result = run(["model", "retrain", "--min-labels", "200"], tmp_path, **_env(sqlite_node))
    message = one_line_error(result)
    assert "30" in message and "200" in message


def test_retrain_on_a_node_that_was_never_set_up_says_what_to_do(tmp_path):
    message = one_line_error(run(["model", "retrain"], tmp_path))
    assert "avance init" in message


# --- the drift report --------------------------------------------------------------------------


def test_psi_bins_follow_the_training_deciles_and_merge_ties():
    edges, expected = decile_bins(np.linspace(0, 1, 101))
    assert np.allclose(edges, np.arange(1, 10) / 10) and np.allclose(expected, 0.1)
    tied = np.r_[np.zeros(51), np.linspace(0.02, 1, 50)]  # half the training scores are exactly 0
    edges, expected = decile_bins(tied)
    assert edges[0] == 0 and expected[0] == pytest.approx(0.5) and expected.sum() == pytest.approx(1)
    assert psi(expected, expected) == 0
    assert psi_against(np.linspace(0.005, 0.995, 100), np.linspace(0, 1, 101)) == pytest.approx(0, abs=1e-12)
    assert (level(None), level(0.05), level(0.2), level(0.3)) == ("too_few", "stable", "watch", "serious")


def test_weekly_precision_of_the_inspected_is_counted_by_week_of_control_and_lane(node):
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    last_week = datetime.combine(monday - timedelta(days=6), time(10), tzinfo=timezone.utc)  # last Tuesday
    this_week = datetime.combine(monday, time(0, 30), tzinfo=timezone.utc)
    ids = []
    with write(node.engine) as conn:
        for i in range(5):
            lodged_at = last_week - timedelta(days=1) if i < 3 else this_week
            ids.append(service.lodge(conn, node.context, GoodsDeclaration.model_validate(declaration(lrn=f"DRIFT-{i}")), SYSTEM, registration_date=lodged_at.date(), now=lodged_at).id)
        lanes = {i: service.get(conn, i, SYSTEM).row["lane"] for i in ids}
        findings = [(last_week, True, "1000"), (last_week, True, "2500.50"), (last_week, False, "0"), (this_week, False, "0")]
        for declaration_id, (at, fraud, extra) in zip(ids, findings):
            if lanes[declaration_id] == "red":
                service.record_arrival(conn, declaration_id, OFFICER, arrived_at=at - timedelta(minutes=10), now=at - timedelta(minutes=10))
            service.record_inspection(conn, declaration_id, OFFICER, fraud_found=fraud, fraud_kinds=["undervaluation"] if fraud else [], extra_duty=Decimal(extra), findings=None, now=at)
    quantiles = list(np.linspace(0, 1, 101))
    with node.engine.connect() as conn:
        report = drift_report(conn, quantiles, weeks=2, today=today, min_scores=1)
    previous, current = report.inspections
    assert (previous.start, current.start) == (monday - timedelta(days=7), monday)
    assert (previous.inspected, previous.frauds, previous.extra_duty) == (3, 2, Decimal("3500.50"))
    assert previous.precision == pytest.approx(2 / 3) and previous.currency == "XOF"
    assert (current.inspected, current.frauds, current.extra_duty, current.precision) == (1, 0, Decimal(0), 0.0)
    lane = lanes[ids[0]]
    assert all(lanes[i] == lane for i in ids)
    assert [(w.week, w.lane, w.inspected, w.frauds) for w in report.by_lane] == [(previous.week, lane, 3, 2), (current.week, lane, 1, 0)]
    # Score shift: 3 declarations lodged last week, 2 this week, against uniform training scores.
    assert [w.declarations for w in report.scores] == [3, 2]
    with node.engine.connect() as conn:
        from sqlalchemy import select

        from avance.declarations.tables import declarations

        scores = {row.id: float(row.score) for row in conn.execute(select(declarations.c.id, declarations.c.score))}
    expected_shares = np.full(10, 0.1)
    for week, members in zip(report.scores, (ids[:3], ids[3:])):
        bins = np.bincount(np.searchsorted(np.arange(1, 10) / 10, [scores[i] for i in members], side="left"), minlength=10) / len(members)
        assert week.psi == pytest.approx(psi(expected_shares, bins))
    assert report.to_dict()["inspections"][0]["extra_duty"] == "3500.50"


def test_drift_without_an_installed_model_still_reports_the_inspections(sqlite_node, tmp_path):
    result = run(["model", "drift", "--weeks", "2"], tmp_path, **_env(sqlite_node))
    assert result.returncode == 0, result.stderr
    assert "No model is installed" in result.stdout.replace("\n", " ")


def test_every_evaluation_message_used_in_the_code_is_in_both_catalogs():
    used = set()
    for name in ("evaluation.py", "evaluation_cli.py", "registry.py", "drift.py"):
        text = (ROOT / "src" / "avance" / "risk" / "learning" / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'"(evaluation\.[a-z_.]+[a-z_])"', text))
        used |= {f"cli.help.{key}" for key in re.findall(r'\bH\("([a-z_.]+)"\)', text)}
    assert len(used) > 40
    for lang in ("fr", "en"):
        assert used <= set(catalog(lang)), used - set(catalog(lang))
