"""The selection policy as an administration uses it: lanes under the inspection budget it sets per
office and period, profiles that always apply, exploration that keeps the model learning, random
floors that keep every trader exposed, in batch (a vessel's manifest) and streaming (each lodging)."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avance.kit.datafiles import DataFileError, load_yaml_model
from avance.kit.i18n import catalog
from avance.declarations.assessment import Lane
from avance.risk.policy.draw import Draw
from avance.risk.policy.model import (
    Candidate,
    PolicyConfig,
    StreamingSelector,
    load_policy,
    period_start,
    plan_batch,
    select_batch,
)

DRAW = Draw("test", b"selection secret of the policy tests")  # what a node's secret gives: a fixed key here
DAY = date(2026, 6, 1)  # a Monday
PORT, AIRPORT = "SN-DKR-PORT", "SN-DSS-AIR"


def policy(text: str = "") -> PolicyConfig:
    return load_yaml_model(PolicyConfig, text="version: 1\n" + text, where="policy.yaml")


def manifest(n: int, *, office: str = PORT, seed: int = 1, prefix: str = "SN001/LRN", **fields) -> list[Candidate]:
    rng = random.Random(seed)
    return [Candidate(f"{prefix}-{k}", office, DAY, rng.random(), **fields) for k in range(n)]


def lanes(decisions) -> Counter:
    return Counter(d.lane for d in decisions)


def reference_table(rng: random.Random, a: float, b: float) -> list[float]:
    """The 101-point quantile table of a model's training scores."""
    scores = sorted(rng.betavariate(a, b) for _ in range(20000))
    return [scores[min(round(i / 100 * len(scores)), len(scores) - 1)] for i in range(101)]


# ----------------------------------------------------------------------------- the policy file


def test_the_shipped_policy_sends_5_percent_to_examination_and_10_percent_to_documentary_checks():
    config = load_policy()
    rates = config.rates(PORT)
    assert (rates.red, rates.yellow, rates.blue) == (Decimal("0.05"), Decimal("0.10"), Decimal("0.0"))
    assert rates.exploration == Decimal("0.10") and rates.exploration_mode == "random"
    assert config.period == "day" and config.objective == "hits"


