"""An analyst measures a targeting model the way a control service lives it: by what inspecting
the top of the ranking catches at a fixed budget, against what a perfect oracle would catch, on
a later period than the model learnt from; and, week by week, learning only from what was
actually inspected."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avance.risk.learning.evaluation import (
    EvaluationError,
    SimulationOptions,
    auc,
    budget,
    evaluate,
    evaluate_frame,
    fraction_cutoff,
    per_declaration,
    ranking,
    simulate,
    split_by_time,
)

# --- budgets and ranking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "n", "k"),
    [
        (0.10, 30, 3),  # 0.1 * 30 is 3.0000000000000004 in binary floating point: still 3
        (0.07, 100, 7),  # 7.000000000000001 in floating point: still 7
        (0.05, 10, 1),  # half a declaration: one is inspected
        (0.15, 10, 2),
        (0.01, 8134, 82),
        (0.05, 8134, 407),
        (1.0, 5, 5),
        (0.0, 5, 0),
        (0.5, 0, 0),
    ],
)
def test_the_budget_at_a_rate_is_the_ceiling_of_rate_times_n_computed_exactly(rate, n, k):
    assert budget(rate, n) == k


def test_ties_in_score_are_inspected_in_input_order_and_missing_scores_last():
    assert ranking([0.5, np.nan, 0.9, 0.5, 0.9]).tolist() == [2, 4, 0, 3, 1]


# --- metrics against hand-computed cases -------------------------------------------------------

Y = [1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
S = [0.9, 0.8, 0.8, 0.7, 0.1, 0.6, 0.5, 0.4, 0.3, 0.2]
R = [100, 0, 50, 0, 0, 300, 0, 0, 0, 0]


def test_precision_recall_and_oracle_at_each_budget_match_the_hand_count():
    ev = evaluate(Y, S, R, rates=(0.1, 0.2, 0.3, 0.5))
    one, two, three, five = ev.at
    # Top 1: row 0 (fraud).
    assert (one.k, one.caught, one.precision, one.oracle_caught, one.vs_oracle) == (1, 1, 1.0, 1, 1.0)
    assert one.recall == pytest.approx(1 / 3)
    # Top 2: rows 0 and 1 (row 1 ties with row 2 at 0.8 and comes first): one fraud of two.
    assert (two.k, two.caught, two.precision, two.oracle_precision) == (2, 1, 0.5, 1.0)
    assert two.vs_oracle == pytest.approx(0.5)
    # Top 3: rows 0, 1, 2: two frauds; the oracle would have caught all three.
    assert (three.caught, three.oracle_caught) == (2, 3)
    assert three.precision == pytest.approx(2 / 3) and three.vs_oracle == pytest.approx(2 / 3)
    # Top 5: more inspections than frauds: the oracle's precision is 3/5, ours 3/5 too.
    assert (five.k, five.caught, five.oracle_precision, five.vs_oracle) == (5, 3, 0.6, 1.0)
    assert (ev.n, ev.positives, ev.base_rate) == (10, 3, 0.3)


def test_revenue_caught_is_normalised_by_the_largest_revenues_an_oracle_picks():
    ev = evaluate(Y, S, R, rates=(0.1, 0.2, 0.3))
    one, two, three = ev.at
    assert ev.total_revenue == 450
    assert (one.revenue, one.oracle_revenue) == (100, 300)
    assert one.revenue_vs_oracle == pytest.approx(1 / 3) and one.revenue_recall == pytest.approx(100 / 450)
    assert (two.revenue, two.oracle_revenue, two.revenue_vs_oracle) == (100, 400, 0.25)
    assert (three.revenue, three.oracle_revenue, three.revenue_recall) == (150, 450, pytest.approx(1 / 3))


def test_without_revenue_labels_no_revenue_figure_is_made_up():
    ev = evaluate(Y, S)
    assert ev.total_revenue is None
    assert all(a.revenue is None and a.revenue_vs_oracle is None for a in ev.at)


def test_auc_counts_half_a_pair_for_tied_scores():
    # Pairs (positive, negative): (0.8, 0.8) half, (0.8, 0.1) won, (0.3, 0.8) lost, (0.3, 0.1) won.
    assert auc([1, 0, 1, 0], [0.8, 0.8, 0.3, 0.1]) == pytest.approx(2.5 / 4)
    assert auc([1, 1, 0], [0.2, 0.3, 0.9]) == 0.0
    assert auc([0, 0, 0], [0.1, 0.2, 0.3]) is None  # undefined with one class


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])), min_size=2, max_size=30))
def test_auc_equals_the_mann_whitney_pair_count(pairs):
    y = [p[0] for p in pairs]
    s = [p[1] for p in pairs]
    positives = [b for a, b in pairs if a == 1]
    negatives = [b for a, b in pairs if a == 0]
    if not positives or not negatives:
        assert auc(y, s) is None
        return
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(positives, negatives))
    assert auc(y, s) == pytest.approx(wins / (len(positives) * len(negatives)))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1), st.floats(0, 1e9)), min_size=1, max_size=60),
    st.lists(st.floats(0.001, 1.0), min_size=1, max_size=4),
)
def test_no_ranking_beats_the_oracle(rows, rates):
    y = [r[0] for r in rows]
    ev = evaluate(y, [r[1] for r in rows], [r[2] * r[0] for r in rows], rates)
    for a in ev.at:
        assert 0 <= a.caught <= a.oracle_caught <= a.k
        assert a.precision <= a.oracle_precision + 1e-12
        assert a.revenue <= a.oracle_revenue * (1 + 1e-9) + 1e-6
        if a.vs_oracle is not None:
            assert 0 <= a.vs_oracle <= 1


def test_bad_labels_or_revenue_are_refused():
    with pytest.raises(ValueError):
        evaluate([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        evaluate([0, 1], [0.1, 0.2], [1.0, -5.0])
    with pytest.raises(ValueError):
        evaluate([0, 1], [0.1])


def test_a_declaration_is_inspected_whole_scored_by_its_riskiest_item():
    units = per_declaration(["A", "A", "B", "C", "C"], [0, 1, 0, 0, 0], [0.2, 0.1, 0.5, 0.3, 0.9], [0, 40, 0, 0, 0])
    assert units.keys.tolist() == ["A", "B", "C"]
    assert units.y.tolist() == [1, 0, 0]
    assert units.scores.tolist() == [0.2, 0.5, 0.9]
    assert units.revenue.tolist() == [40, 0, 0]


# --- time splits -------------------------------------------------------------------------------


def _frame(days: list[date], fraud: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [str(i) for i in range(len(days))],
            "declaration": [str(i) for i in range(len(days))],
            "date": pd.to_datetime(days),
            "fraud": fraud if fraud is not None else [i % 2 for i in range(len(days))],
        }
    )


def test_the_model_is_fitted_on_days_before_the_cut_and_evaluated_from_it_on():
    frame = _frame([date(2020, 12, 30), date(2020, 12, 31), date(2021, 1, 1), date(2021, 1, 2)])
    past, recent = split_by_time(frame, date(2021, 1, 1))
    assert past["id"].tolist() == ["0", "1"] and recent["id"].tolist() == ["2", "3"]


def test_a_fraction_takes_the_latest_rows_and_never_splits_a_day():
    days = [date(2021, 1, 1)] * 4 + [date(2021, 1, 2)] * 3 + [date(2021, 1, 3)] * 3
    assert fraction_cutoff(pd.Series(pd.to_datetime(days)), 0.2) == date(2021, 1, 3)  # row 8 of 10
    assert fraction_cutoff(pd.Series(pd.to_datetime(days)), 0.5) == date(2021, 1, 2)  # row 5 of 10
    past, recent = split_by_time(_frame(days), fraction=0.5)
    assert len(past) == 4 and len(recent) == 6


def test_a_cut_outside_the_data_is_a_clear_error():
    frame = _frame([date(2021, 1, 1), date(2021, 1, 2)])
    with pytest.raises(EvaluationError) as caught:
        split_by_time(frame, date(2022, 1, 1))
    assert "2021-01-01" in caught.value.message("en") and "2022-01-01" in caught.value.message("en")


def test_evaluating_a_frame_needs_its_labels():
    frame = _frame([date(2021, 1, 1), date(2021, 1, 2)], fraud=[1.0, np.nan])
    with pytest.raises(EvaluationError):
        evaluate_frame(frame, [0.1, 0.2])


# --- the weekly simulation ---------------------------------------------------------------------


def _weekly_frame(weeks: int = 6, per_day: int = 10, seed: int = 3) -> pd.DataFrame:
    """Declarations over ``weeks`` weeks from Monday 2021-01-04: fraud when hs6 x origin is risky."""
    rng = np.random.default_rng(seed)
    rows = []
    start = date(2021, 1, 4)
    for day in range(weeks * 7):
        for i in range(per_day):
            hs = rng.choice(["851712", "870323", "610910", "940360"])
            origin = rng.choice(["CN", "FR", "TR"])
            risky = (hs, origin) in {("851712", "CN"), ("610910", "TR")}
            fraud = float(rng.random() < (0.7 if risky else 0.03))
            key = f"D{day:03d}{i:02d}"
            rows.append(
                {
                    "id": key,
                    "declaration": key,
                    "date": pd.Timestamp(start + timedelta(days=day)),
                    "hs_code": hs,
                    "origin": origin,
                    "importer": f"IMP{rng.integers(0, 30)}",
                    "value": float(rng.lognormal(10, 1)),
                    "net_mass": float(rng.lognormal(6, 1)),
                    "fraud": fraud,
                    "recovered": float(rng.lognormal(12, 1)) if fraud else 0.0,
                }
            )
    from avance.risk.learning.frame import normalize

    return normalize(pd.DataFrame(rows))


def _by_value_fitter(calls: list[pd.DataFrame]):
    """Records what each fit is given; scores by declared value (a fixed, known ranking)."""

    def fit(frame: pd.DataFrame):
        calls.append(frame.copy())
        return lambda rows: rows["value"].to_numpy()

    return fit


def test_each_week_the_budget_goes_to_the_top_scores_plus_a_random_exploration_share():
    frame = _weekly_frame()
    calls: list[pd.DataFrame] = []
    result = simulate(frame, date(2021, 1, 25), _by_value_fitter(calls), SimulationOptions(budget=0.1, exploration=0.25, seed=7))
    assert [w.week for w in result.weeks] == ["2021-W04", "2021-W05", "2021-W06"]
    for week in result.weeks:
        assert week.declarations == 70
        assert week.inspected == 7  # ceil(0.1 * 70)
        assert week.explored == 2  # round(0.25 * 7), halves up
        rows = frame[(frame["date"] >= pd.Timestamp(week.start)) & (frame["date"] < pd.Timestamp(week.start + timedelta(days=7)))]
        top = set(rows.sort_values("value", ascending=False, kind="stable")["declaration"].head(5))
        assert top <= set(week.inspected_keys)
        assert len(set(week.inspected_keys) - top) == 2  # drawn from outside the top
        truth = rows.set_index("declaration")["fraud"]
        assert week.caught == int(truth[list(week.inspected_keys)].sum())
        assert week.frauds == int(truth.sum())
    again = simulate(frame, date(2021, 1, 25), _by_value_fitter([]), SimulationOptions(budget=0.1, exploration=0.25, seed=7))
    assert [w.inspected_keys for w in again.weeks] == [w.inspected_keys for w in result.weeks]  # seeded: reproducible


def test_refits_see_the_initial_period_and_only_the_labels_of_what_was_inspected():
    frame = _weekly_frame()
    test_from = date(2021, 1, 25)
    # Poison every label of the simulated weeks: a refit that saw an uninspected declaration's row
    # would carry the poison. Inspected declarations reveal their (poisoned) label, as recorded.
    poisoned = frame.copy()
    later = poisoned["date"] >= pd.Timestamp(test_from)
    poisoned["poison"] = later
    calls: list[pd.DataFrame] = []
    result = simulate(poisoned, test_from, _by_value_fitter(calls), SimulationOptions(budget=0.05, exploration=0.1, seed=1))
    assert len(calls) == len(result.weeks)  # initial fit + a refit after each week but the last
    assert not calls[0]["poison"].any() and len(calls[0]) == int((~later).sum())
    revealed: set[str] = set()
    for week, training in zip(result.weeks, calls[1:] + [None]):
        revealed |= set(week.inspected_keys)
        if training is None:
            break
        seen = set(training.loc[training["poison"], "declaration"])
        assert seen == revealed  # exactly the inspected so far, never any other row of the period
        assert (~training["poison"]).sum() == (~later).sum()  # the whole initial period stays


def test_refitting_every_two_weeks_fits_half_as_often():
    calls: list[pd.DataFrame] = []
    simulate(_weekly_frame(weeks=8), date(2021, 1, 18), _by_value_fitter(calls), SimulationOptions(budget=0.05, retrain_every=2))
    assert len(calls) == 3  # initial, after weeks 2 and 4 of the 6 simulated (none after the last)


def test_the_simulation_with_the_real_model_learns_from_revealed_labels_and_reports_revenue():
    from avance.risk.learning.model import FitOptions, fit

    frame = _weekly_frame(weeks=5, per_day=12)
    fits: list[int] = []

    def real_fit(training: pd.DataFrame):
        fits.append(len(training))
        model = fit(training, FitOptions(n_estimators=30, holdout_fraction=0.0, recovery_estimators=20))
        return lambda rows: model.score(rows).fraud

    options = SimulationOptions(budget=0.1, exploration=0.0)
    result = simulate(frame, date(2021, 1, 25), real_fit, options)
    assert len(fits) == 2 and fits[1] == fits[0] + result.weeks[0].inspected  # the refit adds the inspected declarations
    assert result.precision > 2 * (result.frauds / sum(w.declarations for w in result.weeks))  # far above the base rate
    assert result.revenue is not None and 0 < result.revenue <= result.oracle_revenue
    document = result.to_dict()
    assert document["total"]["caught"] == result.caught and len(document["weeks"]) == 2


@pytest.mark.parametrize("options", [dict(budget=0), dict(budget=1.5), dict(exploration=-0.1), dict(retrain_every=0)])
def test_impossible_simulation_settings_are_refused(options):
    with pytest.raises(EvaluationError):
        SimulationOptions(**options)
