"""Selectivity criteria as an analyst writes them: which declarations they send to which lane."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from avance.datafiles import DataFileError
from avance.declarations.model import GoodsDeclaration
from avance.risk.assessor import AssessmentInput, ItemFacts, Lane
from avance.risk.rules import RuleAssessor, load_rules
from tests.support import declaration

ON = date(2026, 6, 1)


def subject(doc: dict, values: list[str]) -> AssessmentInput:
    d = GoodsDeclaration.model_validate(doc)
    items = tuple(ItemFacts(Decimal(v), Decimal(0)) for v in values)
    return AssessmentInput(d, "SN", "XOF", ON, items, Decimal(0), sum((i.customs_value for i in items), Decimal(0)))


def criteria(tmp_path: Path, text: str) -> RuleAssessor:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return RuleAssessor(load_rules(path))


RULES = """
version: 1
name: test
random_selection: {red: 0, yellow: 0}
rules:
  - id: CARS-EU
    description: {fr: "Voitures d'Europe", en: "Cars from Europe"}
    when: {hs_prefix: ["8703"], origin: [FR, BE]}
    lane: yellow
    score: 0.1
  - id: CHEAP-CARS
    description: {fr: "Voitures bon marché", en: "Cheap cars"}
    when: {hs_prefix: ["8703"], value_per_kg_below: 1000}
    lane: red
    score: 0.2
  - id: OLD
    description: {fr: "Expiré", en: "Expired"}
    valid_to: 2025-12-31
    when: {origin: [FR]}
    lane: red
"""


def test_the_strictest_lane_wins_and_scores_add_up_exactly(tmp_path):
    assessor = criteria(tmp_path, RULES)
    # 8,593,037 XOF for 1,250 kg = 6,874 per kg: not cheap -> only CARS-EU
    assert assessor.assess(subject(declaration(), ["8593037"])).lane is Lane.YELLOW
    cheap = assessor.assess(subject(declaration(), ["1000000"]))  # 800 per kg
    assert cheap.lane is Lane.RED
    assert cheap.score == Decimal("0.3")  # 0.1 + 0.2 read as decimals, not 0.30000000000000004
    assert [r.params["rule"] for r in cheap.reasons] == ["CARS-EU", "CHEAP-CARS"]
    assert cheap.reasons[0].message("fr") == "CARS-EU : Voitures d'Europe"


def test_item_conditions_must_hold_on_the_same_item(tmp_path):
    doc = declaration(goods_item_quantity=2, invoice_amount="13000", total_package_quantity=None)
    car = doc["goods_items"][0]
    rice = dict(car, sequence=2, hs_code="1006300000", origin_country="FR", invoice_amount="1000", container_ids=[])
    car["origin_country"] = "JP"
    doc["goods_items"] = [car, rice]
    # a Japanese car and French rice: no item is a car from Europe
    outcome = criteria(tmp_path, RULES).assess(subject(doc, ["8593037", "700000"]))
    assert outcome.lane is Lane.GREEN
    assert outcome.reasons[0].code == "reason.no_hit"


def test_the_random_selection_is_reproducible_and_near_its_rate(tmp_path):
    assessor = criteria(tmp_path, "version: 1\nrandom_selection: {red: 0.05, yellow: 0.10}\nrules: []\n")
    lanes = [assessor.assess(subject(declaration(lrn=f"R-{n}"), ["1"])).lane for n in range(2000)]
    again = [assessor.assess(subject(declaration(lrn=f"R-{n}"), ["1"])).lane for n in range(2000)]
    assert lanes == again
    assert 60 <= lanes.count(Lane.RED) <= 140 and 140 <= lanes.count(Lane.YELLOW) <= 260


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{id: X, description: {fr: a, en: b}, when: {}}]", "a rule needs at least one condition"),
        ("rules: [{id: X, description: {fr: a}, when: {origin: [FR]}}]", "rules/0/description/en"),
        ("rules: [{id: X, description: {fr: a, en: b}, when: {origin: [FR]}, lane: purple}]", "rules/0/lane"),
        ("rules: [{id: X, description: {fr: a, en: b}, when: {origin: [FR]}, score: 1.5}]", "rules/0/score"),
        ("rules: [{id: X, description: {fr: a, en: b}, valid_from: 2026-02-30, when: {origin: [FR]}}]", "is not a valid date"),
        ("rules: [", "not valid YAML"),
    ],
)
def test_a_broken_criteria_file_names_the_field(tmp_path, text, expected):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_rules(path)
    assert expected in str(caught.value) and str(path) in str(caught.value)


def test_the_shipped_criteria_load():
    assert load_rules().rules