def test_an_office_override_changes_only_what_it_names(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\noffices:\n  SN-DKR-PORT: {red: 0.08, min_random: {red: 0.01}}\n", encoding="utf-8")
    config = load_policy(path)
    port, air = config.rates(PORT), config.rates(AIRPORT)
    assert port.red == Decimal("0.08") and port.yellow == Decimal("0.10")
    assert port.min_random.red == Decimal("0.01") and port.min_random.yellow == Decimal("0.01")
    assert air.red == Decimal("0.05")


BAD_FILES = [
    ("default: {red: 1.5}", "default/red"),
    ("default: {red: -0.1}", "default/red"),
    ("default: {yellow: lots}", "default/yellow"),
    ("period: year", "period"),
    ("objective: profit", "objective"),
    ("default: {exploration_mode: greedy}", "default/exploration_mode"),
    ("default: {red: 0.5, yellow: 0.4, blue: 0.2}", "default: Value error, red + yellow + blue = 1.1 is more than 1"),
    ("default: {red: 0.01, min_random: {red: 0.02}}", "min_random.red (0.02) is more than red (0.01)"),
    ("offices: {SN-DKR-PORT: {red: 0.95}}", "offices: Value error, SN-DKR-PORT: red + yellow + blue = 1.05 is more than 1"),
    ("offices: {SN-DKR-PORT: {rouge: 0.1}}", "offices/SN-DKR-PORT/rouge"),
    ("streaming: {window: 100, warmup: 500}", "warmup (500) is more than window (100)"),
    ("default: {red: .nan}", "line 2, column 16"),
    ("default: {red: 'NaN'}", "default/red"),
    ("default: [0.05]", "default"),
]


@pytest.mark.parametrize("text, field", BAD_FILES)
def test_a_bad_policy_file_is_rejected_naming_the_field(text: str, field: str):
    with pytest.raises(DataFileError) as caught:
        policy(text)
    assert caught.value.path == "policy.yaml"
    assert field in caught.value.detail


rate_text = st.decimals(min_value=Decimal("-0.5"), max_value=Decimal("1.5"), places=3, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(red=rate_text, yellow=rate_text, blue=rate_text, floor=rate_text, office=st.booleans())
def test_a_policy_loads_exactly_when_its_rates_are_consistent(red, yellow, blue, floor, office):
    """Rates within [0, 1], red + yellow + blue at most 1, the random floor within the red budget."""
    body = f"{{red: {red}, yellow: {yellow}, blue: {blue}, min_random: {{red: {floor}, yellow: 0}}}}"
    text = f"offices: {{{PORT}: {body}}}" if office else f"default: {body}"
    consistent = all(0 <= r <= 1 for r in (red, yellow, blue, floor)) and red + yellow + blue <= 1 and floor <= red
    if consistent:
        rates = policy(text).rates(PORT)
        assert (rates.red, rates.yellow, rates.blue, rates.min_random.red) == (red, yellow, blue, floor)
    else:
        with pytest.raises(DataFileError) as caught:
            policy(text)
        detail = caught.value.detail
        assert detail.startswith("offices" if office else "default")
        if office:
            assert PORT in detail
        elif not 0 <= red <= 1:
            assert detail.startswith("default/red")


# ----------------------------------------------------------------------------- batch: budgets


def test_a_manifest_gets_exactly_each_offices_budget():
    config = policy("offices: {SN-DKR-PORT: {red: 0.08, yellow: 0.12}}")
    batch = manifest(400, office=PORT) + manifest(200, office=AIRPORT, seed=2, prefix="SN002/LRN")
    plan = plan_batch(config, batch, draw=DRAW)
    assert len(plan.decisions) == 600
    by_office = {b.office: b for b in plan.offices}
    port = lanes(d for d, c in zip(plan.decisions, batch) if c.office == PORT)
    air = lanes(d for d, c in zip(plan.decisions, batch) if c.office == AIRPORT)
    assert (port[Lane.RED], port[Lane.YELLOW], port[Lane.GREEN]) == (32, 48, 320)  # 8% and 12% of 400
    assert (air[Lane.RED], air[Lane.YELLOW], air[Lane.GREEN]) == (10, 20, 170)  # 5% and 10% of 200
    assert (by_office[PORT].red_budget, by_office[AIRPORT].red_budget) == (32, 10)
    assert not any(b.over_budget for b in plan.offices)


def test_the_model_examines_the_highest_scores_and_the_next_ones_get_documentary_checks():
    config = policy("default: {red: 0.05, yellow: 0.10, blue: 0.10, min_random: {red: 0, yellow: 0}, exploration: 0}")
    batch = manifest(200)
    decisions = select_batch(config, batch, draw=DRAW)
    by_rank = sorted(zip(decisions, batch), key=lambda pair: -pair[1].fraud)
    assert [d.lane for d, _ in by_rank] == [Lane.RED] * 10 + [Lane.YELLOW] * 20 + [Lane.BLUE] * 20 + [Lane.GREEN] * 150
    assert [d.rank for d, _ in by_rank] == list(range(1, 201))
    tenth = by_rank[9][1].fraud
    assert all(d.threshold == tenth for d, _ in by_rank[:10])


def test_the_budget_of_a_small_manifest_is_rounded_at_random_so_it_is_exact_on_average():
    """7 declarations at 5% make 0.35 examinations: some manifests get one, most none, 0.35 on average."""
    config = policy()
    reds = []
    for m in range(600):
        decisions = select_batch(config, manifest(7, seed=m, prefix=f"MANIFEST{m}/LRN"), draw=DRAW)
        reds.append(lanes(decisions)[Lane.RED])
    assert set(reds) == {0, 1}
    assert abs(sum(reds) / len(reds) - 0.35) < 0.06
    again = [lanes(select_batch(config, manifest(7, seed=m, prefix=f"MANIFEST{m}/LRN"), draw=DRAW))[Lane.RED] for m in range(600)]
    assert again == reds


def test_a_batch_is_decided_the_same_way_whatever_the_order_of_its_declarations():
    config = policy("default: {exploration: 0.5}")
    batch = manifest(300)
    first = {c.key: d for c, d in zip(batch, select_batch(config, batch, draw=DRAW))}
    shuffled = batch[:]
    random.Random(9).shuffle(shuffled)
    second = {c.key: d for c, d in zip(shuffled, select_batch(config, shuffled, draw=DRAW))}
    assert first == second
    other_keys = [Candidate(c.key + "-B", c.office, c.day, c.fraud) for c in batch]
    explored = {c.key for c, d in zip(batch, select_batch(config, batch, draw=DRAW)) if d.basis == "exploration"}
    explored_other = {c.key[:-2] for c, d in zip(other_keys, select_batch(config, other_keys, draw=DRAW)) if d.basis == "exploration"}
    assert explored and explored != explored_other  # the draws come from the keys


# ----------------------------------------------------------------------------- batch: profiles


def test_profile_reds_count_against_the_budget():
    config = policy("default: {red: 0.05, min_random: {red: 0}, exploration: 0}")
    batch = manifest(200)
    forced_keys = {c.key for c in sorted(batch, key=lambda c: c.fraud)[:3]}  # three low scores forced by profiles
    batch = [Candidate(c.key, c.office, c.day, c.fraud, forced=Lane.RED if c.key in forced_keys else None) for c in batch]
    plan = plan_batch(config, batch, draw=DRAW)
    red = [(c, d) for c, d in zip(batch, plan.decisions) if d.lane is Lane.RED]
    assert len(red) == 10
    assert {c.key for c, d in red if d.basis == "profile"} == forced_keys
    assert sum(1 for _, d in red if d.basis == "model") == 7
    assert plan.offices[0].forced_red == 3 and not plan.offices[0].over_budget


def test_profiles_still_apply_beyond_the_budget_and_the_decision_says_so():
    config = policy()
    batch = manifest(100)  # red budget: 5
    batch = [Candidate(c.key, c.office, c.day, c.fraud, forced=Lane.RED if k < 8 else None) for k, c in enumerate(batch)]
    plan = plan_batch(config, batch, draw=DRAW)
    forced = plan.decisions[:8]
    assert all(d.lane is Lane.RED and d.basis == "profile" and d.over_budget for d in forced)
    assert not any(d.lane is Lane.RED and d.basis == "model" for d in plan.decisions)
    assert plan.offices[0].red == 8 and plan.offices[0].red_budget == 5 and plan.offices[0].over_budget
    reason = forced[0].reason()
    assert reason.code == "policy.profile.over_budget"
    assert "even beyond the budget of office SN-DKR-PORT (5% of declarations" in reason.message("en")
    assert "même au-delà du budget du bureau SN-DKR-PORT (5\u202f% des déclarations" in reason.message("fr")


def test_a_forced_lane_is_a_minimum_the_strictest_lane_wins():
    config = policy("default: {min_random: {red: 0, yellow: 0}, exploration: 0}")
    batch = manifest(100)
    top = max(batch, key=lambda c: c.fraud)
    low = min(batch, key=lambda c: c.fraud)
    changed = {top.key: Lane.YELLOW, low.key: Lane.YELLOW}
    batch = [Candidate(c.key, c.office, c.day, c.fraud, forced=changed.get(c.key)) for c in batch]
    decisions = {c.key: d for c, d in zip(batch, select_batch(config, batch, draw=DRAW))}
    assert decisions[top.key].lane is Lane.RED and decisions[top.key].basis == "model"
    assert decisions[low.key].lane is Lane.YELLOW and decisions[low.key].basis == "profile"
    assert lanes(decisions.values())[Lane.YELLOW] == 10  # the forced yellow counts against the yellow budget


# ----------------------------------------------------------------------------- batch: exploration, floors, objective


def test_exploration_takes_a_tenth_of_the_examination_budget_from_outside_the_models_top_scores():
    config = policy("default: {red: 0.05, min_random: {red: 0.002, yellow: 0}, exploration: 0.10}")
    batch = manifest(4000)  # red budget 200, of which 20 for exploration
    decisions = select_batch(config, batch, draw=DRAW)
    explored = [d for d in decisions if d.basis == "exploration"]
    model = [d for d in decisions if d.basis == "model" and d.lane is Lane.RED]
    assert len(explored) == 20 and len(model) == 180
    assert all(d.lane is Lane.RED for d in explored)
    assert max(d.rank for d in model) == 180
    assert min(d.rank for d in explored) > 180  # none of them is a model pick
    assert sum(1 for d in explored if d.rank > 2000) >= 5  # drawn over the whole range, not just near the cut
    reason = explored[0].reason()
    assert reason.message("en").startswith("Selected at random for the red lane (physical examination), for exploration: 10% of the examination budget")


def test_uncertainty_exploration_examines_what_the_model_is_least_sure_of():
    config = policy("default: {red: 0.05, min_random: {red: 0, yellow: 0}, exploration: 0.2, exploration_mode: uncertainty}")
    rng = random.Random(4)
    batch = [Candidate(f"K{k}", PORT, DAY, rng.betavariate(1, 3)) for k in range(1000)]  # budget 50, 10 explored
    decisions = select_batch(config, batch, draw=DRAW)
    explored = [(c, d) for c, d in zip(batch, decisions) if d.basis == "exploration"]
    assert len(explored) == 10
    rest = [c for c, d in zip(batch, decisions) if d.lane is not Lane.RED]
    least_sure = min(c.fraud * (1 - c.fraud) for c, _ in explored)
    assert all(c.fraud * (1 - c.fraud) <= least_sure for c in rest)
    assert "the model is least certain about this declaration (risk score" in explored[0][1].reason().message("en")


def test_random_floors_keep_every_trader_exposed_even_with_uncertainty_exploration():
    config = policy("default: {red: 0.05, yellow: 0.10, min_random: {red: 0.01, yellow: 0.02}, exploration: 0.1, exploration_mode: uncertainty}")
    plan = plan_batch(config, manifest(1000), draw=DRAW)
    office = plan.offices[0]
    assert (office.random_red, office.random_yellow, office.exploration) == (10, 20, 5)
    assert (office.red, office.yellow) == (50, 100)
    randoms = [d for d in plan.decisions if d.basis == "random"]
    assert sum(1 for d in randoms if d.rank > 500) > 5  # low scores too
    random_red = next(d for d in randoms if d.lane is Lane.RED)
    assert "at least 1% of declarations are checked at random" in random_red.reason().message("en")


def test_the_revenue_objective_examines_the_largest_expected_recoveries():
    config = policy("objective: revenue\ndefault: {min_random: {red: 0, yellow: 0}, exploration: 0}")
    rng = random.Random(5)
    batch = [Candidate(f"K{k}", PORT, DAY, rng.random(), recovery=rng.random() * 5_000_000, currency="XOF") for k in range(200)]
    decisions = select_batch(config, batch, draw=DRAW)
    by_recovery = sorted(zip(batch, decisions), key=lambda pair: -(pair[0].recovery or 0))
    assert all(d.lane is Lane.RED and d.objective == "revenue" for _, d in by_recovery[:10])
    assert all(d.lane is not Lane.RED for _, d in by_recovery[10:])
    message = by_recovery[0][1].reason().message("en")
    assert re.search(r"its expected recovery [\d,]+ XOF ranks 1 of 200", message), message
    # a model without a revenue estimate: the policy falls back to fraud probabilities
    hits = [Candidate(c.key, c.office, c.day, c.fraud) for c in batch]
    fallback = select_batch(config, hits, draw=DRAW)
    top_fraud = sorted(zip(hits, fallback), key=lambda pair: -pair[0].fraud)[:10]
    assert all(d.lane is Lane.RED and d.objective == "hits" for _, d in top_fraud)


candidate_sets = st.lists(
    st.tuples(st.floats(0, 1), st.sampled_from([None, None, None, Lane.RED, Lane.YELLOW, Lane.BLUE, Lane.GREEN])),
    max_size=80,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=candidate_sets,
    red=st.decimals(0, "0.5", places=2),
    yellow=st.decimals(0, "0.3", places=2),
    floor=st.decimals(0, "0.05", places=3),
    mode=st.sampled_from(["random", "uncertainty"]),
)
def test_any_batch_respects_profiles_the_budget_and_the_floor(rows, red, yellow, floor, mode):
    floor = min(floor, red)
    config = PolicyConfig.model_validate({"default": {"red": red, "yellow": yellow, "min_random": {"red": floor, "yellow": 0}, "exploration_mode": mode}})
    batch = [Candidate(f"L{k}", PORT, DAY, fraud, forced=forced) for k, (fraud, forced) in enumerate(rows)]
    plan = plan_batch(config, batch, draw=DRAW)
    for c, d in zip(batch, plan.decisions):
        assert c.forced is None or d.lane.severity >= c.forced.severity
    if batch:
        office = plan.offices[0]
        floor_count = sum(1 for d in plan.decisions if d.lane is Lane.RED and d.basis in ("random", "exploration"))
        assert office.red == min(len(batch), max(office.red_budget, office.forced_red + floor_count))
        assert office.red_budget in (int(red * len(batch)), int(red * len(batch)) + 1)
    assert select_batch(config, list(reversed(batch)), draw=DRAW) == list(reversed(plan.decisions))


# ----------------------------------------------------------------------------- streaming


def stream(selector: StreamingSelector, scores, *, office=PORT, start=DAY, per_day=2000, prefix="S", forced=None):
    out = []
    for k, score in enumerate(scores):
        day = start + timedelta(days=k // per_day)
        candidate = Candidate(f"{prefix}{k}", office, day, score, forced=forced(k) if forced else None)
        out.append((candidate, selector.decide(candidate)))
    return out


@pytest.mark.parametrize("shape", [(1, 8), (3, 4), (1, 40)], ids=["as-trained", "scores-drift-up", "scores-drift-down"])
def test_streaming_keeps_each_days_red_share_within_one_point_of_target(shape):
    """20,000 lodgings over 10 days at Dakar port (8%): the model's reference is its training
    distribution (beta 1, 8), the stream may have drifted away from it."""
    config = policy("offices: {SN-DKR-PORT: {red: 0.08}}")
    rng = random.Random(11)
    selector = StreamingSelector(config, reference_table(rng, 1, 8), draw=DRAW)
    decided = stream(selector, [rng.betavariate(*shape) for _ in range(20000)])
    per_day: dict[date, list[int]] = {}
    for c, d in decided:
        counts = per_day.setdefault(c.day, [0, 0, 0])
        counts[0] += 1
        counts[1] += d.lane is Lane.RED
        counts[2] += d.lane is Lane.YELLOW
    assert len(per_day) == 10
    for lodged, red, yellow in per_day.values():
        assert abs(red / lodged - 0.08) <= 0.01
        assert abs(yellow / lodged - 0.10) <= 0.01
    explored = sum(1 for _, d in decided if d.basis == "exploration")
    assert abs(explored / 20000 - 0.008) < 0.003  # 10% of the 8% examination budget


def test_a_new_period_resets_the_quota():
    """A day when profiles force many examinations leaves no room for the model; the next day starts afresh."""
    config = policy()
    rng = random.Random(12)
    selector = StreamingSelector(config, reference_table(rng, 1, 1), draw=DRAW)
    first = stream(selector, [rng.random() for _ in range(1000)], per_day=1000, forced=lambda k: Lane.RED if k % 10 == 0 else None)
    assert not any(d.basis == "model" and d.lane is Lane.RED for _, d in first[200:])  # the day's examinations are used up
    assert all(d.over_budget for c, d in first[200:] if c.forced is Lane.RED)
    second = stream(selector, [rng.random() for _ in range(1000)], start=DAY + timedelta(days=1), per_day=1000, prefix="T")
    model_reds = sum(1 for _, d in second if d.basis == "model" and d.lane is Lane.RED)
    assert model_reds >= 40 and abs(sum(1 for _, d in second if d.lane is Lane.RED) / 1000 - 0.05) <= 0.01
    states = {(s.period_start, s.lodged) for s in selector.counters()}
    assert states == {(DAY, 1000), (DAY + timedelta(days=1), 1000)}


def test_quota_periods_start_on_the_day_monday_or_first_of_the_month():
    assert period_start(date(2026, 6, 4), "day") == date(2026, 6, 4)
    assert period_start(date(2026, 6, 4), "week") == date(2026, 6, 1)
    assert period_start(date(2026, 6, 4), "month") == date(2026, 6, 1)
    assert period_start(date(2026, 5, 31), "week") == date(2026, 5, 25)
    config = policy("period: week")
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    stream(selector, [0.5] * 14, per_day=2)  # Monday to Sunday, then the next Monday
    assert [(s.period_start, s.lodged) for s in selector.counters()] == [(date(2026, 6, 1), 14)]
    stream(selector, [0.5] * 3, start=date(2026, 6, 8), prefix="W2-")
    assert [(s.period_start, s.lodged) for s in selector.counters()] == [(date(2026, 6, 1), 14), (date(2026, 6, 8), 3)]


def test_seed_restores_the_quota_after_a_restart():
    config = policy()
    rng = random.Random(13)
    table = reference_table(rng, 1, 8)
    scores = [rng.betavariate(1, 8) for _ in range(2000)]
    before = StreamingSelector(config, table, draw=DRAW)
    morning = stream(before, scores[:1000], per_day=2000)
    (state,) = before.counters()
    restarted = StreamingSelector(config, table, draw=DRAW)
    restarted.seed(state.office, state.period_start, state.lodged, state.red, state.yellow)
    afternoon = stream(restarted, scores[1000:], per_day=2000, prefix="A")
    reds = sum(1 for _, d in morning + afternoon if d.lane is Lane.RED)
    assert abs(reds / 2000 - 0.05) <= 0.01
    (after,) = restarted.counters()
    assert (after.lodged, after.red) == (2000, reds)
    # a quota already used up: even the highest score is not examined until the share comes back down
    full = StreamingSelector(config, table, draw=DRAW)
    full.seed(PORT, period_start=DAY, lodged=100, red=20, yellow=10)
    high = Candidate("HIGH", PORT, DAY, 0.99)
    assert StreamingSelector(config, table, draw=DRAW).decide(high).lane is Lane.RED
    decision = full.decide(high)
    assert (decision.lane, decision.basis) == (Lane.YELLOW, "model")  # a documentary check instead


@pytest.mark.parametrize(
    "args",
    [(-1, 0, 0), (10, 11, 0), (10, 5, 6), (10, 1.5, 0)],
    ids=["negative", "more-red-than-lodged", "more-controls-than-lodged", "not-whole"],
)
def test_seed_refuses_impossible_counters(args):
    with pytest.raises(ValueError):
        StreamingSelector(policy(), draw=DRAW).seed(PORT, DAY, *args)


def test_streaming_never_exceeds_one_and_a_half_times_the_target_except_for_profiles():
    """Worst case for a quota: the riskiest declarations all arrive first."""
    config = policy()
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    rng = random.Random(14)
    scores = sorted((rng.random() for _ in range(3000)), reverse=True)
    red = 0
    decided = stream(selector, scores, per_day=3000)
    for n, (_, d) in enumerate(decided, start=1):
        red += d.lane is Lane.RED
        assert red <= int(1.5 * 0.05 * n + 1e-9) + 1  # one examination allowed at the start of a period
    assert decided[0][1].lane is Lane.RED
    assert any(d.capped for _, d in decided)
    capped = next(d for _, d in decided if d.capped)
    assert "office SN-DKR-PORT has reached its ceiling for it in the current period" in capped.reason().message("en")
    # profiles are not capped
    forced = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    decided = stream(forced, scores[:100], per_day=3000, prefix="F", forced=lambda k: Lane.RED)
    assert all(d.lane is Lane.RED for _, d in decided) and decided[-1][1].over_budget


def test_random_floors_are_met_in_expectation_whatever_the_score():
    config = policy("default: {red: 0.05, yellow: 0.10, min_random: {red: 0.01, yellow: 0.02}, exploration: 0.1}")
    rng = random.Random(15)
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    decided = stream(selector, [rng.random() for _ in range(20000)], per_day=5000)
    low = [d for c, d in decided if c.fraud < 0.5]  # far below any model threshold
    red = sum(1 for d in low if d.lane is Lane.RED) / len(low)
    yellow = sum(1 for d in low if d.lane is Lane.YELLOW) / len(low)
    assert abs(red - 0.01) < 0.004 and abs(yellow - 0.02) < 0.006
    assert all(d.basis in ("random", "exploration") for d in low if d.lane is not Lane.GREEN)


def test_streaming_uncertainty_exploration_examines_scores_just_short_of_the_threshold():
    config = policy("default: {red: 0.05, min_random: {red: 0, yellow: 0}, exploration: 0.2, exploration_mode: uncertainty}")
    rng = random.Random(16)
    selector = StreamingSelector(config, reference_table(rng, 1, 8), draw=DRAW)
    decided = stream(selector, [rng.betavariate(1, 8) for _ in range(10000)], per_day=10000)
    explored = [c.fraud for c, d in decided if d.basis == "exploration"]
    model = [c.fraud for c, d in decided[2000:] if d.basis == "model" and d.lane is Lane.RED]
    assert abs(len(explored) / 10000 - 0.01) < 0.004  # 20% of the 5% budget
    assert sorted(explored)[len(explored) // 2] < min(model) + 0.05  # just below the bar
    assert abs(sum(1 for _, d in decided if d.lane is Lane.RED) / 10000 - 0.05) <= 0.01


def test_streaming_ranks_by_expected_recovery_once_it_has_seen_enough_of_them():
    config = policy("objective: revenue\nstreaming: {window: 500, warmup: 100}")
    rng = random.Random(17)
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    decided = []
    for k in range(3000):
        candidate = Candidate(f"R{k}", PORT, DAY, rng.random(), recovery=rng.expovariate(1 / 200_000), currency="XOF")
        decided.append((candidate, selector.decide(candidate)))
    assert {d.objective for _, d in decided[:100]} == {"hits"}  # before the warm-up: fraud probabilities
    later = decided[500:]
    assert {d.objective for _, d in later} == {"revenue"}
    model = [c for c, d in later if d.basis == "model" and d.lane is Lane.RED]
    others = [c for c, d in later if d.lane is Lane.GREEN]
    assert min(c.recovery for c in model) > sorted(c.recovery for c in others)[int(0.8 * len(others))]
    message = next(d for _, d in later if d.basis == "model" and d.lane is Lane.RED).reason().message("fr")
    assert re.search(r"son recouvrement attendu [\d\u202f]+ XOF dépasse le seuil actuel du bureau SN-DKR-PORT", message), message


def test_streaming_decisions_are_safe_from_several_threads():
    config = policy()
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    results: list[Lane] = []
    lock = threading.Lock()

    def lodge(worker: int) -> None:
        rng = random.Random(worker)
        mine = [selector.decide(Candidate(f"W{worker}-{k}", PORT, DAY, rng.random())).lane for k in range(1500)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=lodge, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (state,) = selector.counters()
    assert state.lodged == 6000 and state.red == results.count(Lane.RED) and state.yellow == results.count(Lane.YELLOW)
    assert abs(state.red / 6000 - 0.05) <= 0.01


def test_streaming_repeats_its_decisions_for_the_same_stream():
    config = policy()
    rng = random.Random(18)
    scores = [rng.random() for _ in range(500)]
    one = stream(StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW), scores)
    two = stream(StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW), scores)
    assert [d for _, d in one] == [d for _, d in two]


@pytest.mark.parametrize("table", [[0.5], [0.2, 0.1], [0.1, float("nan"), 0.3]], ids=["one-point", "decreasing", "nan"])
def test_a_reference_distribution_must_be_increasing_quantiles(table):
    with pytest.raises(ValueError, match="reference scores"):
        StreamingSelector(policy(), table, draw=DRAW)


@pytest.mark.parametrize(
    "fields",
    [
        {"fraud": 1.2},
        {"fraud": float("nan")},
        {"fraud": "0.5"},
        {"fraud": 0.5, "recovery": -1.0},
        {"fraud": 0.5, "recovery": float("inf")},
        {"fraud": 0.5, "forced": "purple"},
    ],
)
def test_a_candidate_with_an_impossible_score_is_refused(fields):
    with pytest.raises(ValueError):
        Candidate("K", PORT, DAY, **fields)


def test_a_candidate_takes_the_models_numpy_scores_and_lane_names():
    numpy = pytest.importorskip("numpy")
    candidate = Candidate("K", PORT, DAY, numpy.float32(0.25), recovery=numpy.float64(1000.0), forced="yellow")
    assert (type(candidate.fraud), candidate.fraud, candidate.forced) == (float, 0.25, Lane.YELLOW)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(0, 1),
            st.sampled_from([None, None, Lane.RED, Lane.YELLOW, Lane.BLUE, Lane.GREEN]),
            st.sampled_from([PORT, AIRPORT]),
            st.integers(0, 9),
        ),
        max_size=150,
    ),
    mode=st.sampled_from(["random", "uncertainty"]),
    objective=st.sampled_from(["hits", "revenue"]),
)
def test_any_stream_respects_profiles_and_keeps_its_counters(rows, mode, objective):
    config = PolicyConfig.model_validate(
        {"objective": objective, "default": {"blue": "0.05", "exploration_mode": mode}, "streaming": {"window": 20, "warmup": 5}}
    )
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    counts: Counter = Counter()
    for k, (fraud, forced, office, day) in enumerate(rows):
        candidate = Candidate(f"H{k}", office, DAY + timedelta(days=day), fraud, recovery=fraud * 1000, forced=forced)
        decision = selector.decide(candidate)
        assert forced is None or decision.lane.severity >= forced.severity
        assert "{" not in decision.reason().message("fr")
        counts[(office, candidate.day, decision.lane)] += 1
    for state in selector.counters():
        assert state.red == counts[(state.office, state.period_start, Lane.RED)]
        assert state.yellow == counts[(state.office, state.period_start, Lane.YELLOW)]
        assert state.lodged == sum(n for (o, d, _), n in counts.items() if (o, d) == (state.office, state.period_start))


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
policy_fields = st.sampled_from(["version", "period", "objective", "default", "offices", "streaming", "colour"])


