"""An analyst fits a model on an extract and scores another one from the command line; every
mistake ends in one line and exit code 2."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import synthetic

MAPPING = """
version: 1
name: extract
description: {fr: "Extrait de test", en: "Test extract"}
csv: {delimiter: ","}
date_format: "%Y-%m-%d"
columns: {id: DECL, date: DATE, importer: IMPORTER, declarant: CAD, office: OFFICE, hs_code: HS, origin: ORIGIN, net_mass: MASS, value: VALUE}
labels: {fraud: FRAUD, recovered: RECOVERED}
"""
COLUMNS = {"id": "DECL", "date": "DATE", "importer": "IMPORTER", "declarant": "CAD", "office": "OFFICE", "hs_code": "HS", "origin": "ORIGIN", "net_mass": "MASS", "value": "VALUE", "fraud": "FRAUD", "recovered": "RECOVERED"}
from tests.support import run_cli


def run(args: list[str], cwd: Path, lang: str = "en") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(cwd), AVANCE_LANG=lang)
    return subprocess.run([sys.executable, "-m", "avance", "model", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def run_main(args: list[str]) -> tuple[int, str, str]:
    return run_cli(["model", *args])

def one_line_error(result: subprocess.CompletedProcess[str] | tuple[int, str, str]) -> str:
    code, out, err = (result.returncode, result.stdout, result.stderr) if isinstance(result, subprocess.CompletedProcess) else result
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def in_dir(workdir: Path, args: list[str]) -> list[str]:
    """Arguments with the work directory's file names made absolute (for in-process runs)."""
    return [str(workdir / a) if (workdir / a).exists() or a.endswith((".csv", ".yaml")) or a in ("x", "nomodel", "model") else a for a in args]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled extract (with recovered revenue), its mapping, and a model fitted on it."""
    root = tmp_path_factory.mktemp("model-cli")
    frame = synthetic(n=2500, revenue=True, seed=11)
    extract = frame[list(COLUMNS)].rename(columns=COLUMNS)
    extract["DATE"] = frame["date"].dt.strftime("%Y-%m-%d")
    extract["FRAUD"] = frame["fraud"].astype(int)
    extract.iloc[:2000].to_csv(root / "train.csv", index=False)
    extract.iloc[2000:].to_csv(root / "later.csv", index=False)
    extract.iloc[2000:].drop(columns=["FRAUD", "RECOVERED"]).to_csv(root / "unlabelled.csv", index=False)
    (root / "map.yaml").write_text(MAPPING, encoding="utf-8")
    result = run(["fit", "--data", "train.csv", "--mapping", "map.yaml", "--out", "model"], root)
    assert result.returncode == 0, result.stderr
    (root / "fit-output.txt").write_text(result.stdout, encoding="utf-8")
    return root


def test_fit_writes_the_model_and_prints_what_it_learned(workdir):
    printed = (workdir / "fit-output.txt").read_text()
    # English groups thousands with a comma (Babel); the old hand-made formatter wrote "2 000" in both languages.
    assert "Model fitted" in printed and "2,000" in printed and "Precision at 5% inspected" in printed
    meta = json.loads((workdir / "model" / "model.json").read_text())["metadata"]
    assert meta["rows"] == 2000 and meta["mapping"] == "extract" and meta["has_revenue"] is True
    assert meta["metrics"]["kind"] == "holdout"
    assert {p.name for p in (workdir / "model").iterdir()} == {"model.json", "fraud.lgb", "recovery.lgb"}


def test_scores_are_written_per_row_in_order_and_rank_the_frauds_first(workdir, english):
    code, printed, err = run_main(in_dir(workdir, ["score", "--model", "model", "--data", "later.csv", "--mapping", "map.yaml", "--out", "scores.csv"]))
    assert code == 0, err
    assert "500 rows scored" in printed
    scores = pd.read_csv(workdir / "scores.csv", dtype={"id": str})
    later = pd.read_csv(workdir / "later.csv", dtype={"DECL": str})
    assert list(scores.columns) == ["id", "score"] and list(scores["id"]) == list(later["DECL"])
    assert scores["score"].between(0, 1).all()
    top = scores["score"].rank(ascending=False, method="first") <= 50
    assert later["FRAUD"][top.to_numpy()].mean() > 2 * later["FRAUD"].mean()


def test_scoring_needs_no_label_column_and_gives_the_same_scores(workdir):
    labelled = run_main(in_dir(workdir, ["score", "--model", "model", "--data", "later.csv", "--mapping", "map.yaml", "--out", "a.csv"]))
    unlabelled = run(["score", "--model", "model", "--data", "unlabelled.csv", "--mapping", "map.yaml", "--out", "b.csv"], workdir, lang="fr")
    assert "500 lignes notées" in unlabelled.stdout
    assert labelled[0] == unlabelled.returncode == 0, unlabelled.stderr
    assert "lignes notées" in unlabelled.stdout
    assert (workdir / "a.csv").read_text() == (workdir / "b.csv").read_text()


def test_the_revenue_objective_ranks_by_expected_recovered_revenue(workdir):
    code, _, err = run_main(in_dir(workdir, ["score", "--model", "model", "--data", "unlabelled.csv", "--mapping", "map.yaml", "--out", "rev.csv", "--objective", "revenue"]))
    assert code == 0, err
    scores = pd.read_csv(workdir / "rev.csv")
    assert (scores["score"] >= 0).all() and scores["score"].max() > 1  # an amount, not a probability
    later = pd.read_csv(workdir / "later.csv")
    top = scores["score"].rank(ascending=False, method="first") <= 50
    assert later["RECOVERED"][top.to_numpy()].sum() > 2 * later["RECOVERED"].sum() * 50 / len(later)


def test_fit_until_a_date_leaves_later_rows_out_and_a_model_without_revenue_refuses_the_revenue_objective(workdir, english):
    frame = pd.concat([pd.read_csv(workdir / "train.csv"), pd.read_csv(workdir / "later.csv")]).drop(columns=["RECOVERED"])
    frame.to_csv(workdir / "hits.csv", index=False)
    (workdir / "hits.yaml").write_text(MAPPING.replace(", recovered: RECOVERED", ""), encoding="utf-8")
    result = run(["fit", "--data", "hits.csv", "--mapping", "hits.yaml", "--out", "early", "--until", "2025-02-15"], workdir, lang="fr")
    assert result.returncode == 0, result.stderr
    assert "Modèle entraîné" in result.stdout and "Précision à 5% contrôlés" in result.stdout
    meta = json.loads((workdir / "early" / "model.json").read_text())["metadata"]
    assert meta["training_window"]["to"] <= "2025-02-15" and meta["rows"] < 2000 and meta["has_revenue"] is False
    args = ["score", "--model", "early", "--data", "unlabelled.csv", "--mapping", "map.yaml", "--out", "s.csv", "--objective", "revenue"]
    assert "--objective hits" in one_line_error(run_main(in_dir(workdir, args)))


def test_a_model_made_by_an_incompatible_version_is_refused_with_what_to_do(workdir, english):
    import shutil

    shutil.copytree(workdir / "model", workdir / "old-model", dirs_exist_ok=True)
    document = json.loads((workdir / "old-model" / "model.json").read_text())
    document["metadata"]["format_version"] = 0
    (workdir / "old-model" / "model.json").write_text(json.dumps(document))
    message = one_line_error(run_main(in_dir(workdir, ["score", "--model", "old-model", "--data", "later.csv", "--mapping", "map.yaml", "--out", "s.csv"])))
    assert "Fit it again" in message


cells = st.one_of(st.just(""), st.just("0"), st.just("-3"), st.just("abc"), st.just("nan"), st.just("inf"), st.just("1e999"), st.floats(allow_nan=False, allow_infinity=False).map(repr), st.integers(-(10**15), 10**15).map(str))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cells, cells, st.sampled_from(["", "100630", "12", "abcdef", "870323"])), min_size=1, max_size=6))
def test_rows_with_zero_missing_or_broken_amounts_are_scored_never_inf_or_nan(workdir, tmp_path, rows):
    path = tmp_path / "odd.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["DECL", "DATE", "IMPORTER", "CAD", "OFFICE", "HS", "ORIGIN", "MASS", "VALUE"])
        for i, (mass, value, hs) in enumerate(rows):
            writer.writerow([f"X{i}", "2025-04-20", "IMP1", "CAD1", "DKR", hs, "CN", mass, value])
    out = tmp_path / "odd-scores.csv"
    code, _, err = run_main(["score", "--model", str(workdir / "model"), "--data", str(path), "--mapping", str(workdir / "map.yaml"), "--out", str(out)])
    assert code == 0, err
    scores = pd.read_csv(out)
    assert len(scores) == len(rows) and np.isfinite(scores["score"]).all() and scores["score"].between(0, 1).all()


@pytest.mark.parametrize(
    "args, named",
    [
        (["fit", "--data", "missing.csv", "--mapping", "map.yaml", "--out", "x"], "missing.csv"),
        (["fit", "--data", "train.csv", "--mapping", "nope.yaml", "--out", "x"], "nope.yaml"),
        (["fit", "--data", "unlabelled.csv", "--mapping", "map.yaml", "--out", "x"], "FRAUD"),
        (["fit", "--data", "train.csv", "--mapping", "nolabels.yaml", "--out", "x"], "labels.fraud"),
        (["fit", "--data", "train.csv", "--mapping", "unknown.yaml", "--out", "x"], "weight"),
        (["fit", "--data", "train.csv", "--mapping", "map.yaml", "--out", "x", "--until", "2025-13-01"], "2025-13-01"),
        (["fit", "--data", "train.csv", "--mapping", "badcolumn.yaml", "--out", "x"], "POIDS"),
        (["score", "--model", "nomodel", "--data", "later.csv", "--mapping", "map.yaml", "--out", "s.csv"], "nomodel"),
        (["score", "--model", "model", "--data", "later.csv", "--mapping", "map.yaml", "--out", "s.csv", "--objective", "money"], "money"),
        (["score", "--model", "model", "--data", "baddate.csv", "--mapping", "map.yaml", "--out", "s.csv"], "line 3"),
        (["score", "--model", "model"], "--data"),
    ],
)
def test_mistakes_end_in_one_line_naming_the_problem(workdir, args, named, english):
    (workdir / "nolabels.yaml").write_text(MAPPING.replace("labels: {fraud: FRAUD, recovered: RECOVERED}", ""), encoding="utf-8")
    (workdir / "unknown.yaml").write_text(MAPPING.replace("value: VALUE", "value: VALUE, weight: MASS"), encoding="utf-8")
    (workdir / "badcolumn.yaml").write_text(MAPPING.replace("net_mass: MASS", "net_mass: POIDS"), encoding="utf-8")
    lines = (workdir / "unlabelled.csv").read_text().splitlines()
    bad = lines[2].split(",")
    bad[1] = "2025-02-30"
    (workdir / "baddate.csv").write_text("\n".join([lines[0], lines[1], ",".join(bad)]) + "\n")
    assert named in one_line_error(run_main(in_dir(workdir, args)))


def test_the_real_command_refuses_a_missing_file_in_one_line(workdir):
    assert "missing.csv" in one_line_error(run(["score", "--model", "model", "--data", "missing.csv", "--mapping", "map.yaml", "--out", "s.csv"], workdir))
