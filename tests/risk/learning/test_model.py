"""The learned scorer ranks declarations for inspection from the past only, scores anything it
is given (unseen traders, missing masses), explains itself, and survives a save and a reload."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.risk.learning.features import Encoder, KeySpec
from avance.risk.learning.frame import FrameError, frame_from_records, load_mapping, read_csv
from tests.support import synthetic
from avance.risk.learning.model import FORMAT_VERSION, Contribution, FitOptions, ModelError, RiskModel, auc, fit, precision_at
from tests.support import ROOT

KCS = Path("/work/shared/data/kcs_customs_declarations_2022")
FAST = FitOptions(n_estimators=80, learning_rate=0.1, num_leaves=15, holdout_fraction=0.0)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic()


@pytest.fixture(scope="module")
def model(data: pd.DataFrame) -> RiskModel:
    return fit(data[data["date"] < pd.Timestamp("2025-03-22")], FAST)


# --- past only ------------------------------------------------------------------------------


def test_a_rows_history_counts_only_earlier_days_never_the_same_day_or_its_own_label():
    rows = [
        ("a", "2025-01-01", 1),
        ("b", "2025-01-02", 1),  # same day as c: they do not see each other
        ("c", "2025-01-02", 0),
        ("d", "2025-01-03", 1),
    ]
    frame = frame_from_records([{"id": i, "date": d, "importer": "IMP1", "hs_code": "100630", "fraud": y} for i, d, y in rows])
    encoder, x = Encoder.fit(frame, smoothing=10, keys=(KeySpec("importer", ("importer",)),))
    te, n = x[:, encoder.features.index("importer_te")], x[:, encoder.features.index("importer_n")]
    prior = 0.75
    assert list(n) == [0, 1, 1, 3]
    assert te[0] == pytest.approx(prior)
    assert te[1] == te[2] == pytest.approx((1 + prior * 10) / 11)
    assert te[3] == pytest.approx((2 + prior * 10) / 13)
    # scoring later: the whole window counts, frozen
    scored = encoder.transform(frame_from_records([{"id": "e", "importer": "IMP1", "hs_code": "100630"}]))
    assert scored[0, encoder.features.index("importer_n")] == 4
    assert scored[0, encoder.features.index("importer_te")] == pytest.approx((3 + prior * 10) / 14)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["I1", "I2", "I3"]), st.sampled_from(["100630", "870323"]), st.booleans()), min_size=2, max_size=30),
    flip=st.integers(0, 29),
)
def test_flipping_a_label_never_changes_the_features_of_that_row_or_of_any_row_of_the_same_day_or_before(rows, flip):
    flip %= len(rows)
    records = [{"id": str(i), "date": pd.Timestamp("2025-01-01") + pd.Timedelta(days=d), "importer": imp, "hs_code": hs, "origin": "CN", "fraud": float(y)} for i, (d, imp, hs, y) in enumerate(rows)]
    frame = frame_from_records(records)
    flipped = frame.copy()
    flipped.loc[flip, "fraud"] = 1.0 - flipped.loc[flip, "fraud"]
    keys = (KeySpec("importer", ("importer",)), KeySpec("hs6_origin", ("hs6", "origin")), KeySpec("importer_hs6", ("importer", "hs6")))
    enc_a, xa = Encoder.fit(frame, smoothing=10, keys=keys)
    enc_b, xb = Encoder.fit(flipped, smoothing=10, keys=keys)
    history = [i for i, name in enumerate(enc_a.features) if name.endswith("_n")]
    rate = [i for i, name in enumerate(enc_a.features) if name.endswith("_te")]
    upto = (frame["date"] <= frame["date"].iloc[flip]).to_numpy()
    assert np.array_equal(xa[upto][:, history], xb[upto][:, history])
    # rates differ only through the prior (the mean label); with the same prior they would be equal
    prior_a, prior_b = enc_a.prior, enc_b.prior
    n = xa[upto][:, history]
    expected_b = xa[upto][:, rate] + (prior_b - prior_a) * 10 / (n + 10)
    assert np.allclose(xb[upto][:, rate], expected_b)


# --- learning -------------------------------------------------------------------------------


def test_fraud_that_depends_on_hs6_and_origin_is_learned_and_ranked_first(data, model):
    test = data[data["date"] >= pd.Timestamp("2025-03-22")]
    scores = model.score(test).fraud
    y = test["fraud"].to_numpy()
    base = y.mean()
    assert precision_at(y, scores, 0.05) > 3 * base
    assert precision_at(y, scores, 0.10) > 2.5 * base
    assert auc(y, scores) > 0.75


def test_the_metadata_says_what_the_model_is(model):
    meta = model.metadata
    assert meta["format_version"] == FORMAT_VERSION and meta["avance_version"]
    assert meta["training_window"] == {"from": "2025-01-01", "to": "2025-03-21"}
    assert meta["rows"] > 3000 and 0 < meta["fraud_rate"] < 0.5
    assert "hs6_origin_te" in meta["features"] and "cat_office" in meta["features"]
    assert {"python", "lightgbm", "numpy", "pandas"} <= set(meta["libraries"])
    assert meta["metrics"]["kind"] == "in_sample" and set(meta["metrics"]["precision_at"]) == {"1%", "2%", "5%", "10%"}
    q = meta["score_quantiles"]
    assert len(q) == 101 and q == sorted(q) and 0 <= q[0] <= q[-1] <= 1
    assert meta["has_revenue"] is False
    json.dumps(meta)


def test_a_holdout_of_the_last_days_measures_the_model_by_default(data):
    options = FitOptions(n_estimators=40, learning_rate=0.1, num_leaves=15)
    meta = fit(data, options).metadata
    metrics = meta["metrics"]
    assert metrics["kind"] == "holdout" and metrics["from"] >= "2025-04-01"
    assert 0 < metrics["rows"] < 0.2 * len(data)
    assert metrics["auc"] > 0.6


def test_the_same_data_gives_the_same_model(data):
    train = data.iloc[:1500]
    options = FitOptions(n_estimators=30, num_leaves=15, holdout_fraction=0.0)
    a, b = fit(train, options), fit(train, options)
    assert np.array_equal(a.score(data).fraud, b.score(data).fraud)


def test_unlabelled_or_one_class_data_cannot_train(data):
    with pytest.raises(FrameError):
        fit(data.drop(columns=["fraud"]), FAST)
    honest = data.assign(fraud=0.0)
    with pytest.raises(FrameError) as info:
        fit(honest, FAST)
    assert "0 frauds" in info.value.message("en")


def test_rows_without_a_label_are_left_out_of_training(data):
    train = data.iloc[:1500].copy()
    train.loc[train.index[:500], "fraud"] = np.nan
    assert fit(train, FitOptions(n_estimators=10, holdout_fraction=0.0)).metadata["rows"] == 1000


# --- scoring anything -----------------------------------------------------------------------


def test_unseen_traders_and_goods_are_scored_with_the_prior_history(model):
    record = {"id": "new", "importer": "NEVER-SEEN", "declarant": "NEW-CAD", "hs_code": "999999", "origin": "ZZ", "office": "NEW", "net_mass": 10, "value": 1000}
    x = model.encoder.transform_records([record])[0]
    features = model.encoder.features
    assert x[features.index("importer_n")] == 0 and x[features.index("hs6_origin_n")] == 0
    assert x[features.index("importer_te")] == pytest.approx(model.encoder.prior)
    assert math.isnan(x[features.index("cat_office")])  # an unseen office is a missing category
    p = model.score_records([record]).fraud
    assert 0 <= p[0] <= 1


def test_one_lodging_is_scored_exactly_as_the_batch_scores_it(data, model):
    records = data.drop(columns=["fraud", "date"]).iloc[:200].to_dict("records")
    records[0]["net_mass"] = 0
    records[1]["value"] = None
    records[2]["hs_code"] = 100630.0  # a spreadsheet number
    batch = model.score(frame_from_records(records)).fraud
    assert np.allclose(model.score_records(records).fraud, batch, rtol=0, atol=1e-12)


amounts = st.one_of(st.none(), st.just(""), st.just("abc"), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**12), st.just("0"), st.just("-1"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({"net_mass": amounts, "gross_mass": amounts, "quantity": amounts, "value": amounts, "duty": amounts, "tax_rate": amounts, "hs_code": st.one_of(st.none(), st.text(max_size=12))}), min_size=1, max_size=8))
def test_zero_missing_or_absurd_amounts_are_scored_never_inf_or_nan(model, rows):
    records = [{"id": str(i), "importer": "IMP1", "origin": "CN", **row} for i, row in enumerate(rows)]
    for scores in (model.score(frame_from_records(records)).fraud, model.score_records(records).fraud):
        assert scores.shape == (len(records),)
        assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    for contributions in model.explain_records(records):
        for c in contributions:
            assert math.isfinite(c.weight) and c.reason().message("fr") and c.reason().message("en")


# --- explanations ---------------------------------------------------------------------------


def test_explanations_add_up_to_the_score_and_name_the_risky_hs6_origin_pair(data, model):
    test = data[data["date"] >= pd.Timestamp("2025-03-22")]
    records = test.drop(columns=["fraud"]).to_dict("records")
    x = model.encoder.transform_records(records)
    path = model.contributions(x)
    raw = model.fraud_booster.predict(x, raw_score=True)
    assert np.allclose(path.sum(axis=1) + model.bias(), raw, atol=1e-6)
    shap = model.contributions(x[:50], method="shap")
    assert np.allclose(shap.sum(axis=1), raw[:50] - model.fraud_booster.predict(x[:50], pred_contrib=True)[:, -1], atol=1e-6)
    top = int(np.argmax(model.score_records(records).fraud))
    explained = model.explain_records([records[top]], top=3)[0]
    assert explained and all(isinstance(c, Contribution) and c.weight > 0 for c in explained)
    assert [c.weight for c in explained] == sorted((c.weight for c in explained), reverse=True)
    pair = next(c for c in explained if c.source in ("hs6_origin", "hs6"))
    frauds, count = pair.params["frauds"], pair.params["count"]
    assert count > 0 and pair.params["rate"] == round(100 * frauds / count)
    reason = pair.reason()
    assert reason.code == "model.contrib.history"
    assert f"{frauds} fraud(s) in {count} past inspection(s)" in reason.message("en")
    assert f"{frauds} fraude(s) en {count} contrôle(s)" in reason.message("fr")
    assert reason.to_record()["text"]["fr"] == reason.message("fr")


def test_one_lodging_gets_its_score_and_reasons_in_one_call(data, model):
    records = data.drop(columns=["fraud", "date"]).iloc[:3].to_dict("records")
    scores, reasons = model.assess_records(records, top=2)
    assert np.array_equal(scores.fraud, model.score_records(records).fraud)
    assert reasons == model.explain_records(records, top=2)


def test_an_unusual_value_per_kg_is_explained_against_the_usual_value_of_its_hs6(model):
    usual = next(iter(model.encoder.vpk_usual.items()))
    c = Contribution("value_per_kg", "0.35", 0.5, {"usual": math.exp(usual[1]), "hs6": usual[0]}, "value_per_kg", 0.35)
    assert c.message("en").startswith("Value per kg 0.35 (about ") and usual[0] in c.message("en")
    assert c.message("fr").startswith("Valeur au kg 0,35 (environ ")


# --- saving and loading ---------------------------------------------------------------------


def test_a_saved_model_scores_and_explains_exactly_as_before(tmp_path, data, model):
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"model.json", "fraud.lgb"}
    loaded = RiskModel.load(tmp_path / "m")
    assert np.array_equal(loaded.score(data).fraud, model.score(data).fraud)
    records = data.drop(columns=["fraud", "date"]).iloc[:20].to_dict("records")
    assert loaded.explain_records(records) == model.explain_records(records)
    assert loaded.metadata == model.metadata
    model.save(tmp_path / "m")  # saving again replaces it, leaving nothing behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_model_from_another_format_version_is_refused_with_what_to_do(tmp_path, model):
    model.save(tmp_path / "m")
    document = json.loads((tmp_path / "m" / "model.json").read_text())
    document["metadata"]["format_version"] = FORMAT_VERSION + 1
    document["metadata"]["avance_version"] = "9.0.0"
    (tmp_path / "m" / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelError) as info:
        RiskModel.load(tmp_path / "m")
    assert "Avance 9.0.0" in info.value.message("en") and "Fit it again" in info.value.message("en")
    assert "Entraînez-le à nouveau" in info.value.message("fr")


@pytest.mark.parametrize("damage", ["no_dir", "no_booster", "bad_json", "bad_booster"])
def test_a_missing_or_damaged_model_is_refused_clearly(tmp_path, model, damage):
    target = tmp_path / "m"
    if damage != "no_dir":
        model.save(target)
    if damage == "no_booster":
        (target / "fraud.lgb").unlink()
    if damage == "bad_json":
        (target / "model.json").write_text("{not json")
    if damage == "bad_booster":
        (target / "fraud.lgb").write_text("tree\nnonsense")
    with pytest.raises(ModelError) as info:
        RiskModel.load(target)
    assert str(target) in info.value.message("en")


# --- revenue --------------------------------------------------------------------------------


def test_with_recovered_revenue_the_model_also_estimates_the_revenue_an_inspection_recovers(tmp_path):
    data = synthetic(n=3000, revenue=True, seed=3)
    train, test = data.iloc[:2400], data.iloc[2400:]
    model = fit(train, FAST)
    assert model.metadata["has_revenue"] and "importer_rev" in model.encoder.features
    scores = model.score(test)
    assert scores.recovery is not None and np.isfinite(scores.recovery).all() and (scores.recovery >= 0).all()
    recovered = test["recovered"].to_numpy()
    top = np.argsort(-scores.recovery)[: len(test) // 10]
    assert recovered[top].sum() > 3 * recovered.sum() / 10  # the top 10% hold far more than 10% of the revenue
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "recovery.lgb").is_file()
    assert np.array_equal(RiskModel.load(tmp_path / "m").score(test).recovery, scores.recovery)


# --- the real data --------------------------------------------------------------------------


def test_on_a_kcs_sample_of_frequent_goods_the_model_beats_the_base_rate():
    """3,000 rows of the 60 most frequent HS6 (a random sample of KCS has too little history per key)."""
    if not KCS.is_dir():
        pytest.skip("KCS data not present")
    mapping = load_mapping(ROOT / "examples" / "mappings" / "kcs.yaml")
    frame = read_csv([KCS / "df_syn_train_eng.csv"], mapping, labels=True)
    frequent = frame["hs6"].value_counts().index[:60]
    sample = frame[frame["hs6"].isin(frequent)].sample(3000, random_state=1).sort_values("date").reset_index(drop=True)
    train, test = sample.iloc[:2400], sample.iloc[2400:]
    model = fit(train, FitOptions(n_estimators=150, learning_rate=0.05, num_leaves=31, holdout_fraction=0.0))
    y = test["fraud"].to_numpy()
    scores = model.score(test.drop(columns=["fraud"])).fraud
    assert precision_at(y, scores, 0.10) > 1.6 * y.mean()
    assert auc(y, scores) > 0.62


def test_a_plain_table_of_a_few_fields_is_scored_the_missing_ones_taken_as_unknown(model):
    plain = pd.DataFrame({"importer": ["IMP1", "NEW"], "hs_code": [100630, "870323"], "value": [0, None]})
    scores = model.score(plain).fraud
    assert scores.shape == (2,) and np.isfinite(scores).all()