@settings(max_examples=150, deadline=None)
@given(document=st.dictionaries(policy_fields, yaml_values, max_size=4))
def test_any_policy_document_loads_or_is_refused_naming_its_field(document):
    text = yaml.safe_dump(document)
    try:
        load_yaml_model(PolicyConfig, text=text, where="policy.yaml")
    except DataFileError as exc:
        field = re.split(r"[/:]", exc.detail, maxsplit=1)[0]
        assert field in document or exc.detail.startswith("not valid YAML"), exc.detail


# ----------------------------------------------------------------------------- reasons


def test_every_decision_explains_itself_in_french_and_english():
    config = policy("default: {blue: 0.05, min_random: {red: 0.01, yellow: 0.02}}")
    batch = manifest(300)
    batch[0] = Candidate(batch[0].key, PORT, DAY, 0.1, forced=Lane.RED)
    batch[1] = Candidate(batch[1].key, PORT, DAY, 0.1, forced=Lane.GREEN)
    decisions = select_batch(config, batch, draw=DRAW)
    selector = StreamingSelector(config, [i / 100 for i in range(101)], draw=DRAW)
    decisions += [d for _, d in stream(selector, [c.fraud for c in batch])]
    assert {d.basis for d in decisions} == {"profile", "model", "exploration", "random", "default"}
    assert {d.lane for d in decisions} == set(Lane)
    for decision in decisions:
        reason = decision.reason()
        assert reason.code in catalog("en") and reason.code in catalog("fr")
        for lang in ("fr", "en"):
            text = reason.message(lang)
            assert "{" not in text and "policy." not in text, text
        assert reason.to_record()["text"]["en"] == reason.message("en")
    model = next(d for d in decisions if d.basis == "model" and d.lane is Lane.RED and d.mode == "batch")
    assert re.fullmatch(
        r"Selected for the red lane \(physical examination\): its risk score 0\.\d\d ranks \d+ of 300 at office SN-DKR-PORT, "
        r"within the office's budget of 5% of declarations for this control\.",
        model.reason().message("en"),
    )
    assert model.reason().message("fr").startswith("Orientée vers le circuit rouge (visite physique) : son score de risque 0,")
